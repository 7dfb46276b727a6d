// The attack's settings and the play / pause / step / reset controls (all from the action registry). Each
// field shows the value the run will use: the scenario's, or the user's change, which is marked with the
// scenario's value beside it.
import type { ReactNode } from 'react';
import { useStore } from '../store.ts';
import { ActionButton } from './ActionButton.tsx';
import { NumberInput } from './NumberInput.tsx';
import { runSettings, type RunSettings } from '../config.ts';
import { changedSettings, DEFAULT_KAPPA, RUN_SETTING_TEXT, SCENARIOS } from '../../scenarios/catalog.ts';
import { formatBytes, formatNumber } from '../../core/format.ts';
import { RUN_BOUNDS } from '../../core/options.ts';
import { rhoForKappa } from '../../core/budget.ts';

const show = (v: unknown) => (v === null ? 'off' : typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v));

/** A labelled control; when its value differs from the scenario's, it says so and what the scenario's is. */
function Field({
  name,
  label,
  help,
  changed,
  scenarioValue,
  className,
  children,
}: {
  name: keyof RunSettings;
  label: string;
  help?: string;
  changed: boolean;
  scenarioValue: unknown;
  className?: string;
  children: ReactNode;
}) {
  return (
    // biome-ignore lint/a11y/noLabelWithoutControl: the control is passed in as children
    <label className={`field ${className ?? ''} ${changed ? 'field-changed' : ''}`} title={help} data-setting={name} data-changed={changed}>
      <span>
        {label}
        {changed && <small className="scenario-value"> (scenario: {show(scenarioValue)})</small>}
      </span>
      {children}
    </label>
  );
}

