// The recovery run's options: their types, the one set of bounds every reader checks against (the engine
// here, the page's link schema and fields, the CLI through this file's resolveOptions), the engine's own
// defaults, and the options as a result records them. No TensorFlow.js: the page imports the bounds.
//
// Who owns which default: the run settings a user sees (mode, optimiser, steps, lr, budget, κ, δ sharing,
// seed, re-projection, λ_act, drift cap) take their defaults from the scenario's table
// (src/scenarios/catalog.ts), and every run a user starts passes all of them (scenarios/run.ts runOptions).
// The method's technical knobs (ridge, λ_dec, Adam's β and ε, the Jacobian sketch, the checkpoint cadence)
// have their only defaults here.
import { InputError } from './errors.ts';

/** The choices of the three categorical run settings, listed once (the URL schema, the CLI and the grid read them). */
export const PROJECTION_MODES = ['none', 'encoder', 'jacobian'] as const;
export const DELTA_SHARINGS = ['per-sample', 'shared'] as const;
/** adam: the paper's optimiser; pgd: L2 projected gradient with normalised steps (docs/method.md §3.4). */
export const OPTIMIZER_KINDS = ['adam', 'pgd'] as const;
export type ProjectionMode = (typeof PROJECTION_MODES)[number];
export type DeltaSharing = (typeof DELTA_SHARINGS)[number];
export type OptimizerKind = (typeof OPTIMIZER_KINDS)[number];

export interface RecoveryOptions {
  mode: ProjectionMode;
  optimizer: OptimizerKind;
  steps: number;
  /** Adam's learning rate; for pgd, the first step's length as a fraction of ρ (it decays on a cosine to a tenth). */
  lr: number;
  /** ρ: ‖δ_i‖ ≤ ρ per sample (per-sample δ) or ‖δ‖ ≤ ρ (shared δ), Frobenius over the slots. */
  budget: number;
  /**
   * κ: when set, ρ = κ · median ‖h_def‖ over the δ positions · √P (P = δ positions per sample), so a budget
   * means the same share of the residual on any model; `budget` is then ignored and the run reports the ρ used.
   */
  budgetRel: number | null;
  delta: DeltaSharing;
  seed: number;
  /** encoder mode: also project δ itself after each step, so W_enc[:,S]ᵀδ = 0 holds (up to the ridge). */
  reproject: boolean;
  ridge: number;
  /** Weight of the relative squared drift of z_S (added unprojected in jacobian mode; projected with B elsewhere). */
  lambdaAct: number;
  /** Weight of the squared decode drift ‖Δz_S·W_dec[S]‖². */
  lambdaDec: number;
  /** Against a monitor (the detect defence): weight of max(0, score − threshold), the adaptive attacker's evasion term. */
  lambdaDetect: number;
  jacobian: {
    /** Use exact Jacobian rows when a projection problem has at most this many rows; else sketch. */
    exactMaxRows: number;
    /** Random probes in the sketch (plus one drift-direction probe). */
    probes: number;
    correctionSteps: number;
    correctionLr: number;
  };
  adam: { beta1: number; beta2: number; eps: number };
  /**
   * Drift-constrained checkpoint selection (the paper's refusal rule): every `checkpointEvery` steps and at the
   * last, keep per sample the δ with the highest B whose relative drift ≤ this; a sample with no such
   * checkpoint reports the one with the best B − checkpointFallbackWeight · relative drift. δ = 0 is no candidate.
   */
  checkpointMaxRelDrift: number | null;
  checkpointEvery: number;
  checkpointFallbackWeight: number;
}

/**
 * What `resolveOptions` fills in for a caller that leaves an option out. For the run settings a user sees these
 * serve only direct callers of the core (tests, benchmarks): a scenario run gives every one of them from the
 * scenario's table, so none of these reaches a user (src/scenarios/run.test.ts checks it).
 */
export const DEFAULT_RECOVERY_OPTIONS: RecoveryOptions = {
  mode: 'encoder',
  optimizer: 'adam',
  steps: 100,
  lr: 0.1,
  budget: 20,
  budgetRel: null,
  delta: 'per-sample',
  seed: 0,
  reproject: false,
  ridge: 1e-4,
  lambdaAct: 0,
  lambdaDec: 0,
  // Applies only where the site has a monitor (the detect defence): every attack on it is then the adaptive one.
  lambdaDetect: 10,
  jacobian: { exactMaxRows: 256, probes: 8, correctionSteps: 5, correctionLr: 0.05 },
  // PyTorch's Adam defaults (TF.js' default epsilon differs, so it is always given explicitly).
  adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
  checkpointMaxRelDrift: null,
  checkpointEvery: 10,
  checkpointFallbackWeight: 80,
};

