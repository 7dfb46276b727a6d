// The defence lab's matrix (docs/defences.md): for each defence, the paper's attacker (δ optimised against the
// paper's clamp, then applied under the defence) and the adaptive attacker (δ optimised through the defence, and
// against a monitor with λ · max(0, score − threshold) added) in each projection mode, over seeds; with each
// defence's cost on clean inputs, a random δ of the budget's norm as a baseline, recovery against budget as a curve,
// and the checks of an honest robustness evaluation. Deterministic for given seeds.
import { tf, type Tensor } from '../core/tf.ts';
import { mulberry32, normals } from '../core/rng.ts';
import { wilson } from '../core/stats.ts';
import { RecoveryRun } from '../core/recovery.ts';
import { sampleMetrics } from '../core/sample-metrics.ts';
import { summarise } from '../core/metrics.ts';
import type { RecoverySite } from '../core/site.ts';
import { defenceKey, describeDefence, PAPER_DEFENCE, type DefenceChoice } from '../core/defence-kinds.ts';
import { DEFAULT_RECOVERY_OPTIONS, PROJECTION_MODES, type ProjectionMode, type RecoveryOptions } from '../core/options.ts';
import { clampedState } from '../core/defence.ts';
import { relativeBudget } from '../core/budget.ts';
import type { LoadedScenario } from './loaded.ts';
import { createSite, runOptions } from './run.ts';
import { effectiveRun, type RunSettings, type ScenarioId } from './catalog.ts';
import { defenceCost, defenceHooks, type UtilityCost } from './defences.ts';

export const ATTACKERS = ['paper', 'adaptive'] as const;
export type Attacker = (typeof ATTACKERS)[number];

export interface Rate {
  recovered: number;
  validFlips: number;
  rate: number | null;
  ci: [number, number] | null;
}

export interface MatrixCell extends Rate {
  defence: string;
  attacker: Attacker;
  mode: ProjectionMode;
  perSeed: { seed: number; recovered: number; validFlips: number }[];
  meanRelDrift: number | null;
  /** Valid flips the monitor flagged at the reported δ (detect only). */
  detectionRate: number | null;
}

export interface DefenceRow {
  defence: string;
  ids: string[];
  description: string;
  notes: string[];
  /** Without an attack: valid flips (the behaviour it still suppresses) over samples, pooled over seeds, and the utility cost. */
  cost: { validFlips: number; samples: number; utility: UtilityCost | null };
  /** A random δ of the budget's norm at the same slots (per seed, pooled). */
  random: Rate;
  /** The adaptive attacker in the curve's mode at budget multiples (first seed), and the curve's area (x = multiple / largest). */
  budgetCurve: { multiple: number; budget: number; rate: number | null; recovered: number; validFlips: number }[];
  auc: number | null;
  checks: {
    /** Recovery does not fall as the budget grows. */
    budgetMonotone: boolean;
    /** Twice the steps does not lower recovery (first seed, the curve's mode). */
    moreStepsNotLower: boolean;
    stepsRates: [number | null, number | null];
    /** The best attacker beats a random δ of the same norm (else the defence only beat the gradient attacker). */
    beatsRandom: boolean;
  };
  /** detect: the monitor's calibration and the scores for a ROC (clean held-out vs attacked valid flips). */
  detector?: {
    threshold: number;
    heldOutFpr: number;
    heldOutCi: [number, number] | null;
    cleanScores: number[];
    attackedScores: Record<Attacker, number[]>;
  };
}

export interface DefenceMatrix {
  scenario: ScenarioId;
  title: string;
  seeds: number[];
  modes: ProjectionMode[];
  curveMode: ProjectionMode;
  lambdaDetect: number;
  settings: Partial<RunSettings>;
  defences: DefenceRow[];
  cells: MatrixCell[];
  /** adaptive − paper recovery rate per defence and mode. */
  gaps: { defence: string; mode: ProjectionMode; paper: number | null; adaptive: number | null; gap: number | null }[];
  durationS: number;
}

