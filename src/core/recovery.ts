// The recovery attack: find δ with ‖δ‖ ≤ ρ that brings the behaviour back under the active clamp,
//   h_rec = h_def + δ at the chosen slots, maximise mean B(h_rec),
// with Adam (or L2 projected gradient) from δ⁰ = 0 and one of three projection modes (docs/method.md §3):
//   none      plain Adam;
//   encoder   the gradient projected off the defended encoder directions (ridge projection, factorised
//             once), optionally δ itself re-projected after each step (exact C1);
//   jacobian  the behaviour gradient projected off the rows of ∂z_S/∂δ (exact rows when few, else a
//             sketch of one drift-direction and k random-probe VJPs), the λ_act drift gradient added
//             unprojected, then a few plain-gradient correction steps on drift.
// Step-wise API: create → stepOnce() / run() → record() → … → result() → dispose(). One step is one tf.tidy;
// nothing is read back from the device unless metrics are recorded.
import { InputError } from './errors.ts';
import { tf, type Scalar, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D, type Variable } from './tf.ts';
import {
  EncoderProjector,
  cosine,
  type MaskedColumns,
  maskedColumns,
  orthonormalRows,
  projectOffMaskedColumns,
  projectOffRows,
} from './projection.ts';
import { mixSeed, mulberry32, normals } from './rng.ts';
import type { RecoverySite } from './site.ts';
import { RATIO_MIN_DEFENDED_NORM, summarise, type HistoryEntry, type RecoveryResult, type SampleMetrics } from './metrics.ts';
import { clampDirection } from './clamp.ts';
import { medianOf } from './stats.ts';

/** The epsilon in the relative drift penalty's denominator (the paper's). */
const ACT_LOSS_EPS = 1e-8;

export type ProjectionMode = 'none' | 'encoder' | 'jacobian';
export type DeltaSharing = 'per-sample' | 'shared';
/** adam: the paper's optimiser; pgd: L2 projected gradient with normalised steps (docs/method.md §3.4). */
export type OptimizerKind = 'adam' | 'pgd';

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

/** Upper bounds that catch typos (1e9 steps) before they become a hang. */
export const LIMITS = {
  steps: 1_000_000,
  lr: 1e3,
  budget: 1e6,
  budgetRel: 100,
  lambda: 1e9,
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
  const positive = (name: string, v: number, max: number) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(`${name} must be a positive number, got ${v}`);
    if (v > max) bad(`${name} = ${v} is above the limit ${max}`);
  };
  if (!['none', 'encoder', 'jacobian'].includes(o.mode)) bad(`mode must be none, encoder or jacobian, got "${o.mode}"`);
  if (!['per-sample', 'shared'].includes(o.delta)) bad(`delta must be per-sample or shared, got "${o.delta}"`);
  if (!['adam', 'pgd'].includes(o.optimizer)) bad(`optimizer must be adam or pgd, got "${o.optimizer}"`);
  if (!Number.isInteger(o.steps)) bad(`steps must be a whole number, got ${o.steps}`);
  positive('steps', o.steps, LIMITS.steps);
  positive('lr', o.lr, LIMITS.lr);
  positive('budget', o.budget, LIMITS.budget);
  if (o.budgetRel !== null) positive('budget-rel', o.budgetRel, LIMITS.budgetRel);
  positive('ridge', o.ridge, 1e6);
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 2 ** 32 - 1) bad(`seed must be an integer in [0, 2^32), got ${o.seed}`);
  for (const [name, v] of [
    ['lambda-act', o.lambdaAct],
    ['lambda-dec', o.lambdaDec],
  ] as const) {
    if (!Number.isFinite(v) || v < 0 || v > LIMITS.lambda) bad(`${name} must be a number in [0, ${LIMITS.lambda}], got ${v}`);
  }
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
  if (o.checkpointMaxRelDrift !== null && !(Number.isFinite(o.checkpointMaxRelDrift) && o.checkpointMaxRelDrift >= 0)) {
    bad(`checkpoint drift threshold must be ≥ 0, got ${o.checkpointMaxRelDrift}`);
  }
  if (!Number.isInteger(o.checkpointEvery) || o.checkpointEvery < 1)
    bad(`checkpoint interval must be a whole number ≥ 1, got ${o.checkpointEvery}`);
  if (!(Number.isFinite(o.checkpointFallbackWeight) && o.checkpointFallbackWeight >= 0)) {
    bad(`checkpoint fallback weight must be ≥ 0, got ${o.checkpointFallbackWeight}`);
  }
  return o;
}

