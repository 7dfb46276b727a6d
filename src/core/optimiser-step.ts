// One optimiser step of the recovery attack (docs/method.md §3): the loss (behaviour plus the drift penalties),
// its gradient projected by the run's mode, Adam or L2 projected gradient, then the budget clip and, in jacobian
// mode, the drift-correction steps. Pure tensor work in one tf.tidy; RecoveryRun (recovery.ts) owns the state.
import { tf, type Scalar, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D } from './tf.ts';
import { type EncoderProjector, type MaskedColumns, orthonormalRows, projectOffMaskedColumns, projectOffRows } from './projection.ts';
import { mixSeed, mulberry32, normals } from './rng.ts';
import type { RecoverySite } from './site.ts';
import type { RecoveryOptions } from './options.ts';

/** The epsilon in the relative drift penalty's denominator (the paper's). */
const ACT_LOSS_EPS = 1e-8;

/** What a step reads besides δ and Adam's moments: fixed for the whole run. */
export interface StepContext {
  site: RecoverySite;
  options: RecoveryOptions;
  /** encoder mode: the ridge projection off the defended encoder directions. */
  projector: EncoderProjector | null;
  /** The defended encoder columns, for the exact Jacobian projection (affine encoders). */
  columns: MaskedColumns | null;
}

/**
 * δ as the site sees it, [N, P, d], zero on unused slots: the product with the [N, P, 1] slot mask broadcasts a
 * shared [1, P, d] δ (an explicit broadcastTo is a Tile, which TF.js's wasm backend runs ~100× slower).
 */
export function fullDelta(site: RecoverySite, delta: Tensor): Tensor3D {
  return tf.mul(delta, site.slotMask) as Tensor3D;
}

/**
 * Per-sample relative squared drift Σ(z − z_def)² / (Σ z_def² + ε), the paper's act loss with its ε = 1e-8:
 * where the clamp leaves z_def ≈ 0 this is huge, as in the paper (use λ_act with clamps that keep features on).
 */
function actLoss(site: RecoverySite, full: Tensor3D): Tensor1D {
  const dz = tf.sub(site.defendedActs(full), site.zDef);
  const num = tf.sum(tf.square(dz), [1, 2]);
  return tf.div(num, tf.add(tf.sum(tf.square(site.zDef), [1, 2]), ACT_LOSS_EPS)) as Tensor1D;
}

/**
 * What the jacobian mode's correction steps descend: the squared drift relative to max(Σ z_def², 1). Plain
 * gradient steps of a fixed size on the ε-relative loss would jump far past the ball where z_def ≈ 0.
 */
function correctionLoss(site: RecoverySite, full: Tensor3D): Scalar {
  const dz = tf.sub(site.defendedActs(full), site.zDef);
  const den = tf.maximum(tf.sum(tf.square(site.zDef), [1, 2]), 1);
  return tf.mean(tf.div(tf.sum(tf.square(dz), [1, 2]), den)) as Scalar;
}

function decLoss(site: RecoverySite, full: Tensor3D): Tensor1D {
  const dz = tf.sub(site.defendedActs(full), site.zDef);
  return tf.sum(tf.square(site.set.decodeDelta(dz, site.outAtSlots(full))), [1, 2]) as Tensor1D;
}

/** The adaptive attacker's term against a monitor: max(0, score − threshold) per sample. */
function detectLoss(site: RecoverySite, full: Tensor3D): Tensor1D {
  return tf.relu(tf.sub(site.detectorScores(full)!, site.detector!.threshold)) as Tensor1D;
}

function penalty({ site, options }: StepContext, full: Tensor3D): Scalar | null {
  const { lambdaAct, lambdaDec, lambdaDetect } = options;
  let p: Tensor | null = null;
  const add = (x: Tensor) => {
    p = p ? tf.add(p, x) : x;
  };
  if (lambdaAct > 0) add(tf.mul(lambdaAct, tf.mean(actLoss(site, full))));
  if (lambdaDec > 0) add(tf.mul(lambdaDec, tf.mean(decLoss(site, full))));
  if (lambdaDetect > 0 && site.detector) add(tf.mul(lambdaDetect, tf.mean(detectLoss(site, full))));
  return p as Scalar | null;
}

/** Clip each budget group (a sample, or the whole shared δ) to ‖·‖ ≤ ρ. */
function clip({ options }: StepContext, delta: Tensor): Tensor {
  const n = tf.sqrt(tf.sum(tf.square(delta), [1, 2], true));
  return tf.mul(delta, tf.minimum(1, tf.div(options.budget, tf.add(n, 1e-12))));
}

function masked({ site, options }: StepContext, delta: Tensor): Tensor {
  // Unused slots hold no δ (their gradient is already 0; this keeps Adam's ε-noise out of the norms).
  return options.delta === 'shared' ? delta : tf.mul(delta, site.slotMask);
}

/**
 * The behaviour gradient with the rows of ∂z_S/∂δ projected out.
 * Exact (single layer, affine encoder, |S| ≤ exactMaxRows): the rows at a slot are the encoder directions
 * of the defended features live there, so the projection is off span{A_j : j live} — solved per slot with
 * the fixed Gram matrix AᵀA. A shared δ is constrained by every sample's live rows: the union of masks.
 * Sketch otherwise: VJPs of z_S·r for the drift direction and k seeded Gaussian probes (seeded by the steps
 * taken so far), orthonormalised.
 */