export interface MatrixSpec {
  scenario: ScenarioId;
  /** Load the scenario for a data seed (the caller disposes nothing: the matrix disposes each one). */
  load: (seed: number) => Promise<LoadedScenario>;
  defences: DefenceChoice[];
  modes?: ProjectionMode[];
  seeds?: number[];
  /** Budget multiples of the scenario's budget for the curve. */
  budgets?: number[];
  settings?: Partial<RunSettings>;
  /** The adaptive attacker's weight on the monitor's excess score. */
  lambdaDetect?: number;
  onProgress?: (what: string) => void;
}

export const DEFAULT_BUDGET_MULTIPLES = [0.25, 0.5, 1, 2];
/** The adaptive attacker's weight on the monitor's excess score: the engine's own default. */
export const DEFAULT_LAMBDA_DETECT = DEFAULT_RECOVERY_OPTIONS.lambdaDetect;

function rateOf(recovered: number, validFlips: number): Rate {
  return { recovered, validFlips, rate: validFlips ? recovered / validFlips : null, ci: wilson(recovered, validFlips) };
}

/** A random δ per budget group, of norm ρ, at the site's slots (seeded). */
function randomDelta(site: RecoverySite, options: RecoveryOptions, seed: number): Tensor {
  const groups = options.delta === 'shared' ? 1 : site.n;
  const rand = mulberry32(seed + 4242);
  return tf.tidy(() => {
    const x = tf.mul(tf.tensor3d(normals(rand, groups * site.p * site.d), [groups, site.p, site.d]), site.slotMask);
    const norm = tf.sqrt(tf.sum(tf.square(x), [1, 2], true));
    return tf.mul(x, tf.div(options.budget, tf.add(norm, 1e-12)));
  });
}

/** Recovered / valid and the rest at a given δ (flattened [N|1, P, d]) under a site's defence. */
async function evaluate(site: RecoverySite, delta: Float32Array, shape: [number, number, number]) {
  const samples = await sampleMetrics(site, () => tf.tensor3d(delta, shape));
  return { samples, aggregate: summarise(samples) };
}

/** One seed's share of the matrix: counts to pool, and (on the first seed) the curves and checks. JSON, so a worker can make it. */
export interface MatrixSeedPart {
  seed: number;
  title: string;
  cells: {
    defence: string;
    attacker: Attacker;
    mode: ProjectionMode;
    recovered: number;
    validFlips: number;
    drift: number[];
    detected: number;
  }[];
  rows: {
    defence: string;
    ids: string[];
    description: string;
    validFlips: number;
    samples: number;
    random: { recovered: number; validFlips: number };
    attackedScores: Record<Attacker, number[]>;
    /** First seed only: the notes, the utility cost, the budget curve, twice the steps, the monitor's calibration. */
    first?: {
      notes: string[];
      utility: UtilityCost | null;
      budgetCurve: DefenceRow['budgetCurve'];
      stepsRates: [number | null, number | null];
      detector?: Omit<NonNullable<DefenceRow['detector']>, 'attackedScores'>;
    };
  }[];
}

function resolved(spec: MatrixSpec) {
  const settings = spec.settings ?? {};
  return {
    modes: spec.modes ?? [...PROJECTION_MODES],
    seeds: spec.seeds ?? [0, 1, 2, 3, 4],
    budgets: spec.budgets ?? DEFAULT_BUDGET_MULTIPLES,
    settings,
    lambdaDetect: spec.lambdaDetect ?? DEFAULT_LAMBDA_DETECT,
    curveMode: effectiveRun(spec.scenario, settings).mode,
    log: spec.onProgress ?? (() => {}),
  };
}

