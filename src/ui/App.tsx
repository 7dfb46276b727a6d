// First page: the engine in a worker, the backend it chose (and why not WebGPU), and one recovery on the
// probe example. The full playground replaces this view.
import { useEffect, useRef, useState } from 'react';
import { EngineClient } from '../engine/client.ts';
import type { BackendInfo, DefenceInfo, ScenarioInfo } from '../engine/protocol.ts';
import type { HistoryEntry, RecoveryResult } from '../core/metrics.ts';

export function App() {
  const engine = useRef<EngineClient | null>(null);
  const [backend, setBackend] = useState<BackendInfo | null>(null);
  const [scenario, setScenario] = useState<ScenarioInfo | null>(null);
  const [defence, setDefence] = useState<DefenceInfo | null>(null);
  const [last, setLast] = useState<HistoryEntry | null>(null);
  const [result, setResult] = useState<RecoveryResult | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const client = new EngineClient();
    engine.current = client;
    const off = client.on((e) => {
      if (e.type === 'metrics') setLast(e.entry);
      if (e.type === 'done') setResult(e.result);
    });
    (async () => {
      setBackend(await client.request({ type: 'init' }));
      const info = await client.request({ type: 'loadScenario', scenario: { kind: 'probe-example' } });
      setScenario(info);
      setDefence(await client.request({ type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp }));
    })().catch((e: Error) => setError(e.message));
    return () => {
      off();
      client.terminate();
    };
  }, []);

  const run = async () => {
    setResult(null);
    try {
      await engine.current!.request({ type: 'start', config: { options: { steps: 60 }, positions: 'all', metricsEvery: 10, stepDelayMs: 0 } });
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <main>
      <h1>Unclamp</h1>
      <p data-testid="backend">
        Backend: <strong data-testid="backend-name">{backend?.name ?? '…'}</strong>
        {backend?.adapter && <> ({backend.adapter})</>}
      </p>
      {backend && backend.reasons.length > 0 && <p data-testid="backend-reason">Not WebGPU because: {backend.reasons[0]}</p>}
      {scenario && <p data-testid="scenario">{scenario.title}: {scenario.n} samples, SAE {scenario.sae.architecture} with {scenario.dSae} features</p>}
      {defence && <p data-testid="defence">Clamp alone flips {defence.validFlips} of {scenario?.n} samples.</p>}
      <button type="button" onClick={run} disabled={!defence}>Run recovery</button>
      {last && <p data-testid="progress">step {last.step}: recovery rate {last.recoveryRate === null ? '—' : (100 * last.recoveryRate).toFixed(1) + '%'}</p>}
      {result && (
        <p data-testid="result">
          Recovered {result.aggregate.recovered} of {result.aggregate.validFlips} valid flips; mean ‖δ‖ {result.aggregate.meanDeltaNorm?.toFixed(3)}
        </p>
      )}
      {error && <p role="alert">{error}</p>}
    </main>
  );
}
