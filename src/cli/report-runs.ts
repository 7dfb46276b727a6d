// The runs behind docs/results.md, for one scenario: every table's runs repeated over several seeds (data and
// optimiser), kept per seed and per sample so the renderer can pool them and bootstrap intervals. Everything
// goes through the one loader and run (scenarios/load.ts, scenarios/run.ts).
import { mixSeed, mulberry32 } from '../core/rng.ts';
import { tf } from '../core/tf.ts';
import type { SampleMetrics } from '../core/metrics.ts';
import type { ReplayPart } from '../core/analyses.ts';
import { describeClamp } from '../core/clamp.ts';
import { OPTIMIZER_KINDS, PROJECTION_MODES } from '../core/options.ts';
import type { ModelIndexEntry } from '../scenarios/builtin/assets.ts';
import { effectiveRun, KAPPA_SWEEP, SCENARIOS, type BuiltinScenarioId, type RunSettings } from '../scenarios/catalog.ts';
import { loadScenario, topFeatures } from '../scenarios/load.ts';
import type { LoadedScenario } from '../scenarios/loaded.ts';
import { createSite, defaultDefence, runScenario, type ScenarioRunOutput, type ScenarioRunRequest } from '../scenarios/run.ts';
import { refusalStage2, type Stage2Result } from '../scenarios/builtin/refusal.ts';
import { readPublic } from './fs.ts';

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

/**
 * The two parts of one (scenario, seed), each runnable alone (report.ts queues each as a unit of its own, so both
 * cores stay busy to the end): on the scenario's SAE the modes, the control, the κ sweep (and refusal's stage 2);
 * on the TopK ladder the TopK extension and the recovery-path replay.
 */
export const PARTS = ['defence', 'ladder'] as const;
export type Part = (typeof PARTS)[number];

/** What the tables say about the scenario itself, from its loaded form (the defence part loads it). */
type ScenarioMeta = Pick<ScenarioData, 'title' | 'behaviour' | 'featureRule' | 'clamp' | 'sae' | 'k' | 'shared' | 'dModel'>;

/** One or more parts of a scenario over some seeds; merged into ScenarioData by mergeParts. */
export type ScenarioPartData = Omit<ScenarioData, keyof ScenarioMeta> & { meta: ScenarioMeta | null };

/** The report reads each run's final figures, not its history: metrics only before the first step and at the last. */
const FINAL_METRICS_ONLY = { metricsEvery: Number.POSITIVE_INFINITY };
/** Top-k of the replay's "top-k non-clamped" part. */
const REPLAY_TOP_K = 8;