/** The matrix over the spec's seeds, one after another (a caller with several cores runs matrixSeed in parallel and pools). */
export async function defenceMatrix(spec: MatrixSpec): Promise<DefenceMatrix> {
  const started = performance.now();
  const parts: MatrixSeedPart[] = [];
  for (const [i, seed] of resolved(spec).seeds.entries()) parts.push(await matrixSeed(spec, seed, i === 0));
  return poolMatrix(spec, parts, (performance.now() - started) / 1000);
}

/** One seed of the matrix; `first` adds each defence's cost on clean text, budget curve and the steps check. */
export async function matrixSeed(spec: MatrixSpec, seed: number, first: boolean): Promise<MatrixSeedPart> {
  const { modes, budgets, settings, lambdaDetect, curveMode, log } = resolved(spec);
  const sc = await spec.load(seed);
  const part: MatrixSeedPart = { seed, title: sc.title, cells: [], rows: [] };
  try {
    const features = sc.defaults.features;
    const clamp = sc.defaults.clamp;
    const positions = effectiveRun(sc.id, settings).positions;
    // The paper's attacker: δ against the paper's clamp, once per mode.
    const paperDelta = new Map<ProjectionMode, { delta: Float32Array; shape: [number, number, number] }>();
    const paperSite = await createSite(sc, { features, clamp, positions, choice: PAPER_DEFENCE });
    let rho: number;
    try {
      // One ρ for every defence of this seed: a relative budget resolved once, against the paper's defended residual
      // (each defence's own residual would give each attacker a slightly different ball).
      const table = runOptions(sc.id, settings);
      rho = table.budgetRel === null ? table.budget : relativeBudget(paperSite, table.budgetRel);
      for (const mode of modes) {
        log(`seed ${seed}: paper attacker, ${mode}`);
        const run = await RecoveryRun.create(paperSite, optionsFor(mode));
        try {
          await run.run({ metricsEvery: run.options.steps });
          paperDelta.set(mode, { delta: await run.deltaValues(), shape: run.deltaShape });
        } finally {
          run.dispose();
        }
      }
    } finally {
      paperSite.dispose();
    }
    // The optimiser's seed follows the data seed (the jacobian sketch and the random δ draw from it).
    function optionsFor(mode: ProjectionMode, extra: Partial<RecoveryOptions> = {}) {
      return runOptions(sc.id, { ...settings, mode, seed: settings.seed ?? seed, budget: rho, budgetRel: null }, extra);
    }
    for (const choice of spec.defences) {
      const key = defenceKey(choice);
      const site = await createSite(sc, { features, clamp, positions, choice });
      try {
        const detect = site.detector;
        const adaptive = (mode: ProjectionMode) => optionsFor(mode, detect ? { lambdaDetect } : {});
        const row: MatrixSeedPart['rows'][number] = {
          defence: key,
          ids: choice.ids,
          description: describeDefence(choice),
          validFlips: site.baseline.valid.filter(Boolean).length,
          samples: site.n,
          random: { recovered: 0, validFlips: 0 },
          attackedScores: { paper: [], adaptive: [] },
        };
        part.rows.push(row);
        for (const mode of modes) {
          for (const attacker of ATTACKERS) {
            let delta: { delta: Float32Array; shape: [number, number, number] };
            if (attacker === 'paper' || key === defenceKey(PAPER_DEFENCE)) delta = paperDelta.get(mode)!;
            else {
              log(`seed ${seed}: ${key}, adaptive, ${mode}`);
              const run = await RecoveryRun.create(site, adaptive(mode));
              try {
                await run.run({ metricsEvery: run.options.steps });
                delta = { delta: await run.deltaValues(), shape: run.deltaShape };
              } finally {
                run.dispose();
              }
            }
            const { samples, aggregate } = await evaluate(site, delta.delta, delta.shape);
            const valid = samples.filter((x) => x.valid);
            part.cells.push({
              defence: key,
              attacker,
              mode,
              recovered: aggregate.recovered,
              validFlips: aggregate.validFlips,
              drift: valid.flatMap((x) => (x.relDrift === null ? [] : [x.relDrift])),
              detected: valid.filter((x) => x.flagged).length,
            });
            if (detect && mode === curveMode) row.attackedScores[attacker].push(...valid.map((x) => x.detectorScore ?? 0));
          }
        }
        // A random δ of the budget's norm.
        const rnd = randomDelta(site, optionsFor(curveMode), seed);
        try {
          const samples = await sampleMetrics(site, () => rnd.clone());
          row.random = { recovered: samples.filter((x) => x.success).length, validFlips: samples.filter((x) => x.valid).length };
        } finally {
          rnd.dispose();
        }
        if (first) {
          log(`${key}: cost on clean text`);
          let utility: UtilityCost | null = null;
          if (sc.defenceKit) {
            const kit = sc.defenceKit;
            const atHook = (x: Tensor) => site.defence.apply(x, clampedState(site.set, clamp, x), null);
            utility = await defenceCost(kit, defenceHooks(kit.hook, atHook, site.spec.defence?.later ?? []));
          }
          // Recovery against budget, and twice the steps, for the adaptive attacker in the scenario's mode.
          const budgetCurve: DefenceRow['budgetCurve'] = [];
          for (const multiple of budgets) {
            log(`${key}: budget × ${multiple}`);
            const rate = await adaptiveRate(site, adaptive(curveMode), { budget: rho * multiple });
            budgetCurve.push({ multiple, budget: rho * multiple, ...rate });
          }
          log(`${key}: twice the steps`);
          const once = budgetCurve.find((p) => p.multiple === 1) ?? (await adaptiveRate(site, adaptive(curveMode), {}));
          const twice = await adaptiveRate(site, adaptive(curveMode), { steps: adaptive(curveMode).steps * 2 });
          const cal = detect?.calibration;
          row.first = {
            notes: describeSite(site),
            utility,
            budgetCurve,
            stepsRates: [once.rate, twice.rate],
            ...(cal && {
              detector: { threshold: cal.threshold, heldOutFpr: cal.heldOutFpr, heldOutCi: cal.heldOutCi, cleanScores: cal.heldOutScores },
            }),
          };
        }
      } finally {
        site.dispose();
      }
    }
  } finally {
    sc.dispose();
  }
  return part;
}