function projectOffJacobian(ctx: StepContext, delta: Tensor, grad: Tensor, stepsTaken: number): Tensor {
  const { site, options, columns } = ctx;
  const { n, p, d } = site;
  const s = site.set.size;
  const shared = options.delta === 'shared';
  const full = fullDelta(site, delta);
  if (columns && s <= options.jacobian.exactMaxRows) {
    const active = site.activeMask(full); // [N, P, s]
    const mask = shared ? tf.max(active, 0) : tf.reshape(active, [n * p, s]); // [P, s] or [N·P, s]
    const rows = tf.reshape(grad, [-1, d]) as Tensor2D;
    return tf.reshape(projectOffMaskedColumns(rows, columns, mask as Tensor2D, options.ridge), grad.shape);
  }
  const k = options.jacobian.probes;
  const rand = mulberry32(mixSeed(options.seed, stepsTaken));
  const drift = tf.sub(site.defendedActs(full), site.zDef);
  const driftDir = tf.div(drift, tf.add(tf.sqrt(tf.sum(tf.square(drift), [1, 2], true)), 1e-12));
  const cotangents: Tensor[] = [driftDir];
  for (let i = 0; i < k; i++) cotangents.push(tf.mul(tf.tensor3d(normals(rand, n * p * s), [n, p, s]), site.slotMask));
  // Per-sample δ keeps samples apart (each row is that sample's); a shared δ sums them.
  const rows = cotangents.map((r) => tf.grad((x: Tensor) => tf.sum(tf.mul(site.defendedActs(fullDelta(site, x)), r)))(delta));
  const B = shared ? 1 : n;
  const V = tf.stack(
    rows.map((r) => tf.reshape(r, [B, p * d])),
    1,
  ) as Tensor3D; // [B, k+1, P·d]
  return tf.reshape(projectOffRows(tf.reshape(grad, [B, p * d]) as Tensor2D, orthonormalRows(V)), grad.shape);
}

/** The optimiser's tensors before a step: δ and Adam's first and second moments. */
export interface StepState {
  delta: Tensor;
  m: Tensor;
  v: Tensor;
}

/**
 * Step number t (1-based): the next δ and moments (a moment comes back as the given tensor itself when the
 * optimiser leaves it alone, as pgd does), the raw and projected gradients, and the loss. Queues device work and
 * reads nothing back; every intermediate is freed, the returned tensors are the caller's.
 */
export function optimiserStep(
  ctx: StepContext,
  state: StepState,
  t: number,
): readonly [delta: Tensor, m: Tensor, v: Tensor, raw: Tensor, projected: Tensor, loss: Scalar] {
  const { options, site } = ctx;
  const { beta1, beta2, eps } = options.adam;
  return tf.tidy(() => {
    const { delta } = state;
    const full = (x: Tensor) => fullDelta(site, x);
    const behaviourLoss = (x: Tensor) => tf.neg(tf.mean(site.behaviourAt(full(x)))) as Scalar;
    let g: Tensor;
    let raw: Tensor;
    let lossValue: Scalar;
    if (options.mode === 'jacobian') {
      const { value, grad } = tf.valueAndGrad(behaviourLoss)(delta);
      raw = grad;
      g = projectOffJacobian(ctx, delta, grad, t - 1);
      lossValue = value;
      const pen = (x: Tensor) => penalty(ctx, full(x));
      if (options.lambdaAct > 0 || options.lambdaDec > 0 || (options.lambdaDetect > 0 && site.detector)) {
        const pg = tf.valueAndGrad((x: Tensor) => pen(x)!)(delta);
        g = tf.add(g, pg.grad);
        lossValue = tf.add(lossValue, pg.value) as Scalar;
      }
    } else {
      const { value, grad } = tf.valueAndGrad((x: Tensor) => {
        const b = behaviourLoss(x);
        const p = penalty(ctx, full(x));
        return (p ? tf.add(b, p) : b) as Scalar;
      })(delta);
      raw = grad;
      g = ctx.projector ? ctx.projector.project(grad) : grad;
      lossValue = value;
    }
    let m: Tensor = state.m;
    let v: Tensor = state.v;
    let next: Tensor;
    if (options.optimizer === 'adam') {
      m = tf.add(tf.mul(state.m, beta1), tf.mul(g, 1 - beta1));
      v = tf.add(tf.mul(state.v, beta2), tf.mul(tf.square(g), 1 - beta2));
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
    if (ctx.projector && options.reproject) next = ctx.projector.project(next);
    next = clip(ctx, masked(ctx, next));
    if (options.mode === 'jacobian' && options.jacobian.correctionSteps > 0 && options.jacobian.correctionLr > 0) {
      const driftGrad = tf.grad((x: Tensor) => correctionLoss(site, full(x)));
      for (let c = 0; c < options.jacobian.correctionSteps; c++) {
        next = clip(ctx, masked(ctx, tf.sub(next, tf.mul(options.jacobian.correctionLr, driftGrad(next)))));
      }
    }
    return [next, m, v, raw, g, lossValue] as const;
  });
}