export async function collectScenario(
  entry: ModelIndexEntry,
  id: BuiltinScenarioId,
  seeds: number[],
  log: Log,
  parts: readonly Part[] = PARTS,
): Promise<ScenarioPartData> {
  const table = SCENARIOS[id];
  const settings = effectiveRun(id);
  const linear = Boolean(table.linearReadout);
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
  let meta: ScenarioMeta | null = null;
  const mainSae = table.defaults.sae ?? entry.defaultSae;
  const mainIsRung = ladderRungs.some((r) => r.id === mainSae);

  for (const seed of seeds) {
    // One load per SAE and seed, shared by every run on it (the TopK extension and the ladder's middle rung).
    const loads = new Map<string, LoadedScenario>();
    const load = async (sae: string) => {
      let sc = loads.get(sae);
      if (!sc) {
        sc = await loadScenario({ kind: 'builtin', scenario: id, model: entry.name, sae, seed }, readPublic);
        loads.set(sae, sc);
      }
      return sc;
    };
    // Encoder runs at an SAE's default defence, with their replay: the ladder rung on that SAE is the same run.
    const encoderRuns = new Map<string, ScenarioRunOutput>();
    try {
      if (parts.includes('defence')) {
        const sc = await load(mainSae);
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
        const base = (req: ScenarioRunRequest): ScenarioRunRequest => ({
          extras: false,
          ...req,
          settings: { seed, ...req.settings },
          feasibility: linear,
        });
        // Every mode and every κ attacks the scenario's own defence: one site for all of them.
        const site = await createSite(sc, defaultDefence(sc));
        try {
          const run = (req: ScenarioRunRequest) => runScenario(sc, { ...base(req), site }, FINAL_METRICS_ONLY);
          for (const mode of PROJECTION_MODES) {
            if (mode !== 'encoder') {
              add(mode, seed, await run({ settings: { mode } }));
              continue;
            }
            // The one run whose extras the tables read; on a ladder SAE it is also that rung's replay.
            const out = await run({ settings: { mode }, extras: true, replayTopK: mainIsRung ? REPLAY_TOP_K : undefined });
            if (mainIsRung) encoderRuns.set(mainSae, out);
            add(mode, seed, out);
            extras.push({ seed, ...out.extras });
            add(`kappa:${settings.budgetRel}:adam`, seed, out);
            if (id === 'refusal' && out.result.aggregate.validFlips > 0) {
              const valid = out.result.samples.map((x) => x.valid);
              const s2 = await refusalStage2(sc, sc.defaults.features, sc.defaults.clamp, valid, out.delta, out.deltaShape, { seed });
              stage2.push({ seed, ...s2 });
            }
          }
          const control = randomFeatures(sc.sae.dSae, sc.defaults.features.length, seed);
          add('control', seed, await runScenario(sc, base({ features: control, settings: { mode: 'encoder' } }), FINAL_METRICS_ONLY));
          for (const kappa of KAPPA_SWEEP) {
            for (const optimizer of OPTIMIZER_KINDS) {
              if (kappa === settings.budgetRel && optimizer === 'adam') continue; // the encoder run above
              add(`kappa:${kappa}:${optimizer}`, seed, await run({ settings: { mode: 'encoder', budgetRel: kappa, optimizer } }));
            }
          }
        } finally {
          site.dispose();
        }
        if (!mainIsRung) {
          loads.get(mainSae)?.dispose();
          loads.delete(mainSae);
        }
        log(`  ${id} seed ${seed}: modes, control and κ sweep done`);
      }
      if (parts.includes('ladder')) {
        if (mainSae !== TOPK_SAE) {
          const topk = await load(TOPK_SAE);
          const site = await createSite(topk, defaultDefence(topk));
          try {
            const run = (mode: 'none' | 'encoder', replayTopK?: number) =>
              runScenario(topk, { settings: { seed, mode }, extras: false, replayTopK, site }, FINAL_METRICS_ONLY);
            add('topk:none', seed, await run('none'));
            const out = await run('encoder', REPLAY_TOP_K);
            encoderRuns.set(TOPK_SAE, out);
            add('topk:encoder', seed, out);
          } finally {
            site.dispose();
          }
        }
        const rungs = [];
        for (const rung of ladderRungs) rungs.push(await load(rung.id));
        // The same K on every rung: the scenario's K for a 128-wide SAE, or fewer if some rung ranks fewer.
        const k = Math.min(ladderK, ...rungs.map((l) => l.rank.length));
        const seedRungs: LadderSeed['rungs'] = [];
        for (const [r, lsc] of rungs.entries()) {
          const features = topFeatures(lsc, k);
          const done = encoderRuns.get(ladderRungs[r].id);
          const out =
            done && Array.isArray(done.result.config.features) && tf.util.arraysEqual(done.result.config.features, features)
              ? done
              : await runScenario(
                  lsc,
                  { features, settings: { seed, mode: 'encoder' }, extras: false, replayTopK: REPLAY_TOP_K },
                  FINAL_METRICS_ONLY,
                );
          seedRungs.push({
            valid: out.result.samples.map((x) => x.valid),
            parts: out.replay!.map((p) => ({ part: p.part, positive: p.positive })),
          });
        }
        ladder.seeds.push({ seed, k, rungs: seedRungs });
        log(`  ${id} seed ${seed}: TopK extension and ladder done`);
      }
    } finally {
      for (const sc of loads.values()) sc.dispose();
    }
  }
  return { id, meta, settings, linear, seeds, runs, ladder, extras, stage2 };
}

/**
 * One scenario's data from its parts, each (seed, part) once, in seed order and within a seed in PARTS order:
 * the order collectScenario writes them in when it runs every part itself.
 */
export function mergeParts(pieces: ScenarioPartData[]): ScenarioData {
  const meta = pieces.find((p) => p.meta)?.meta;
  if (!meta) throw new Error(`no defence part for ${pieces[0]?.id}: nothing says what the scenario is`);
  const [first] = pieces;
  const out: ScenarioData = {
    id: first.id,
    ...meta,
    settings: first.settings,
    linear: first.linear,
    seeds: [],
    runs: {},
    ladder: { rungs: first.ladder.rungs, seeds: [] },
    extras: [],
    stage2: [],
  };
  for (const p of structuredClone(pieces)) {
    for (const s of p.seeds) if (!out.seeds.includes(s)) out.seeds.push(s);
    for (const [k, v] of Object.entries(p.runs)) out.runs[k] = [...(out.runs[k] ?? []), ...v];
    out.ladder.seeds.push(...p.ladder.seeds);
    out.extras.push(...p.extras);
    out.stage2.push(...p.stage2);
  }
  return out;
}
