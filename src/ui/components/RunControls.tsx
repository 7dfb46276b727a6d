// The attack's settings and the play / pause / step / reset controls (all from the action registry).
import { useStore } from '../store.ts';
import { ActionButton } from './ActionButton.tsx';
import type { RunSettings } from '../config.ts';

function NumberField({ label, value, min, max, step, onChange, help }: { label: string; value: number; min: number; max: number; step?: number; onChange: (v: number) => void; help?: string }) {
  return (
    <label className="field narrow" title={help}>
      <span>{label}</span>
      <input
        type="number"
        value={value}
        min={min}
        max={max}
        step={step ?? 'any'}
        onChange={(e) => {
          const v = e.target.valueAsNumber;
          if (Number.isFinite(v) && v >= min && v <= max) onChange(v);
        }}
      />
    </label>
  );
}

export function RunControls() {
  const run = useStore((s) => s.config.run);
  const delay = useStore((s) => s.config.stepDelayMs);
  const setRun = useStore((s) => s.setRun);
  const setConfig = useStore((s) => s.setConfig);
  const status = useStore((s) => s.status);
  const step = useStore((s) => s.step);
  const total = useStore((s) => s.totalSteps);
  const locked = status === 'running';
  const set = <K extends keyof RunSettings>(k: K) => (v: RunSettings[K]) => setRun({ [k]: v } as Partial<RunSettings>);
  return (
    <section className="panel" aria-labelledby="attack-heading" data-tour="attack">
      <h2 id="attack-heading">Attack: recover the behaviour under the clamp</h2>
      <fieldset className="row" disabled={locked}>
        <legend className="sr-only">Optimiser settings</legend>
        <label className="field">
          <span>Projection mode</span>
          <select value={run.mode} onChange={(e) => set('mode')(e.target.value as RunSettings['mode'])} data-testid="mode-select">
            <option value="none">none (plain Adam)</option>
            <option value="encoder">encoder (off W_enc[:, S])</option>
            <option value="jacobian">jacobian (off ∂z_S/∂δ)</option>
          </select>
        </label>
        <label className="field">
          <span>δ</span>
          <select value={run.delta} onChange={(e) => set('delta')(e.target.value as RunSettings['delta'])}>
            <option value="per-sample">per sample</option>
            <option value="shared">shared by the batch</option>
          </select>
        </label>
        <label className="field">
          <span>Positions</span>
          <select value={run.positions} onChange={(e) => set('positions')(e.target.value as RunSettings['positions'])}>
            <option value="default">scenario default</option>
            <option value="all">every token</option>
            <option value="last">last token</option>
          </select>
        </label>
        <NumberField label="Steps" value={run.steps} min={1} max={5000} step={1} onChange={set('steps')} />
        <NumberField label="Learning rate" value={run.lr} min={1e-6} max={10} onChange={set('lr')} />
        <NumberField label="Budget ρ" value={run.budget} min={1e-6} max={1000} onChange={set('budget')} help="‖δ‖ ≤ ρ per sample (or for the shared δ)" />
        <NumberField label="λ_act" value={run.lambdaAct} min={0} max={1e6} onChange={set('lambdaAct')} help="weight of the relative drift penalty" />
        <NumberField label="Seed" value={run.seed} min={0} max={2 ** 32 - 1} step={1} onChange={set('seed')} />
        <label className="field checkbox">
          <input type="checkbox" checked={run.reproject} onChange={(e) => set('reproject')(e.target.checked)} />
          <span>re-project δ (encoder)</span>
        </label>
      </fieldset>
      <div className="row controls">
        <ActionButton id="toggle-play" label={status === 'running' ? 'Pause' : status === 'paused' ? 'Resume' : 'Run'} primary />
        <ActionButton id="step" label="Step" />
        <ActionButton id="reset" label="Reset" />
        <label className="field narrow">
          <span>Speed</span>
          <select value={delay} onChange={(e) => setConfig({ stepDelayMs: Number(e.target.value) })} aria-label="Speed">
            <option value={0}>fastest</option>
            <option value={20}>fast</option>
            <option value={100}>slow</option>
            <option value={400}>very slow</option>
          </select>
        </label>
        <span className="progress" data-testid="run-status" aria-live="polite">
          {status} · step {step}
          {total ? ` / ${total}` : ''}
        </span>
      </div>
    </section>
  );
}
