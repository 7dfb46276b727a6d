// One scenario run end to end, the same on Node (CLI, report) and in the worker: load the built-in model and
// an SAE, build the scenario, apply the defence, run the recovery, and collect the result with the
// scenario's extras. Returns everything a report or the UI shows.
import { tf, type Tensor3D } from '../core/tf.ts';
import { RecoverySite } from '../core/site.ts';
import { RecoveryRun, resolveOptions, type RecoveryOptions } from '../core/recovery.ts';
import { recoveryPathReplay, type ReplayReport } from '../core/analyses.ts';
import { describeClamp, type ClampRule } from '../core/intervention.ts';
import type { RecoveryResult } from '../core/metrics.ts';
import { loadBuiltinModel, loadBuiltinSae, type BuiltinModel, type ReadAsset, type SaeIndexEntry } from './builtin/assets.ts';
import { SCENARIOS, type BuiltScenario, type ScenarioId, type ScenarioParams } from './builtin/index.ts';
import type { LoadedSae } from '../io/saelens.ts';

export interface ScenarioRunRequest {
  scenario: ScenarioId;
  model?: string;
  sae?: string;
  params?: ScenarioParams;
  /** Override the scenario's default defended set / clamp. */
  features?: number[];
  clamp?: ClampRule;
  options?: Partial<RecoveryOptions>;
  /** Also replay the recovery path (top-k for the "top-k non-clamped" part). */
  replayTopK?: number;
}

export interface ScenarioRunOutput {
  result: RecoveryResult;
  replay: ReplayReport[] | null;
  extras: Record<string, number | string | null>;
  scenario: BuiltScenario;
  delta: Float32Array;
  deltaShape: [number, number, number];
}

/** A loaded model + SAE that several runs can share (the report runs dozens). */
export interface Workbench {
  builtin: BuiltinModel;
  sae: { entry: SaeIndexEntry; loaded: LoadedSae };
  scenarios: Map<string, BuiltScenario>;
  dispose(): void;
}

export async function openWorkbench(read: ReadAsset, model?: string, sae?: string): Promise<Workbench> {
  const builtin = await loadBuiltinModel(read, model);
  const s = await loadBuiltinSae(read, builtin.entry, sae);
  const scenarios = new Map<string, BuiltScenario>();
  return {
    builtin,
    sae: s,
    scenarios,
    dispose: () => {
      for (const sc of scenarios.values()) sc.dispose();
      s.loaded.sae.dispose();
      builtin.model.dispose();
    },
  };
}

export async function scenarioFor(wb: Workbench, id: ScenarioId, params: ScenarioParams = {}): Promise<BuiltScenario> {
  const key = `${id}:${JSON.stringify(params)}`;
  let sc = wb.scenarios.get(key);
  if (!sc) {
    sc = await SCENARIOS[id].build({ model: wb.builtin.model, tokenizer: wb.builtin.tokenizer, sae: wb.sae.loaded.sae, hook: wb.sae.entry.hook }, params);
    wb.scenarios.set(key, sc);
  }
  return sc;
}

export async function runScenario(wb: Workbench, req: ScenarioRunRequest, onStep?: (step: number, total: number) => void): Promise<ScenarioRunOutput> {
  const scenario = await scenarioFor(wb, req.scenario, req.params);
  const features = req.features ?? scenario.features;
  const clamp = req.clamp ?? scenario.clamp;
  const options = resolveOptions({ ...scenario.options, ...req.options });
  const site = await RecoverySite.create({ sae: wb.sae.loaded.sae, features, clamp, h: scenario.h, positions: scenario.positions, behaviour: scenario.behaviour });
  try {
    const run = await RecoveryRun.create(site, options);
    try {
      await run.run({ metricsEvery: Math.max(1, Math.round(options.steps / 20)), onMetrics: (e) => onStep?.(e.step, options.steps) });
      const result = await run.result({
        scenario: req.scenario,
        scenarioTitle: scenario.title,
        model: wb.builtin.entry.name,
        sae: wb.sae.entry.name,
        hook: scenario.hook,
        featureRule: req.features ? 'given' : scenario.featureRule,
        clamp: { ...clamp, description: describeClamp(clamp) },
        params: req.params ?? {},
        backend: tf.getBackend(),
      });
      const delta = await run.deltaValues();
      const deltaShape = run.deltaShape;
      const full = tf.tidy(() => tf.broadcastTo(tf.tensor3d(delta, deltaShape), [site.n, site.p, site.d]) as Tensor3D);
      const replay = req.replayTopK ? await recoveryPathReplay(site, full, req.replayTopK) : null;
      const extras = scenario.extras ? await scenario.extras({ features, clamp, delta: full }) : {};
      full.dispose();
      return { result, replay, extras, scenario, delta, deltaShape };
    } finally {
      run.dispose();
    }
  } finally {
    site.dispose();
  }
}