/** The matrix from its seeds' parts (the first seed's part carries the curves and checks). */
export function poolMatrix(spec: MatrixSpec, parts: MatrixSeedPart[], durationS: number): DefenceMatrix {
  const { modes, lambdaDetect, curveMode, settings } = resolved(spec);
  const keys = spec.defences.map(defenceKey);
  const sorted = [...parts].sort((a, b) => a.seed - b.seed);
  const firstRows = new Map((sorted.find((p) => p.rows.some((r) => r.first))?.rows ?? []).map((r) => [r.defence, r]));
  const cells: MatrixCell[] = [];
  for (const key of keys)
    for (const mode of modes)
      for (const attacker of ATTACKERS) {
        const mine = sorted.flatMap((p) =>
          p.cells.filter((c) => c.defence === key && c.mode === mode && c.attacker === attacker).map((c) => ({ c, seed: p.seed })),
        );
        if (!mine.length) continue;
        const recovered = mine.reduce((n, { c }) => n + c.recovered, 0);
        const valid = mine.reduce((n, { c }) => n + c.validFlips, 0);
        const drift = mine.flatMap(({ c }) => c.drift);
        const detected = mine.reduce((n, { c }) => n + c.detected, 0);
        cells.push({
          defence: key,
          attacker,
          mode,
          ...rateOf(recovered, valid),
          perSeed: mine.map(({ c, seed }) => ({ seed, recovered: c.recovered, validFlips: c.validFlips })),
          meanRelDrift: drift.length ? drift.reduce((x, y) => x + y, 0) / drift.length : null,
          detectionRate: firstRows.get(key)?.first?.detector ? (valid ? detected / valid : null) : null,
        });
      }
  const defences: DefenceRow[] = keys.map((key) => {
    const mine = sorted.flatMap((p) => p.rows.filter((r) => r.defence === key));
    const head = firstRows.get(key) ?? mine[0];
    const f = head?.first;
    const curve = f?.budgetCurve ?? [];
    const random = rateOf(
      mine.reduce((n, r) => n + r.random.recovered, 0),
      mine.reduce((n, r) => n + r.random.validFlips, 0),
    );
    const best = Math.max(0, ...cells.filter((x) => x.defence === key).map((x) => x.rate ?? 0));
    const top = Math.max(...curve.map((p) => p.multiple));
    const [once, twice] = f?.stepsRates ?? [null, null];
    return {
      defence: key,
      ids: head?.ids ?? [],
      description: head?.description ?? key,
      notes: f?.notes ?? [],
      cost: {
        validFlips: mine.reduce((n, r) => n + r.validFlips, 0),
        samples: mine.reduce((n, r) => n + r.samples, 0),
        utility: f?.utility ?? null,
      },
      random,
      budgetCurve: curve,
      auc: curve.length > 1 ? trapezoid(curve.map((p) => [p.multiple / top, p.rate ?? 0])) : null,
      checks: {
        budgetMonotone: curve.every((p, i) => i === 0 || (p.rate ?? 0) >= (curve[i - 1].rate ?? 0)),
        moreStepsNotLower: (twice ?? 0) >= (once ?? 0),
        stepsRates: [once, twice],
        beatsRandom: best > (random.rate ?? 0),
      },
      ...(f?.detector && {
        detector: {
          ...f.detector,
          attackedScores: {
            paper: mine.flatMap((r) => r.attackedScores.paper),
            adaptive: mine.flatMap((r) => r.attackedScores.adaptive),
          },
        },
      }),
    };
  });
  const gaps = keys.flatMap((key) =>
    modes.map((mode) => {
      const paper = cells.find((c) => c.defence === key && c.mode === mode && c.attacker === 'paper')?.rate ?? null;
      const adaptive = cells.find((c) => c.defence === key && c.mode === mode && c.attacker === 'adaptive')?.rate ?? null;
      return { defence: key, mode, paper, adaptive, gap: paper !== null && adaptive !== null ? adaptive - paper : null };
    }),
  );
  return {
    scenario: spec.scenario,
    title: sorted[0]?.title ?? '',
    seeds: sorted.map((p) => p.seed),
    modes,
    curveMode,
    lambdaDetect,
    settings,
    defences,
    cells,
    gaps,
    durationS,
  };
}