export function RunControls() {
  const config = useStore((s) => s.config);
  const setRun = useStore((s) => s.setRun);
  const setConfig = useStore((s) => s.setConfig);
  // The status changes at a run's start and end only; the step, every step, is RunStatus's alone.
  const status = useStore((s) => s.status);
  const run = runSettings(config);
  const defaults = SCENARIOS[config.scenario].defaults.run;
  const changed = new Set(changedSettings(config.scenario, config.run));
  const locked = status === 'running';
  const set =
    <K extends keyof RunSettings>(k: K) =>
    (v: RunSettings[K]) =>
      setRun({ [k]: v } as Partial<RunSettings>);
  // Labels and help are the catalog's (RUN_SETTING_TEXT), bounds the engine's (RUN_BOUNDS): what a link and the CLI accept.
  const field = (name: keyof RunSettings, children: ReactNode, help?: string, className?: string) => (
    <Field
      name={name}
      label={RUN_SETTING_TEXT[name].label}
      help={help}
      changed={changed.has(name)}
      scenarioValue={defaults[name]}
      className={className}
    >
      {children}
    </Field>
  );
  const num = (name: 'steps' | 'lr' | 'lambdaAct' | 'seed', help?: string) => {
    const { min, max, integer } = RUN_BOUNDS[name];
    const { label } = RUN_SETTING_TEXT[name];
    return field(
      name,
      <NumberInput label={label} value={run[name]} min={min} max={max} integer={integer} onChange={set(name)} />,
      help,
      'narrow',
    );
  };
  return (
    <section className="panel" aria-labelledby="attack-heading" data-tour="attack">
      <h2 id="attack-heading">Attack: recover the behaviour under the clamp</h2>
      <fieldset className="row" disabled={locked}>
        <legend className="sr-only">Optimiser settings</legend>
        {field(
          'mode',
          <select value={run.mode} onChange={(e) => set('mode')(e.target.value as RunSettings['mode'])} data-testid="mode-select">
            <option value="none">none (plain Adam)</option>
            <option value="encoder">encoder (off W_enc[:, S])</option>
            <option value="jacobian">jacobian (off ∂z_S/∂δ)</option>
          </select>,
        )}
        {field(
          'optimizer',
          <select
            value={run.optimizer}
            onChange={(e) => set('optimizer')(e.target.value as RunSettings['optimizer'])}
            data-testid="optimizer-select"
          >
            <option value="adam">Adam (the paper's)</option>
            <option value="pgd">L2 projected gradient</option>
          </select>,
        )}
        {field(
          'delta',
          <select value={run.delta} onChange={(e) => set('delta')(e.target.value as RunSettings['delta'])}>
            <option value="per-sample">per sample</option>
            <option value="shared">shared by the batch</option>
          </select>,
        )}
        {field(
          'positions',
          <select value={run.positions} onChange={(e) => set('positions')(e.target.value as RunSettings['positions'])}>
            <option value="default">scenario default</option>
            <option value="all">every token</option>
            <option value="last">last token</option>
          </select>,
        )}
        {num('steps')}
        {num('lr')}
        <BudgetField run={run} changed={changed.has('budgetRel') || changed.has('budget')} scenarioRun={defaults} onChange={setRun} />
        {num('lambdaAct', RUN_SETTING_TEXT.lambdaAct.help)}
        {num('seed')}
        {field(
          'reproject',
          <input type="checkbox" checked={run.reproject} onChange={(e) => set('reproject')(e.target.checked)} />,
          undefined,
          'checkbox',
        )}
      </fieldset>
      <p className="muted small" data-testid="settings-source">
        {changed.size === 0 ? (
          <>
            Every setting is the {SCENARIOS[config.scenario].title} scenario's own (what <code>unclamp run</code> uses).
          </>
        ) : (
          `${changed.size} setting${changed.size > 1 ? 's' : ''} changed from the scenario's.`
        )}{' '}
        {changed.size > 0 && <ActionButton id="scenario-settings" label="Use the scenario's settings" small />}
      </p>
      <div className="row controls">
        <ActionButton id="toggle-play" label={status === 'running' ? 'Pause' : status === 'paused' ? 'Resume' : 'Run'} primary />
        <ActionButton id="step" label="Step" />
        <ActionButton id="reset" label="Reset" />
        <label className="field narrow">
          <span>Speed</span>
          <select value={config.stepDelayMs} onChange={(e) => setConfig({ stepDelayMs: Number(e.target.value) })} aria-label="Speed">
            <option value={0}>fastest</option>
            <option value={20}>fast</option>
            <option value={100}>slow</option>
            <option value={400}>very slow</option>
          </select>
        </label>
        <RunStatus />
        <EngineMemoryReadout />
      </div>
    </section>
  );
}

/**
 * The budget: relative (κ, a share of the residual's norm at the δ positions; the absolute ρ it means is shown
 * beside it) or absolute (ρ).
 */
function BudgetField({
  run,
  changed,
  scenarioRun,
  onChange,
}: {
  run: RunSettings;
  changed: boolean;
  scenarioRun: RunSettings;
  onChange: (patch: Partial<RunSettings>) => void;
}) {
  const defence = useStore((s) => s.defence);
  const relative = run.budgetRel !== null;
  // The function the run itself uses on what the engine measured (DefenceInfo), so the ρ shown is the ρ run.
  const rho = relative && defence ? rhoForKappa(run.budgetRel!, defence) : null;
  const scenarioText = scenarioRun.budgetRel !== null ? `κ ${scenarioRun.budgetRel}` : `ρ ${scenarioRun.budget}`;
  return (
    <div className={`field budget ${changed ? 'field-changed' : ''}`} data-setting="budget" data-changed={changed}>
      <span>Budget {changed && <small className="scenario-value"> (scenario: {scenarioText})</small>}</span>
      <div className="row tight">
        <select
          aria-label="Budget kind"
          value={relative ? 'relative' : 'absolute'}
          onChange={(e) =>
            onChange(
              e.target.value === 'relative'
                ? { budgetRel: scenarioRun.budgetRel ?? DEFAULT_KAPPA, budget: undefined }
                : { budgetRel: null, budget: run.budget },
            )
          }
        >
          <option value="relative">κ (share of ‖h‖)</option>
          <option value="absolute">ρ (absolute)</option>
        </select>
        {relative ? (
          <NumberInput
            label={RUN_SETTING_TEXT.budgetRel.label}
            value={run.budgetRel!}
            min={RUN_BOUNDS.budgetRel.min}
            max={RUN_BOUNDS.budgetRel.max}
            onChange={(v) => onChange({ budgetRel: v, budget: undefined })}
          />
        ) : (
          <NumberInput
            label={RUN_SETTING_TEXT.budget.label}
            value={run.budget}
            min={RUN_BOUNDS.budget.min}
            max={RUN_BOUNDS.budget.max}
            onChange={(v) => onChange({ budget: v, budgetRel: null })}
          />
        )}
      </div>
      {relative && (
        <small className="muted" data-testid="budget-rho">
          ρ = {rho === null ? '…' : formatNumber(rho)}
        </small>
      )}
    </div>
  );
}

/** The run's status and step: subscribed on its own, so a step redraws this line, not the whole panel. */
function RunStatus() {
  const status = useStore((s) => s.status);
  const step = useStore((s) => s.step);
  const total = useStore((s) => s.totalSteps);
  return (
    <span className="progress" data-testid="run-status" aria-live="polite">
      {status} · step {step}
      {total ? ` / ${total}` : ''}
    </span>
  );
}

/** Tensors and bytes the engine holds: flat over a long run, or something leaks. */
function EngineMemoryReadout() {
  const memory = useStore((s) => s.memory);
  if (!memory) return null;
  return (
    <span
      className="progress muted"
      data-testid="engine-memory"
      data-tensors={memory.numTensors}
      data-bytes={memory.numBytes}
      title="What TensorFlow.js holds in the engine worker (and its JS heap, where the browser tells)"
    >
      {memory.numTensors} tensors · {formatBytes(memory.numBytes)}
      {memory.heapBytes !== null && ` · heap ${formatBytes(memory.heapBytes)}`}
    </span>
  );
}
