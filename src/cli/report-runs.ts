// The runs behind docs/results.md, for one scenario: every table's runs repeated over several seeds (data and
// optimiser), kept per seed and per sample so the renderer can pool them and bootstrap intervals. Everything
// goes through the one loader and run (scenarios/load.ts, scenarios/run.ts).
import { mixSeed, mulberry32 } from '../core/rng.ts';
import type { SampleMetrics } from '../core/metrics.ts';
import type { ReplayPart } from '../core/analyses.ts';
import { describeClamp } from '../core/clamp.ts';
import type { ModelIndexEntry } from '../scenarios/builtin/assets.ts';
import { effectiveRun, SCENARIOS, type BuiltinScenarioId, type RunSettings } from '../scenarios/catalog.ts';
import { loadScenario, topFeatures, type LoadedScenario } from '../scenarios/load.ts';
import { runScenario, type ScenarioRunOutput, type ScenarioRunRequest } from '../scenarios/run.ts';
import { refusalStage2, type Stage2Result } from '../scenarios/builtin/refusal.ts';
import { readPublic } from './fs.ts';

export const MODES = ['none', 'encoder', 'jacobian'] as const;
export const KAPPAS = [0.05, 0.1, 0.2, 0.3, 0.5] as const;
export const OPTIMIZERS = ['adam', 'pgd'] as const;
/** The SAE of the TopK extension and of the ladder's middle rung. */
const TOPK_SAE = 'ladder-mid';

/** One run at one seed, per sample (compact columns), as the renderer needs it. */
export interface SeedRun {
  seed: number;
  /** The absolute budget ρ the run used. */
  rho: number;
  valid: boolean[];
  success: boolean[];
  absDrift: number[];
  relDrift: (number | null)[];
  eligible: number[];
  reactivated: number[];
  activeRecovered: number[];
  deltaOverResidual: number[];
  /** Valid flips some δ within the budget recovers (linear readouts, modes none / encoder). */
  feasible: boolean[] | null;
}

export interface LadderSeed {
  seed: number;
  /** The defended-set size on every rung (the same K on all, so the rungs compare like with like). */
  k: number;
  /** Per rung: which samples the clamp flips, and per replayed part which samples then have B > 0. */
  rungs: { valid: boolean[]; parts: { part: ReplayPart; positive: boolean[] }[] }[];
}

export interface ScenarioData {
  id: BuiltinScenarioId;
  title: string;
  behaviour: string;
  featureRule: string;
  clamp: string;
  settings: RunSettings;
  sae: { id: string; name: string; architecture: string };
  k: number;
  shared: boolean;
  linear: boolean;
  dModel: number;
  seeds: number[];
  /** none / encoder / jacobian / control on the scenario's SAE; topk:none, topk:encoder; kappa:κ:optimizer. */
  runs: Record<string, SeedRun[]>;
  ladder: { rungs: { sae: string; ev: number; width: number }[]; seeds: LadderSeed[] };
  extras: Record<string, number | string | null>[];
  stage2: (Stage2Result & { seed: number })[];
}

const round = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(5)) : v);

function seedRun(seed: number, out: ScenarioRunOutput): SeedRun {
  const s = out.result.samples;
  const col = <T>(f: (x: SampleMetrics) => T) => s.map(f);
  return {
    seed,
    rho: round(out.result.config.budget as number),
    valid: col((x) => x.valid),
    success: col((x) => x.success),
    absDrift: col((x) => round(x.absDrift)),
    relDrift: col((x) => (x.relDrift === null ? null : round(x.relDrift))),
    eligible: col((x) => x.eligible),
    reactivated: col((x) => x.reactivated),
    activeRecovered: col((x) => x.activeRecovered),
    deltaOverResidual: col((x) => round(x.deltaOverResidual)),
    feasible: out.feasibility ? out.feasibility.perSample : null,
  };
}

/** K features drawn uniformly from the whole dictionary (the control defence), seeded. */
export function randomFeatures(dSae: number, k: number, seed: number): number[] {
  const rand = mulberry32(mixSeed(seed, 0x5eed));
  const all = Array.from({ length: dSae }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, k).sort((a, b) => a - b);
}

type Log = (s: string) => void;