async function adaptiveRate(site: RecoverySite, options: RecoveryOptions, change: Partial<RecoveryOptions>) {
  const run = await RecoveryRun.create(site, { ...options, ...change });
  try {
    await run.run({ metricsEvery: run.options.steps });
    const a = summarise(await run.sampleMetrics());
    return { rate: a.recoveryRate, recovered: a.recovered, validFlips: a.validFlips };
  } finally {
    run.dispose();
  }
}

/** Area under a piecewise-linear curve through (x, y) points sorted by x, from the first x to the last. */
export function trapezoid(points: [number, number][]): number {
  let area = 0;
  for (let i = 1; i < points.length; i++) area += ((points[i][0] - points[i - 1][0]) * (points[i][1] + points[i - 1][1])) / 2;
  return area;
}

function describeSite(site: RecoverySite): string[] {
  const notes: string[] = [];
  for (const l of site.spec.defence?.later ?? []) notes.push(`${l.hook}: ${l.describe}`);
  const d = site.detector?.calibration;
  if (d)
    notes.push(`monitor threshold ${d.threshold.toFixed(3)}; held-out clean FPR ${(d.heldOutFpr * 100).toFixed(1)}% of ${d.heldOutInputs}`);
  if (site.spec.defence?.params?.errorCap !== undefined) notes.push(`error norm cap ${site.spec.defence.params.errorCap.toFixed(3)}`);
  return notes;
}
