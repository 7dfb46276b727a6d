// The benchmark page (?level=a|b|c&backend=webgpu|webgl|wasm|cpu&steps=…), a build of its own (index.html and
// vite.config.ts here), so the shipped app carries none of it: one bench worker (bench.worker.ts) running one level
// on exactly that backend, its progress and a results table. bench/browser.bench.ts drives it and reads the outcome
// from <pre data-testid="bench-json">.
import { useEffect, useState } from 'react';
import type { BenchMessage, BenchOutcome, BenchRequest } from './protocol.ts';
import type { BenchLevel } from '../record.ts';
import type { BackendName } from '../../src/engine/protocol.ts';
import { BACKEND_ORDER_NAMES } from '../../src/ui/backends.ts';

/** The request in the page's query; null (with why) when it names no level or backend the worker has. */
export function benchRequestFromSearch(search: string): BenchRequest | string {
  const q = new URLSearchParams(search);
  const level = q.get('level') ?? 'a';
  const backend = q.get('backend') ?? 'wasm';
  if (!['a', 'b', 'c'].includes(level)) return `unknown level "${level}" (a, b or c)`;
  if (!BACKEND_ORDER_NAMES.includes(backend as BackendName)) return `unknown backend "${backend}" (${BACKEND_ORDER_NAMES.join(', ')})`;
  const params = Object.fromEntries([...q].filter(([k]) => !['level', 'backend'].includes(k)));
  return { level: level as BenchLevel, backend: backend as BackendName, params };
}

export function BenchPage() {
  const [outcome, setOutcome] = useState<BenchOutcome>({
    status: 'running',
    request: null,
    env: null,
    records: [],
    error: null,
    progress: [],
  });
  useEffect(() => {
    const request = benchRequestFromSearch(location.search);
    if (typeof request === 'string') {
      setOutcome((o) => ({ ...o, status: 'error', error: request }));
      return;
    }
    setOutcome((o) => ({ ...o, request }));
    const worker = new Worker(new URL('./bench.worker.ts', import.meta.url), { type: 'module', name: 'unclamp-bench' });
    worker.addEventListener('message', (ev: MessageEvent<BenchMessage>) => {
      const m = ev.data;
      setOutcome((o) => {
        if (m.kind === 'ready') return { ...o, env: m.env };
        if (m.kind === 'progress') return { ...o, progress: [...o.progress, m.message] };
        if (m.kind === 'record') return { ...o, records: [...o.records, m.record] };
        if (m.kind === 'done') return { ...o, status: 'done' };
        return { ...o, status: 'error', error: m.message };
      });
    });
    // A crash (the wasm module aborting, the renderer reclaiming memory) ends the worker without a message.
    worker.addEventListener('error', (ev) =>
      setOutcome((o) => ({ ...o, status: 'error', error: `the bench worker crashed: ${ev.message || 'no message'}` })),
    );
    worker.postMessage(request);
    return () => worker.terminate();
  }, []);
  useEffect(() => {
    (window as Window & { __bench?: BenchOutcome }).__bench = outcome;
  }, [outcome]);
  const { request, env, records } = outcome;
  return (
    <main className="layout-single">
      <section className="panel" aria-labelledby="bench-heading">
        <h1 id="bench-heading">Benchmark</h1>
        <p className="muted">
          {request ? `Level ${request.level} on ${request.backend}` : 'No request'}
          {env && `: ${env.backend.name}${env.backend.adapter ? ` (${env.backend.adapter})` : ''}, ${env.hardwareConcurrency} cores`}
          {env && !env.crossOriginIsolated && ', not cross-origin isolated'}.
        </p>
        <p data-testid="bench-status" data-status={outcome.status} role="status">
          {outcome.status === 'running' ? (outcome.progress.at(-1) ?? 'starting…') : outcome.status}
        </p>
        {outcome.error && (
          <p className="error-text" role="alert">
            {outcome.error}
          </p>
        )}
        <table className="bench-table" data-testid="bench-table">
          <thead>
            <tr>
              <th scope="col">case</th>
              <th scope="col">implementation</th>
              <th scope="col">backend</th>
              <th scope="col">mode</th>
              <th scope="col">ms/step</th>
              <th scope="col">steps/s</th>
              <th scope="col">peak MB</th>
            </tr>
          </thead>
          <tbody>
            {records.map((r) => (
              <tr key={`${r.case}|${r.impl}|${r.mode}`}>
                <td>{r.case}</td>
                <td>{r.impl}</td>
                <td>{r.backend}</td>
                <td>{r.mode}</td>
                <td>{r.failed ? `failed: ${r.failed}` : r.msPerStep.toFixed(r.msPerStep < 10 ? 2 : 0)}</td>
                <td>{r.failed ? '—' : r.stepsPerSec.toFixed(2)}</td>
                <td>{r.peakMB || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <details>
          <summary>Progress</summary>
          <ol>
            {outcome.progress.map((m, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: an append-only log
              <li key={i}>{m}</li>
            ))}
          </ol>
        </details>
        <pre data-testid="bench-json" hidden>
          {outcome.status === 'running' ? '' : JSON.stringify(outcome)}
        </pre>
      </section>
    </main>
  );
}