export class RecoveryOptionError extends InputError {
  override name = 'RecoveryOptionInputError';
}

/** The bounds of one numeric run setting, with the name its messages use (the CLI flag's, without dashes). */
export interface SettingBounds {
  name: string;
  min: number;
  max: number;
  integer: boolean;
}

/**
 * The one set of bounds for the numeric run settings, checked alike by the engine (resolveOptions), a shared
 * link (ui/config.ts), the page's fields and the CLI, so whatever one accepts the others run. Generous enough
 * for the CLI's real-model runs, tight enough that a typo fails at once instead of hanging or overflowing:
 *  - steps ≤ 100,000: the paper's runs take 20–150 steps and a long study a few thousand; 10⁵ GPT-2 steps are
 *    already most of a day on a laptop, and 10⁶ or 10⁹ is a typo;
 *  - lr in [10⁻⁶, 10]: Adam moves each coordinate by about lr per step and the pgd step is lr · ρ, so 10 is
 *    already ten times the ball; below 10⁻⁶ nothing moves in any run this tool can make;
 *  - ρ in [10⁻⁶, 10⁵]: residual norms of the supported models reach the thousands (Gemma-2, GPT-2's late
 *    layers), times √P for a few hundred δ positions; the built-in model's are about 10;
 *  - κ in [10⁻⁴, 10]: a share of the residual's norm; 10 is ten residuals' worth, past any meaningful attack;
 *  - λ_act ≤ 10⁶ (the paper's is 200) and a drift cap ≤ 10⁶ (relative drift; the paper's is 0.03);
 *  - the seed is an unsigned 32-bit integer (what the generators take).
 */
export const RUN_BOUNDS = {
  steps: { name: 'steps', min: 1, max: 100_000, integer: true },
  lr: { name: 'lr', min: 1e-6, max: 10, integer: false },
  budget: { name: 'budget', min: 1e-6, max: 1e5, integer: false },
  budgetRel: { name: 'budget-rel', min: 1e-4, max: 10, integer: false },
  lambdaAct: { name: 'lambda-act', min: 0, max: 1e6, integer: false },
  seed: { name: 'seed', min: 0, max: 2 ** 32 - 1, integer: true },
  checkpointMaxRelDrift: { name: 'checkpoint-drift', min: 0, max: 1e6, integer: false },
} as const satisfies Record<string, SettingBounds>;
export type BoundedSetting = keyof typeof RUN_BOUNDS;

/** Why `value` is out of the setting's bounds, in one sentence; null when it is within them. */
export function boundsProblem(key: BoundedSetting, value: unknown): string | null {
  const { name, min, max, integer } = RUN_BOUNDS[key];
  const v = value as number;
  if (typeof value !== 'number' || !Number.isFinite(v) || (min > 0 && v <= 0)) {
    return min > 0 ? `${name} must be a positive number, got ${value}` : `${name} must be a number ≥ ${min}, got ${value}`;
  }
  if (integer && !Number.isInteger(v)) return `${name} must be a whole number, got ${v}`;
  if (v < min) return `${name} = ${v} is below the limit ${min}`;
  if (v > max) return `${name} = ${v} is above the limit ${max}`;
  return null;
}

/** Upper bounds of the engine's technical knobs (no user-facing setting: they are not in RUN_BOUNDS). */
export const LIMITS = {
  ridge: 1e6,
  lambdaDec: RUN_BOUNDS.lambdaAct.max,
  lambdaDetect: RUN_BOUNDS.lambdaAct.max,
  probes: 512,
  exactMaxRows: 4096,
  correctionSteps: 100,
};