export async function collectScenario(entry: ModelIndexEntry, id: BuiltinScenarioId, seeds: number[], log: Log): Promise<ScenarioData> {
  const table = SCENARIOS[id];
  const settings = effectiveRun(id);
  const linear = Boolean(table.linearReadout);
  const load = (seed: number, sae?: string) => loadScenario({ kind: 'builtin', scenario: id, model: entry.name, sae, seed }, readPublic);
  const runs: Record<string, SeedRun[]> = {};
  const add = (key: string, seed: number, out: ScenarioRunOutput) => {
    runs[key] ??= [];
    runs[key].push(seedRun(seed, out));
  };
  const ladderRungs = entry.saes.filter((s) => s.id.startsWith('ladder-')).sort((a, b) => a.explainedVariance - b.explainedVariance);
  const ladderK = table.defaults.k(128);
  const ladder: ScenarioData['ladder'] = {
    rungs: ladderRungs.map((r) => ({ sae: r.name, ev: r.explainedVariance, width: r.width })),
    seeds: [],
  };
  const extras: ScenarioData['extras'] = [];
  const stage2: ScenarioData['stage2'] = [];
  let meta: Omit<ScenarioData, 'runs' | 'ladder' | 'extras' | 'stage2' | 'seeds' | 'settings' | 'linear' | 'id'> | null = null;

  for (const seed of seeds) {
    const sc = await load(seed);
    try {
      const run = (req: ScenarioRunRequest) => runScenario(sc, { ...req, settings: { seed, ...req.settings }, feasibility: linear });
      meta ??= {
        title: sc.title,
        behaviour: sc.behaviourText,
        featureRule: `top-${sc.defaults.features.length} ${sc.featureRule}`,
        clamp: describeClamp(sc.defaults.clamp),
        sae: { id: table.defaults.sae ?? '', name: sc.saeInfo.name, architecture: sc.saeInfo.architecture },
        k: sc.defaults.features.length,
        shared: settings.delta === 'shared',
        dModel: sc.lm!.model.config.dModel,
      };
      for (const mode of MODES) {
        const out = await run({ settings: { mode } });
        add(mode, seed, out);
        if (mode === 'encoder') {
          extras.push({ seed, ...out.extras });
          add(`kappa:${settings.budgetRel}:adam`, seed, out);
          if (id === 'refusal' && out.result.aggregate.validFlips > 0) {
            const valid = out.result.samples.map((x) => x.valid);
            const s2 = await refusalStage2(sc, sc.defaults.features, sc.defaults.clamp, valid, out.delta, out.deltaShape, { seed });
            stage2.push({ seed, ...s2 });
          }
        }
      }
      add(
        'control',
        seed,
        await run({ features: randomFeatures(sc.sae.dSae, sc.defaults.features.length, seed), settings: { mode: 'encoder' } }),
      );
      for (const kappa of KAPPAS) {
        for (const optimizer of OPTIMIZERS) {
          if (kappa === settings.budgetRel && optimizer === 'adam') continue; // the encoder run above
          add(`kappa:${kappa}:${optimizer}`, seed, await run({ settings: { mode: 'encoder', budgetRel: kappa, optimizer } }));
        }
      }
      log(`  ${id} seed ${seed}: modes, control and κ sweep done`);
    } finally {
      sc.dispose();
    }
    if (table.defaults.sae !== TOPK_SAE) {
      const topk = await load(seed, TOPK_SAE);
      try {
        for (const mode of ['none', 'encoder'] as const) add(`topk:${mode}`, seed, await runScenario(topk, { settings: { seed, mode } }));
      } finally {
        topk.dispose();
      }
    }
    const loaded: LoadedScenario[] = [];
    try {
      for (const rung of ladderRungs) loaded.push(await load(seed, rung.id));
      // The same K on every rung: the scenario's K for a 128-wide SAE, or fewer if some rung ranks fewer.
      const k = Math.min(ladderK, ...loaded.map((l) => l.rank.length));
      const rungs: LadderSeed['rungs'] = [];
      for (const lsc of loaded) {
        const out = await runScenario(lsc, { features: topFeatures(lsc, k), settings: { seed, mode: 'encoder' }, replayTopK: 8 });
        rungs.push({
          valid: out.result.samples.map((x) => x.valid),
          parts: out.replay!.map((r) => ({ part: r.part, positive: r.positive })),
        });
      }
      ladder.seeds.push({ seed, k, rungs });
    } finally {
      for (const l of loaded) l.dispose();
    }
    log(`  ${id} seed ${seed}: TopK extension and ladder done`);
  }
  return { id, ...meta!, settings, linear, seeds, runs, ladder, extras, stage2 };
}
