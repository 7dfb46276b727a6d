// A run on a loaded scenario, the same on Node (CLI, report) and in the worker: the defence (a recovery
// site), the optimiser options from the scenario's table with the user's changes on top, the result's
// config block, and one whole run end to end with the scenario's extras and an optional path replay.
import { tf, type Tensor3D } from '../core/tf.ts';
import { RecoverySite } from '../core/site.ts';
import { RecoveryRun, type RunControl } from '../core/recovery.ts';
import { resolveOptions, type RecoveryOptions } from '../core/options.ts';
import { linearFeasibility, recoveryPathReplay, type FeasibilityReport, type ReplayReport } from '../core/analyses.ts';
import { describeClamp, type ClampRule } from '../core/clamp.ts';
import { clampedState } from '../core/defence.ts';
import { defenceKey, describeDefence, PAPER_DEFENCE, type DefenceChoice } from '../core/defence-kinds.ts';
import { buildSiteDefence } from './defences.ts';
import type { RecoveryResult } from '../core/metrics.ts';
import { effectiveRun, type DeltaPositions, type RunSettings, type ScenarioId } from './catalog.ts';
import type { LoadedScenario } from './loaded.ts';

/** The defence: which features, which clamp, where δ goes, and which defence acts (the paper's clamp when omitted). */
export interface Defence {
  features: number[];
  clamp: ClampRule;
  positions: DeltaPositions;
  choice?: DefenceChoice;
}

/** The scenario's own defence: its default features and clamp, δ at its default positions. */
export const defaultDefence = (sc: LoadedScenario): Defence => ({
  features: sc.defaults.features,
  clamp: sc.defaults.clamp,
  positions: 'default',
});

/** `hookOnward: false` computes B on the whole residual every step (for checks and benchmarks of the onward path). */
export async function createSite(sc: LoadedScenario, defence: Defence, opts: { hookOnward?: boolean } = {}): Promise<RecoverySite> {
  const choice = defence.choice;
  const built =
    choice && defenceKey(choice) !== defenceKey(PAPER_DEFENCE)
      ? await buildSiteDefence(sc.defenceKit, sc.sae, choice, defence.features, defence.clamp, sc.mask)
      : null;
  try {
    return await RecoverySite.create({
      sae: sc.sae,
      features: defence.features,
      clamp: defence.clamp,
      h: sc.h,
      positions: sc.positions[defence.positions],
      behaviour: sc.behaviour,
      unshared: defence.positions === 'default' ? sc.sharedDeltaProblem : undefined,
      hookOnward: opts.hookOnward,
      defence: built ? { ...built.site } : undefined,
    });
  } catch (e) {
    built?.site.release?.();
    throw e;
  }
}

/** The defence a site applies at the hook to a clean residual (no δ), for the scenario's extras. */
export function siteAtHook(site: RecoverySite): (h: Tensor3D) => Tensor3D {
  return (h) => site.defence.apply(h, clampedState(site.set, site.spec.clamp, h), null) as Tensor3D;
}

/**
 * The optimiser options of a run: the scenario's table, the user's changed settings on top, and the
 * method's technical knobs (ridge, λ_dec, Adam, Jacobian sketch) where given. Validated.
 */
export function runOptions(id: ScenarioId, changed: Partial<RunSettings> = {}, advanced: Partial<RecoveryOptions> = {}): RecoveryOptions {
  const { positions: _positions, ...settings } = effectiveRun(id, changed);
  return resolveOptions({ ...advanced, ...settings });
}

/** What a result records about its scenario and defence, beside the optimiser options (one shape for CLI and page). */
export function resultConfig(sc: LoadedScenario, defence: Defence, featuresGiven: boolean): Record<string, unknown> {
  return {
    scenario: sc.id,
    scenarioTitle: sc.title,
    model: sc.modelName,
    sae: sc.saeInfo.name,
    hook: sc.saeInfo.hookName,
    featureRule: featuresGiven ? 'given' : `top-${defence.features.length} ${sc.featureRule}`,
    clamp: { ...defence.clamp, description: describeClamp(defence.clamp) },
    ...(defence.choice &&
      defenceKey(defence.choice) !== 'clamp' && { defence: { ids: defence.choice.ids, description: describeDefence(defence.choice) } }),
    positions: defence.positions,
    params: sc.params,
    sources: sc.sources,
    saeNotes: sc.saeInfo.notes,
    ...(sc.saeCheck ? { saeCheck: sc.saeCheck } : {}),
    backend: tf.getBackend(),
  };
}

