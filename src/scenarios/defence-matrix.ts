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
import { PROJECTION_MODES, type ProjectionMode, type RecoveryOptions } from '../core/options.ts';
import { clampedState } from '../core/defence.ts';
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
export const DEFAULT_LAMBDA_DETECT = 10;

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

export async function defenceMatrix(spec: MatrixSpec): Promise<DefenceMatrix> {
  const started = performance.now();
  const modes = spec.modes ?? [...PROJECTION_MODES];
  const seeds = spec.seeds ?? [0, 1, 2, 3, 4];
  const budgets = spec.budgets ?? DEFAULT_BUDGET_MULTIPLES;
  const settings = spec.settings ?? {};
  const lambdaDetect = spec.lambdaDetect ?? DEFAULT_LAMBDA_DETECT;
  const curveMode = effectiveRun(spec.scenario, settings).mode;
  const log = spec.onProgress ?? (() => {});
  const keys = spec.defences.map(defenceKey);
  type Acc = { recovered: number; valid: number; drift: number[]; detected: number; perSeed: MatrixCell['perSeed'] };
  const acc = new Map<string, Acc>();
  const cellKey = (d: string, a: Attacker, m: ProjectionMode) => `${d}|${a}|${m}`;
  const rows = new Map<string, DefenceRow>();
  const randomAcc = new Map<string, { recovered: number; valid: number }>();
  const costAcc = new Map<string, { valid: number; samples: number }>();
  let title = '';
  for (const [si, seed] of seeds.entries()) {
    const sc = await spec.load(seed);
    try {
      title = sc.title;
      const features = sc.defaults.features;
      const clamp = sc.defaults.clamp;
      const positions = effectiveRun(sc.id, settings).positions;
      const optionsFor = (mode: ProjectionMode, extra: Partial<RecoveryOptions> = {}) => runOptions(sc.id, { ...settings, mode }, extra);
      // The paper's attacker: δ against the paper's clamp, once per mode.
      const paperDelta = new Map<ProjectionMode, { delta: Float32Array; shape: [number, number, number] }>();
      const paperSite = await createSite(sc, { features, clamp, positions, choice: PAPER_DEFENCE });
      try {
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
      for (const [di, choice] of spec.defences.entries()) {
        const key = keys[di];
        const site = await createSite(sc, { features, clamp, positions, choice });
        try {
          if (!rows.has(key)) {
            rows.set(key, {
              defence: key,
              ids: choice.ids,
              description: describeDefence(choice),
              notes: [],
              cost: { validFlips: 0, samples: 0, utility: null },
              random: rateOf(0, 0),
              budgetCurve: [],
              auc: null,
              checks: { budgetMonotone: true, moreStepsNotLower: true, stepsRates: [null, null], beatsRandom: true },
            });
          }
          const row = rows.get(key)!;
          const c = costAcc.get(key) ?? { valid: 0, samples: 0 };
          c.valid += site.baseline.valid.filter(Boolean).length;
          c.samples += site.n;
          costAcc.set(key, c);
          if (si === 0) {
            log(`${key}: cost on clean text`);
            row.notes = describeSite(site);
            if (sc.defenceKit) {
              const kit = sc.defenceKit;
              const atHook = (x: Tensor) => site.defence.apply(x, clampedState(site.set, clamp, x), null);
              row.cost.utility = await defenceCost(kit, defenceHooks(kit.hook, atHook, site.spec.defence?.later ?? []));
            }
          }
          const detect = site.detector;
          if (detect && !row.detector) {
            const cal = detect.calibration;
            row.detector = {
              threshold: cal.threshold,
              heldOutFpr: cal.heldOutFpr,
              heldOutCi: cal.heldOutCi,
              cleanScores: cal.heldOutScores,
              attackedScores: { paper: [], adaptive: [] },
            };
          }
          for (const mode of modes) {
            for (const attacker of ATTACKERS) {
              let delta: { delta: Float32Array; shape: [number, number, number] };
              if (attacker === 'paper' || key === defenceKey(PAPER_DEFENCE)) delta = paperDelta.get(mode)!;
              else {
                log(`seed ${seed}: ${key}, adaptive, ${mode}`);
                const run = await RecoveryRun.create(site, optionsFor(mode, detect ? { lambdaDetect } : {}));
                try {
                  await run.run({ metricsEvery: run.options.steps });
                  delta = { delta: await run.deltaValues(), shape: run.deltaShape };
                } finally {
                  run.dispose();
                }
              }
              const { samples, aggregate } = await evaluate(site, delta.delta, delta.shape);
              const a = acc.get(cellKey(key, attacker, mode)) ?? { recovered: 0, valid: 0, drift: [], detected: 0, perSeed: [] };
              a.recovered += aggregate.recovered;
              a.valid += aggregate.validFlips;
              a.detected += samples.filter((s) => s.valid && s.flagged).length;
              for (const s of samples) if (s.valid && s.relDrift !== null) a.drift.push(s.relDrift);
              a.perSeed.push({ seed, recovered: aggregate.recovered, validFlips: aggregate.validFlips });
              acc.set(cellKey(key, attacker, mode), a);
              if (detect && mode === curveMode && row.detector)
                row.detector.attackedScores[attacker].push(...samples.filter((s) => s.valid).map((s) => s.detectorScore ?? 0));
            }
          }
          // A random δ of the budget's norm.
          const options = optionsFor(curveMode);
          const rnd = randomDelta(site, options, seed);
          try {
            const samples = await sampleMetrics(site, () => rnd.clone());
            const r = randomAcc.get(key) ?? { recovered: 0, valid: 0 };
            r.recovered += samples.filter((s) => s.success).length;
            r.valid += samples.filter((s) => s.valid).length;
            randomAcc.set(key, r);
          } finally {
            rnd.dispose();
          }
          if (si === 0) {
            // Recovery against budget, and twice the steps, for the adaptive attacker in the scenario's mode.
            const base = optionsFor(curveMode);
            for (const multiple of budgets) {
              log(`${key}: budget × ${multiple}`);
              const rate = await adaptiveRate(site, optionsFor(curveMode, detect ? { lambdaDetect } : {}), {
                budget: base.budget * multiple,
                budgetRel: null,
              });
              row.budgetCurve.push({ multiple, budget: base.budget * multiple, ...rate });
            }
            log(`${key}: twice the steps`);
            const once =
              row.budgetCurve.find((p) => p.multiple === 1) ??
              (await adaptiveRate(site, optionsFor(curveMode, detect ? { lambdaDetect } : {}), {}));
            const twice = await adaptiveRate(site, optionsFor(curveMode, detect ? { lambdaDetect } : {}), { steps: base.steps * 2 });
            row.checks.stepsRates = [once.rate, twice.rate];
            row.checks.moreStepsNotLower = (twice.rate ?? 0) >= (once.rate ?? 0);
          }
        } finally {
          site.dispose();
        }
      }
    } finally {
      sc.dispose();
    }
  }
  const cells: MatrixCell[] = [];
  for (const key of keys)
    for (const mode of modes)
      for (const attacker of ATTACKERS) {
        const a = acc.get(cellKey(key, attacker, mode));
        if (!a) continue;
        cells.push({
          defence: key,
          attacker,
          mode,
          ...rateOf(a.recovered, a.valid),
          perSeed: a.perSeed,
          meanRelDrift: a.drift.length ? a.drift.reduce((x, y) => x + y, 0) / a.drift.length : null,
          detectionRate: rows.get(key)?.detector ? (a.valid ? a.detected / a.valid : null) : null,
        });
      }
  for (const [key, row] of rows) {
    const c = costAcc.get(key)!;
    row.cost.validFlips = c.valid;
    row.cost.samples = c.samples;
    const r = randomAcc.get(key)!;
    row.random = rateOf(r.recovered, r.valid);
    const curve = row.budgetCurve;
    row.checks.budgetMonotone = curve.every((p, i) => i === 0 || (p.rate ?? 0) >= (curve[i - 1].rate ?? 0));
    const top = Math.max(...curve.map((p) => p.multiple));
    row.auc = curve.length > 1 ? trapezoid(curve.map((p) => [p.multiple / top, p.rate ?? 0])) : null;
    const best = Math.max(...cells.filter((x) => x.defence === key).map((x) => x.rate ?? 0));
    row.checks.beatsRandom = best > (row.random.rate ?? 0);
  }
  const gaps = keys.flatMap((key) =>
    modes.map((mode) => {
      const paper = cells.find((c) => c.defence === key && c.mode === mode && c.attacker === 'paper')?.rate ?? null;
      const adaptive = cells.find((c) => c.defence === key && c.mode === mode && c.attacker === 'adaptive')?.rate ?? null;
      return { defence: key, mode, paper, adaptive, gap: paper !== null && adaptive !== null ? adaptive - paper : null };
    }),
  );
  return {
    scenario: spec.scenario,
    title,
    seeds,
    modes,
    curveMode,
    lambdaDetect,
    settings,
    defences: keys.map((k) => rows.get(k)!),
    cells,
    gaps,
    durationS: (performance.now() - started) / 1000,
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