/** The optimiser's whole state, for pausing across a lost device or a reload. */
export interface RecoveryState {
  step: number;
  delta: Float32Array;
  m: Float32Array;
  v: Float32Array;
  best?: { delta: Float32Array; score: Float32Array; fallbackDelta: Float32Array; fallbackScore: Float32Array };
  history: HistoryEntry[];
}

export type RunStatus = 'ready' | 'running' | 'paused' | 'done' | 'disposed';

/** How `run()` drives the stepper: when to record, what to call around each step, how to share the thread. */
export interface RunControl {
  /** Record metrics every this many steps (and before the first step and at the last). */
  metricsEvery?: number;
  /** Every per-step record, as charts, progress bars and reports read it. */
  onMetrics?: (entry: HistoryEntry, samples: SampleMetrics[]) => void | Promise<void>;
  /** Before each step, with the step about to run (may throw to abort the run). */
  beforeStep?: (step: number) => void;
  /** After each step and its record, if it has one (e.g. to snapshot the optimiser state). */
  afterStep?: (step: number) => void | Promise<void>;
  /** Wait this long between steps (the page's speed control). */
  stepDelayMs?: number;
  /** Give the event loop a turn when this many ms have passed without one, so pause() gets through. */
  yieldMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class RecoveryRun {
  readonly options: RecoveryOptions;
  readonly history: HistoryEntry[] = [];
  private deltaVar: Variable;
  private m: Variable;
  private v: Variable;
  /** Checkpoints: the best admissible δ per budget group and the best fallback (B − w·drift); scores −∞ until seen. */
  private best: { delta: Variable; score: Variable; fallbackDelta: Variable; fallbackScore: Variable } | null = null;
  /**
   * The last step's raw and projected gradients (one tensor when the projection left it as is), for the projection
   * cosine of the next record(): computed there, since a run records far fewer steps than it takes.
   */
  private lastGradients: { raw: Tensor; projected: Tensor } | null = null;
  private lastLoss: Scalar | null = null;
  private stepCount = 0;
  private status: RunStatus = 'ready';
  private pauseRequested = false;
  /** The defended encoder columns, for the exact Jacobian projection (affine encoders). */
  private readonly columns: MaskedColumns | null;

  private constructor(
    readonly site: RecoverySite,
    options: RecoveryOptions,
    private readonly projector: EncoderProjector | null,
  ) {
    this.options = options;
    const shape: [number, number, number] = [options.delta === 'shared' ? 1 : site.n, site.p, site.d];
    // Variables share the initial tensor's data; tidy frees the initial tensor objects themselves.
    const zeros = () => tf.tidy(() => tf.variable(tf.zeros(shape), false));
    this.deltaVar = zeros();
    this.m = zeros();
    this.v = zeros();
    this.columns = site.affineEncoder ? maskedColumns(site.set.encoderDirections()) : null;
    if (options.checkpointMaxRelDrift !== null) {
      const none = () => tf.tidy(() => tf.variable(tf.fill([shape[0]], Number.NEGATIVE_INFINITY), false));
      this.best = { delta: zeros(), score: none(), fallbackDelta: zeros(), fallbackScore: none() };
    }
  }

  static async create(site: RecoverySite, partial: Partial<RecoveryOptions> = {}): Promise<RecoveryRun> {
    const resolved = resolveOptions(partial);
    if (resolved.delta === 'shared' && site.spec.unshared) throw new RecoveryOptionError(site.spec.unshared);
    const options = resolved.budgetRel === null ? resolved : { ...resolved, budget: relativeBudget(site, resolved.budgetRel) };
    const projector = options.mode === 'encoder' ? await EncoderProjector.create(site.set.encoderDirections(), options.ridge) : null;
    return new RecoveryRun(site, options, projector);
  }

  get step(): number {
    return this.stepCount;
  }
  /** [N, P, d] for per-sample δ, [1, P, d] for a shared one. */
  get deltaShape(): [number, number, number] {
    return this.deltaVar.shape as [number, number, number];
  }
  get state(): RunStatus {
    return this.status;
  }
  get finished(): boolean {
    return this.stepCount >= this.options.steps;
  }

  /**
   * δ as the site sees it, [N, P, d], zero on unused slots: the product with the [N, P, 1] slot mask broadcasts a
   * shared [1, P, d] δ (an explicit broadcastTo is a Tile, which TF.js's wasm backend runs ~100× slower).
   */
  private full(delta: Tensor): Tensor3D {
    return tf.mul(delta, this.site.slotMask) as Tensor3D;
  }

  /**
   * Per-sample relative squared drift Σ(z − z_def)² / (Σ z_def² + ε), the paper's act loss with its ε = 1e-8:
   * where the clamp leaves z_def ≈ 0 this is huge, as in the paper (use λ_act with clamps that keep features on).
   */
  private actLoss(full: Tensor3D): Tensor1D {
    const { site } = this;
    const dz = tf.sub(site.defendedActs(full), site.zDef);
    const num = tf.sum(tf.square(dz), [1, 2]);
    return tf.div(num, tf.add(tf.sum(tf.square(site.zDef), [1, 2]), ACT_LOSS_EPS)) as Tensor1D;
  }

  /**
   * What the jacobian mode's correction steps descend: the squared drift relative to max(Σ z_def², 1). Plain
   * gradient steps of a fixed size on the ε-relative loss would jump far past the ball where z_def ≈ 0.
   */
  private correctionLoss(full: Tensor3D): Scalar {
    const { site } = this;
    const dz = tf.sub(site.defendedActs(full), site.zDef);
    const den = tf.maximum(tf.sum(tf.square(site.zDef), [1, 2]), 1);
    return tf.mean(tf.div(tf.sum(tf.square(dz), [1, 2]), den)) as Scalar;
  }

  private decLoss(full: Tensor3D): Tensor1D {
    const { site } = this;
    const dz = tf.sub(site.defendedActs(full), site.zDef);
    return tf.sum(tf.square(site.set.decodeDelta(dz, tf.add(site.hDefAtSlots, full))), [1, 2]) as Tensor1D;
  }

  private penalty(full: Tensor3D): Scalar | null {
    const { lambdaAct, lambdaDec } = this.options;
    let p: Tensor | null = null;
    if (lambdaAct > 0) p = tf.mul(lambdaAct, tf.mean(this.actLoss(full)));
    if (lambdaDec > 0) {
      const d = tf.mul(lambdaDec, tf.mean(this.decLoss(full)));
      p = p ? tf.add(p, d) : d;
    }
    return p as Scalar | null;
  }

  /** Clip each budget group (a sample, or the whole shared δ) to ‖·‖ ≤ ρ. */
  private clip(delta: Tensor): Tensor {
    const n = tf.sqrt(tf.sum(tf.square(delta), [1, 2], true));
    return tf.mul(delta, tf.minimum(1, tf.div(this.options.budget, tf.add(n, 1e-12))));
  }

  private masked(delta: Tensor): Tensor {
    // Unused slots hold no δ (their gradient is already 0; this keeps Adam's ε-noise out of the norms).
    return this.options.delta === 'shared' ? delta : tf.mul(delta, this.site.slotMask);
  }

  /**
   * The behaviour gradient with the rows of ∂z_S/∂δ projected out.
   * Exact (single layer, affine encoder, |S| ≤ exactMaxRows): the rows at a slot are the encoder directions
   * of the defended features live there, so the projection is off span{A_j : j live} — solved per slot with
   * the fixed Gram matrix AᵀA. A shared δ is constrained by every sample's live rows: the union of masks.
   * Sketch otherwise: VJPs of z_S·r for the drift direction and k seeded Gaussian probes, orthonormalised.
   */
  private projectOffJacobian(delta: Tensor, grad: Tensor): Tensor {
    const { site, options } = this;
    const { n, p, d } = site;
    const s = site.set.size;
    const shared = options.delta === 'shared';
    const full = this.full(delta);
    if (this.columns && s <= options.jacobian.exactMaxRows) {
      const active = site.activeMask(full); // [N, P, s]
      const mask = shared ? tf.max(active, 0) : tf.reshape(active, [n * p, s]); // [P, s] or [N·P, s]
      const rows = tf.reshape(grad, [-1, d]) as Tensor2D;
      return tf.reshape(projectOffMaskedColumns(rows, this.columns, mask as Tensor2D, options.ridge), grad.shape);
    }
    const k = options.jacobian.probes;
    const rand = mulberry32(mixSeed(options.seed, this.stepCount));
    const drift = tf.sub(site.defendedActs(full), site.zDef);
    const driftDir = tf.div(drift, tf.add(tf.sqrt(tf.sum(tf.square(drift), [1, 2], true)), 1e-12));
    const cotangents: Tensor[] = [driftDir];
    for (let i = 0; i < k; i++) cotangents.push(tf.mul(tf.tensor3d(normals(rand, n * p * s), [n, p, s]), site.slotMask));
    // Per-sample δ keeps samples apart (each row is that sample's); a shared δ sums them.
    const rows = cotangents.map((r) => tf.grad((x: Tensor) => tf.sum(tf.mul(site.defendedActs(this.full(x)), r)))(delta));
    const B = shared ? 1 : n;
    const V = tf.stack(
      rows.map((r) => tf.reshape(r, [B, p * d])),
      1,
    ) as Tensor3D; // [B, k+1, P·d]
    return tf.reshape(projectOffRows(tf.reshape(grad, [B, p * d]) as Tensor2D, orthonormalRows(V)), grad.shape);
  }

  /** One optimiser step. Synchronous: it queues device work and reads nothing back. */
  stepOnce(): void {
    if (this.status === 'disposed') throw new Error('this run has been disposed');
    if (this.finished) return;
    const { options, site } = this;
    const { beta1, beta2, eps } = options.adam;
    const t = this.stepCount + 1;
    const [newDelta, newM, newV, raw, projected, loss] = tf.tidy(() => {
      const delta = this.deltaVar;
      const behaviourLoss = (x: Tensor) => tf.neg(tf.mean(site.behaviourAt(this.full(x)))) as Scalar;
      let g: Tensor;
      let raw: Tensor;
      let lossValue: Scalar;
      if (options.mode === 'jacobian') {
        const { value, grad } = tf.valueAndGrad(behaviourLoss)(delta);
        raw = grad;
        g = this.projectOffJacobian(delta, grad);
        lossValue = value;
        const pen = (x: Tensor) => this.penalty(this.full(x));
        if (options.lambdaAct > 0 || options.lambdaDec > 0) {
          const pg = tf.valueAndGrad((x: Tensor) => pen(x)!)(delta);
          g = tf.add(g, pg.grad);
          lossValue = tf.add(lossValue, pg.value) as Scalar;
        }
      } else {
        const { value, grad } = tf.valueAndGrad((x: Tensor) => {
          const b = behaviourLoss(x);
          const p = this.penalty(this.full(x));
          return (p ? tf.add(b, p) : b) as Scalar;
        })(delta);
        raw = grad;
        g = this.projector ? this.projector.project(grad) : grad;
        lossValue = value;
      }
      let m: Tensor = this.m;
      let v: Tensor = this.v;
      let next: Tensor;
      if (options.optimizer === 'adam') {
        m = tf.add(tf.mul(this.m, beta1), tf.mul(g, 1 - beta1));
        v = tf.add(tf.mul(this.v, beta2), tf.mul(tf.square(g), 1 - beta2));
        const mHat = tf.div(m, 1 - beta1 ** t);
        const vHat = tf.div(v, 1 - beta2 ** t);
        next = tf.sub(delta, tf.mul(options.lr, tf.div(mHat, tf.add(tf.sqrt(vHat), eps))));
      } else {
        // L2 projected gradient: a step of length η_t·ρ along −g/‖g‖ per budget group, η_t decaying on a cosine
        // from lr to lr/10. Unlike Adam's per-coordinate scaling it follows the gradient's direction, which is
        // what reaches the edge of the ball in the best direction when B is linear in δ.
        const eta = options.lr * options.budget * (0.1 + 0.45 * (1 + Math.cos((Math.PI * (t - 1)) / options.steps)));
        const gn = tf.sqrt(tf.sum(tf.square(g), [1, 2], true));
        next = tf.sub(delta, tf.mul(eta, tf.div(g, tf.add(gn, 1e-12))));
      }
      if (this.projector && options.reproject) next = this.projector.project(next);
      next = this.clip(this.masked(next));
      if (options.mode === 'jacobian' && options.jacobian.correctionSteps > 0 && options.jacobian.correctionLr > 0) {
        const driftGrad = tf.grad((x: Tensor) => this.correctionLoss(this.full(x)));
        for (let c = 0; c < options.jacobian.correctionSteps; c++) {
          next = this.clip(this.masked(tf.sub(next, tf.mul(options.jacobian.correctionLr, driftGrad(next)))));
        }
      }
      return [next, m, v, raw, g, lossValue] as const;
    });
    this.deltaVar.assign(newDelta);
    if (newM !== this.m) this.m.assign(newM);
    if (newV !== this.v) this.v.assign(newV);
    tf.dispose([newDelta, newM, newV].filter((x) => x !== this.m && x !== this.v));
    this.disposeLast();
    this.lastGradients = { raw, projected };
    this.lastLoss = loss;
    this.stepCount = t;
    const { checkpointEvery } = options;
    if (this.best && (t % checkpointEvery === 0 || this.finished)) this.updateCheckpoint();
  }

  private disposeLast(): void {
    if (this.lastGradients) tf.dispose([this.lastGradients.raw, this.lastGradients.projected]);
    this.lastLoss?.dispose();
    this.lastGradients = null;
    this.lastLoss = null;
  }

  private updateCheckpoint(): void {
    const { site, options } = this;
    const best = this.best!;
    const tau = options.checkpointMaxRelDrift!;
    const next = tf.tidy(() => {
      const full = this.full(this.deltaVar);
      const b = site.behaviourAt(full);
      const dz = tf.sub(site.defendedActs(full), site.zDef);
      const zNorm = tf.sqrt(tf.sum(tf.square(site.zDef), [1, 2]));
      const rel = tf.div(tf.sqrt(tf.sum(tf.square(dz), [1, 2])), tf.add(zNorm, 1e-8));
      const shared = options.delta === 'shared';
      const score: Tensor = shared ? tf.reshape(tf.mean(b), [1]) : b;
      const drift: Tensor = shared ? tf.reshape(tf.mean(rel), [1]) : rel;
      const fallback = tf.sub(score, tf.mul(options.checkpointFallbackWeight, drift));
      const keep = (better: Tensor, cur: Variable) =>
        tf.where(tf.broadcastTo(tf.reshape(better, [-1, 1, 1]), cur.shape), this.deltaVar, cur);
      const better = tf.logicalAnd(tf.lessEqual(drift, tau), tf.greater(score, best.score));
      const betterFallback = tf.greater(fallback, best.fallbackScore);
      return {
        delta: keep(better, best.delta),
        score: tf.where(better, score, best.score),
        fallbackDelta: keep(betterFallback, best.fallbackDelta),
        fallbackScore: tf.where(betterFallback, fallback, best.fallbackScore),
      };
    });
    for (const k of ['delta', 'score', 'fallbackDelta', 'fallbackScore'] as const) best[k].assign(next[k]);
    tf.dispose(Object.values(next));
  }

  /**
   * The δ the run reports: the current one, or with checkpoint selection, per budget group the best admissible
   * checkpoint, else the best fallback (before the first checkpoint: the current δ). Caller disposes.
   */
  private reported(): Tensor {
    const best = this.best;
    if (!best) return this.deltaVar.clone();
    return tf.tidy(() => {
      const pick = (has: Tensor, a: Tensor, b: Tensor) => tf.where(tf.broadcastTo(tf.reshape(has, [-1, 1, 1]), a.shape), a, b);
      const finite = (x: Tensor) => tf.greater(x, Number.NEGATIVE_INFINITY);
      return pick(finite(best.score), best.delta, pick(finite(best.fallbackScore), best.fallbackDelta, this.deltaVar));
    });
  }

  /** Per-sample metrics at the reported δ, read back in one transfer. */
  async sampleMetrics(): Promise<SampleMetrics[]> {
    const { site } = this;
    const { n } = site;
    const packed = tf.tidy(() => {
      const full = this.full(this.reported());
      const hRecAtSlots = tf.add(site.hDefAtSlots, full);
      const zRec = site.defendedActs(full);
      const dz = tf.sub(zRec, site.zDef);
      const norm = (x: Tensor) => tf.sqrt(tf.sum(tf.square(tf.reshape(x, [n, -1])), 1));
      const slot = site.slotMask;
      const eligible = tf.mul(tf.cast(tf.lessEqual(site.zDef, 0), 'float32'), slot);
      const activeRec = tf.mul(tf.cast(tf.greater(zRec, 0), 'float32'), slot);
      const count = (x: Tensor) => tf.sum(tf.reshape(x, [n, -1]), 1);
      // Against the clamp: lowering features it pushed up, raising features it pushed down.
      const against = clampDirection(site.spec.clamp) === 'up' ? tf.sub(site.zDef, zRec) : dz;
      return tf.stack([
        site.behaviourAt(full),
        norm(dz),
        norm(tf.mul(site.set.decodeDelta(dz, hRecAtSlots), slot)),
        norm(tf.relu(against)),
        count(eligible),
        count(tf.mul(eligible, activeRec)),
        norm(full),
        norm(tf.mul(site.sae.error(hRecAtSlots), slot)),
        count(activeRec),
      ]);
    });
    const data = await packed.data();
    packed.dispose();
    const col = (k: number, i: number) => data[k * n + i];
    const { baseline } = site;
    const out: SampleMetrics[] = [];
    for (let i = 0; i < n; i++) {
      const bRec = col(0, i);
      const valid = baseline.valid[i];
      const zNorm = baseline.zDefNorm[i];
      const relative = (v: number) => (zNorm > RATIO_MIN_DEFENDED_NORM ? v / zNorm : null);
      const span = baseline.bBase[i] - baseline.bDef[i];
      out.push({
        index: i,
        base: baseline.bBase[i],
        defended: baseline.bDef[i],
        recovered: bRec,
        valid,
        success: valid && bRec > 0,
        defendedNorm: zNorm,
        relDrift: relative(col(1, i)),
        absDrift: col(1, i),
        decodeDrift: col(2, i),
        floorViolation: relative(col(3, i)),
        eligible: col(4, i),
        reactivated: col(5, i),
        activeRecovered: col(8, i),
        deltaNorm: col(6, i),
        deltaOverResidual: col(6, i) / (baseline.hDefNorm[i] + 1e-8),
        recoveredFraction: span !== 0 ? (bRec - baseline.bDef[i]) / span : null,
        residualNormBase: baseline.residualBase[i],
        residualNormDefended: baseline.residualDef[i],
        residualNormRecovered: col(7, i),
      });
    }
    return out;
  }

  /** Read the metrics now and append them to the history. */
  async record(): Promise<{ entry: HistoryEntry; samples: SampleMetrics[] }> {
    const samples = await this.sampleMetrics();
    const g = this.lastGradients;
    const cosT = g ? (cosine(g.raw, g.projected) as Scalar) : null;
    const [cos, loss] = await Promise.all([cosT?.data(), this.lastLoss?.data()]);
    cosT?.dispose();
    const agg = summarise(samples);
    const entry: HistoryEntry = {
      step: this.stepCount,
      objective: agg.all.meanRecoveredScore,
      loss: loss ? loss[0] : null,
      recoveryRate: agg.recoveryRate,
      meanRelDrift: agg.relDrift.mean,
      meanAbsDrift: agg.meanAbsDrift,
      meanDeltaNorm: agg.meanDeltaNorm,
      residualNorm: agg.residualNorm.recovered,
      projectionCosine: cos ? cos[0] : null,
    };
    const last = this.history[this.history.length - 1];
    if (!last || last.step !== entry.step) this.history.push(entry);
    return { entry, samples };
  }

  /**
   * The run loop: step until done or paused, recording metrics every `metricsEvery` steps. Resolves with
   * the status; call again after pause() to resume from where it stopped. The CLI, the report, the worker
   * session and the budget sweep all run through here.
   */
  async run(control: RunControl = {}): Promise<RunStatus> {
    if (this.status === 'disposed') throw new Error('this run has been disposed');
    const every = Math.max(1, control.metricsEvery ?? 1);
    const sleep = control.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const yieldMs = control.yieldMs ?? 30;
    const delay = control.stepDelayMs ?? 0;
    this.pauseRequested = false;
    this.status = 'running';
    if (this.history.length === 0) await this.emit(control);
    let lastYield = performance.now();
    while (!this.finished) {
      if (this.pauseRequested) {
        this.status = 'paused';
        return this.status;
      }
      control.beforeStep?.(this.stepCount + 1);
      this.stepOnce();
      // The record before the snapshot: whoever saves a snapshot at this step then already holds its record,
      // so a run resumed from it leaves no hole in the history.
      if (this.stepCount % every === 0 || this.finished) await this.emit(control);
      await control.afterStep?.(this.stepCount);
      // Reading metrics back only resolves promises; a pause request needs a real turn of the event loop.
      if (delay > 0 || performance.now() - lastYield > yieldMs) {
        await sleep(delay);
        lastYield = performance.now();
      }
    }
    this.status = 'done';
    return this.status;
  }

  private async emit(control: RunControl): Promise<void> {
    const { entry, samples } = await this.record();
    await control.onMetrics?.(entry, samples);
  }

  pause(): void {
    this.pauseRequested = true;
  }

  /** The full result in the documented schema (public/schemas/recovery-result.schema.json). */
  async result(config: Record<string, unknown> = {}): Promise<RecoveryResult> {
    const samples = await this.sampleMetrics();
    if (this.history.length === 0 || this.history[this.history.length - 1].step !== this.stepCount) await this.record();
    return {
      config: { ...config, ...optionsForExport(this.options), features: this.site.set.indices },
      samples,
      aggregate: summarise(samples),
      history: this.history.slice(),
    };
  }

  /** The final δ, [N|1, P, d] flattened. */
  async deltaValues(): Promise<Float32Array> {
    const delta = this.reported();
    try {
      return (await delta.data()) as Float32Array;
    } finally {
      delta.dispose();
    }
  }

  async exportState(): Promise<RecoveryState> {
    const [delta, m, v] = await Promise.all([this.deltaVar.data(), this.m.data(), this.v.data()]);
    const state: RecoveryState = {
      step: this.stepCount,
      delta: delta as Float32Array,
      m: m as Float32Array,
      v: v as Float32Array,
      history: this.history.slice(),
    };
    if (this.best) {
      const [delta, score, fallbackDelta, fallbackScore] = (await Promise.all(
        [this.best.delta, this.best.score, this.best.fallbackDelta, this.best.fallbackScore].map((x) => x.data()),
      )) as Float32Array[];
      state.best = { delta, score, fallbackDelta, fallbackScore };
    }
    return state;
  }

  /** Continue a run from an exported state (e.g. on another backend after a lost device). */
  importState(state: RecoveryState): void {
    const shape = this.deltaVar.shape;
    const size = shape.reduce((a, b) => a * b, 1);
    if (state.delta.length !== size || state.m.length !== size || state.v.length !== size) {
      throw new RecoveryOptionError(`saved state has ${state.delta.length} values, this run needs ${size}`);
    }
    tf.tidy(() => {
      this.deltaVar.assign(tf.tensor(state.delta, shape));
      this.m.assign(tf.tensor(state.m, shape));
      this.v.assign(tf.tensor(state.v, shape));
      if (state.best && this.best) {
        this.best.delta.assign(tf.tensor(state.best.delta, shape));
        this.best.score.assign(tf.tensor1d(state.best.score));
        this.best.fallbackDelta.assign(tf.tensor(state.best.fallbackDelta, shape));
        this.best.fallbackScore.assign(tf.tensor1d(state.best.fallbackScore));
      }
    });
    this.stepCount = state.step;
    this.history.splice(0, this.history.length, ...state.history);
  }

  dispose(): void {
    if (this.status === 'disposed') return;
    this.disposeLast();
    tf.dispose(
      [
        this.deltaVar,
        this.m,
        this.v,
        ...(this.columns ? Object.values(this.columns) : []),
        ...(this.best ? Object.values(this.best) : []),
      ].filter(Boolean) as Tensor[],
    );
    this.projector?.dispose();
    this.status = 'disposed';
  }
}

/**
 * ρ = κ · median over the δ positions of ‖h_def‖ · √P, P the median number of δ positions a sample uses (not
 * the padded slot count: TPP's sentences differ in length) — docs/method.md §3.4.
 */
export function relativeBudget(site: RecoverySite, kappa: number): number {
  const rho = kappa * site.baseline.slotNormMedian * Math.sqrt(medianOf(site.slotsPerSample) ?? site.p);
  if (!(rho > 0 && Number.isFinite(rho)))
    throw new RecoveryOptionError(`a relative budget needs a non-zero residual at the δ positions (got ρ = ${rho})`);
  return rho;
}

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