export function resolveOptions(partial: Partial<RecoveryOptions> = {}): RecoveryOptions {
  const o: RecoveryOptions = {
    ...DEFAULT_RECOVERY_OPTIONS,
    ...partial,
    jacobian: { ...DEFAULT_RECOVERY_OPTIONS.jacobian, ...partial.jacobian },
    adam: { ...DEFAULT_RECOVERY_OPTIONS.adam, ...partial.adam },
  };
  const bad = (msg: string): never => {
    throw new RecoveryOptionError(msg);
  };
  const within = (key: BoundedSetting, v: unknown) => {
    const problem = boundsProblem(key, v);
    if (problem) bad(problem);
  };
  if (!PROJECTION_MODES.includes(o.mode)) bad(`mode must be none, encoder or jacobian, got "${o.mode}"`);
  if (!DELTA_SHARINGS.includes(o.delta)) bad(`delta must be per-sample or shared, got "${o.delta}"`);
  if (!OPTIMIZER_KINDS.includes(o.optimizer)) bad(`optimizer must be adam or pgd, got "${o.optimizer}"`);
  within('steps', o.steps);
  within('lr', o.lr);
  within('budget', o.budget);
  if (o.budgetRel !== null) within('budgetRel', o.budgetRel);
  within('seed', o.seed);
  within('lambdaAct', o.lambdaAct);
  if (o.checkpointMaxRelDrift !== null) within('checkpointMaxRelDrift', o.checkpointMaxRelDrift);
  if (typeof o.ridge !== 'number' || !Number.isFinite(o.ridge) || o.ridge <= 0) bad(`ridge must be a positive number, got ${o.ridge}`);
  if (o.ridge > LIMITS.ridge) bad(`ridge = ${o.ridge} is above the limit ${LIMITS.ridge}`);
  if (!Number.isFinite(o.lambdaDec) || o.lambdaDec < 0 || o.lambdaDec > LIMITS.lambdaDec)
    bad(`lambda-dec must be a number in [0, ${LIMITS.lambdaDec}], got ${o.lambdaDec}`);
  if (!Number.isFinite(o.lambdaDetect) || o.lambdaDetect < 0 || o.lambdaDetect > LIMITS.lambdaDetect)
    bad(`lambda-detect must be a number in [0, ${LIMITS.lambdaDetect}], got ${o.lambdaDetect}`);
  const j = o.jacobian;
  if (!Number.isInteger(j.probes) || j.probes < 0 || j.probes > LIMITS.probes)
    bad(`jacobian probes must be an integer in [0, ${LIMITS.probes}]`);
  if (!Number.isInteger(j.exactMaxRows) || j.exactMaxRows < 0 || j.exactMaxRows > LIMITS.exactMaxRows)
    bad(`jacobian exactMaxRows must be an integer in [0, ${LIMITS.exactMaxRows}]`);
  if (!Number.isInteger(j.correctionSteps) || j.correctionSteps < 0 || j.correctionSteps > LIMITS.correctionSteps)
    bad(`correction steps must be an integer in [0, ${LIMITS.correctionSteps}]`);
  if (!Number.isFinite(j.correctionLr) || j.correctionLr < 0) bad(`correction lr must be ≥ 0`);
  const a = o.adam;
  if (!(a.beta1 >= 0 && a.beta1 < 1 && a.beta2 >= 0 && a.beta2 < 1 && a.eps > 0)) bad('Adam needs 0 ≤ β < 1 and ε > 0');
  if (!Number.isInteger(o.checkpointEvery) || o.checkpointEvery < 1)
    bad(`checkpoint interval must be a whole number ≥ 1, got ${o.checkpointEvery}`);
  if (!(Number.isFinite(o.checkpointFallbackWeight) && o.checkpointFallbackWeight >= 0)) {
    bad(`checkpoint fallback weight must be ≥ 0, got ${o.checkpointFallbackWeight}`);
  }
  return o;
}

/** The options as a result's config block records them. */
export function optionsForExport(o: RecoveryOptions): Record<string, unknown> {
  return {
    mode: o.mode,
    optimizer: o.optimizer,
    steps: o.steps,
    lr: o.lr,
    budget: o.budget,
    budgetRel: o.budgetRel,
    delta: o.delta,
    seed: o.seed,
    reproject: o.reproject,
    ridge: o.ridge,
    lambdaAct: o.lambdaAct,
    lambdaDec: o.lambdaDec,
    jacobian: o.jacobian,
    adam: o.adam,
    checkpointMaxRelDrift: o.checkpointMaxRelDrift,
    ...(o.checkpointMaxRelDrift !== null && { checkpointEvery: o.checkpointEvery, checkpointFallbackWeight: o.checkpointFallbackWeight }),
  };
}