export interface ScenarioRunRequest {
  /** The defended set; the scenario's default (its top K) when omitted. */
  features?: number[];
  clamp?: ClampRule;
  /** The defence (the paper's clamp when omitted). */
  defence?: DefenceChoice;
  /** Run settings the user changed; the rest are the scenario's. */
  settings?: Partial<RunSettings>;
  advanced?: Partial<RecoveryOptions>;
  /** Also replay the recovery path (top-k for the "top-k non-clamped" part). */
  replayTopK?: number;
  /** For a scenario whose B is affine in δ: also count the feasible valid flips (modes none / encoder, δ per sample). */
  feasibility?: boolean;
  /** Also compute the scenario's extras (default true); a caller that does not read them saves their forwards. */
  extras?: boolean;
  /**
   * A site createSite made for this request's defence, for a caller that runs one defence several times (the
   * site's baseline forwards and caches are then made once); the caller disposes it.
   */
  site?: RecoverySite;
}

export interface ScenarioRunOutput {
  result: RecoveryResult;
  replay: ReplayReport[] | null;
  feasibility: FeasibilityReport | null;
  extras: Record<string, number | string | null>;
  /** The reported δ, [N|1, P, d] flattened, and its shape. */
  delta: Float32Array;
  deltaShape: [number, number, number];
}

/** One run end to end: defence, recovery (through the one run loop), result, extras, replay. */
export async function runScenario(sc: LoadedScenario, req: ScenarioRunRequest = {}, control: RunControl = {}): Promise<ScenarioRunOutput> {
  const defence: Defence = {
    features: req.features ?? sc.defaults.features,
    clamp: req.clamp ?? sc.defaults.clamp,
    positions: effectiveRun(sc.id, req.settings).positions,
    choice: req.defence,
  };
  const options = runOptions(sc.id, req.settings, req.advanced);
  if (req.site && !siteServes(req.site, sc, defence)) throw new Error("the given site was made for another defence than the request's");
  const site = req.site ?? (await createSite(sc, defence));
  try {
    const run = await RecoveryRun.create(site, options);
    try {
      await run.run({ metricsEvery: Math.max(1, Math.round(options.steps / 20)), ...control });
      const result = await run.result(resultConfig(sc, defence, req.features !== undefined));
      const delta = await run.deltaValues();
      const deltaShape = run.deltaShape;
      const full = tf.tidy(() => tf.broadcastTo(tf.tensor3d(delta, deltaShape), [site.n, site.p, site.d]) as Tensor3D);
      try {
        const replay = req.replayTopK ? await recoveryPathReplay(site, full, req.replayTopK) : null;
        const closedForm = req.feasibility && options.delta === 'per-sample' && options.mode !== 'jacobian';
        const feasibility = closedForm
          ? await linearFeasibility(site, options.mode as 'none' | 'encoder', run.options.budget, options.ridge)
          : null;
        const extras =
          sc.extras && req.extras !== false
            ? await sc.extras({ features: defence.features, clamp: defence.clamp, atHook: siteAtHook(site), delta: full })
            : {};
        return { result, replay, feasibility, extras, delta, deltaShape };
      } finally {
        full.dispose();
      }
    } finally {
      run.dispose();
    }
  } finally {
    if (!req.site) site.dispose();
  }
}

/** A reused site must be the one createSite would make, or the run would attack another defence than it reports. */
function siteServes(site: RecoverySite, sc: LoadedScenario, defence: Defence): boolean {
  const { spec } = site;
  return (
    spec.sae === sc.sae &&
    spec.h === sc.h &&
    spec.behaviour === sc.behaviour &&
    spec.positions === sc.positions[defence.positions] &&
    tf.util.arraysEqual([...spec.features], [...defence.features]) &&
    JSON.stringify(spec.clamp) === JSON.stringify(defence.clamp) &&
    (spec.defence?.id ?? 'clamp') === defenceKey(defence.choice ?? PAPER_DEFENCE)
  );
}
