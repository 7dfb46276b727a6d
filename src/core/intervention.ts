// The defended features of an SAE and the clamp on them (docs/method.md §2): h_def = D(clamp_S(E(h))) + e(h) =
// h + [D(z') − D(z)], computed in defence.ts (clampedState) through the S columns only, so a clamp on a
// 24k-feature SAE costs |S| columns. The defences built on it are defence.ts.
import { tf, type Tensor, type Tensor1D, type Tensor2D } from './tf.ts';
import { type Sae, SaeError, affine, matmulLast } from './sae.ts';
import type { ClampRule } from './clamp.ts';

/** z'_S from z_S under a clamp rule. */
export function applyClamp(zS: Tensor, rule: ClampRule): Tensor {
  if (rule.kind === 'multiply') return tf.mul(zS, rule.factor);
  if (!rule.onlyActive) return tf.add(tf.mul(zS, 0), rule.value);
  const active = tf.step(zS); // 1 where z > 0
  return tf.add(zS, tf.mul(active, tf.sub(rule.value, zS)));
}

/**
 * The defended features of one SAE: their encoder columns, biases and decoder rows, gathered once.
 * Everything per step reads these, never the full W_enc, except TopK, whose membership depends on all
 * pre-activations.
 */
export class DefendedSet {
  readonly indices: number[];
  readonly W_encS: Tensor2D; // [d, s]
  readonly b_encS: Tensor1D; // [s]
  readonly W_decS: Tensor2D; // [s, d]
  readonly thresholdS?: Tensor1D;
  private readonly idx: Tensor1D;

  constructor(
    readonly sae: Sae,
    indices: readonly number[],
  ) {
    if (indices.length === 0) throw new SaeError('the defended set is empty: choose at least one feature');
    const seen = new Set<number>();
    for (const i of indices) {
      if (!Number.isInteger(i) || i < 0 || i >= sae.dSae) {
        throw new SaeError(`feature index ${i} is out of range: this SAE has features 0..${sae.dSae - 1}`);
      }
      if (seen.has(i)) throw new SaeError(`feature index ${i} is listed twice`);
      seen.add(i);
    }
    this.indices = [...indices];
    this.idx = tf.tensor1d(this.indices, 'int32');
    this.W_encS = tf.gather(sae.W_enc, this.idx, 1) as Tensor2D;
    this.b_encS = tf.gather(sae.b_enc, this.idx) as Tensor1D;
    this.W_decS = tf.gather(sae.W_dec, this.idx, 0) as Tensor2D;
    if (sae.threshold) this.thresholdS = tf.gather(sae.threshold, this.idx) as Tensor1D;
  }

  get size(): number {
    return this.indices.length;
  }

  /** Pre-activations of S, [..., s]. */
  preActs(h: Tensor): Tensor {
    return affine(this.sae.encoderInput(h), this.W_encS, this.b_encS);
  }

  /** z_S(h) = E(h)_S, [..., s], differentiable w.r.t. h. */
  acts(h: Tensor): Tensor {
    const pre = this.preActs(h);
    switch (this.sae.cfg.architecture) {
      case 'standard':
        return tf.relu(pre);
      case 'jumprelu':
        return tf.mul(tf.relu(pre), tf.step(tf.sub(pre, this.thresholdS!)));
      case 'topk':
        return tf.mul(tf.relu(pre), this.topkMembership(h));
    }
  }

  /** ∂z_S/∂pre_S: 1 where a defended feature is active (its Jacobian row is live), [..., s]. */
  activeMask(h: Tensor): Tensor {
    const pre = this.preActs(h);
    switch (this.sae.cfg.architecture) {
      case 'standard':
        return tf.step(pre);
      case 'jumprelu':
        return tf.mul(tf.step(pre), tf.step(tf.sub(pre, this.thresholdS!)));
      case 'topk':
        return tf.mul(tf.step(pre), this.topkMembership(h));
    }
  }

  /**
   * The encoder directions the clamp reads, ∂pre_S/∂h as columns [d, s]. With centring, the per-token
   * mean removal is linear, so the effective direction is the column minus its mean. Exact for every
   * architecture whose input transform is affine (all but constant_norm_rescale, where it is the
   * direction at unit scale).
   */
  encoderDirections(): Tensor2D {
    return tf.tidy(() => (this.sae.cfg.centerInput ? tf.sub(this.W_encS, tf.mean(this.W_encS, 0, true)) : this.W_encS.clone()) as Tensor2D);
  }

  /** D(z + Δz_S) − D(z): the decoder's response to a change of the defended activations. */
  decodeDelta(dzS: Tensor, h?: Tensor): Tensor {
    return this.sae.decodeDelta(dzS, this.W_decS, h);
  }

  /** TopK membership of S, computed from all pre-activations inside an untaped op (zero gradient). */
  private topkMembership(h: Tensor): Tensor {
    const { sae, idx } = this;
    const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
      const x = args[0] as Tensor;
      const value = tf.tidy(() => {
        const pre = sae.preActivations(x);
        const lead = pre.shape.slice(0, -1);
        const kth = tf.slice(tf.topk(pre, sae.cfg.k!, true).values, [...lead.map(() => 0), sae.cfg.k! - 1], [...lead, 1]);
        const preS = tf.gather(pre, idx, pre.rank - 1);
        return tf.sub(1, tf.step(tf.sub(kth, preS)));
      });
      const shape = x.shape;
      return { value, gradFunc: () => tf.zeros(shape) };
    });
    return f(h) as Tensor;
  }

  dispose(): void {
    tf.dispose([this.idx, this.W_encS, this.b_encS, this.W_decS]);
    this.thresholdS?.dispose();
  }
}

/** The same state written out in full, D(z') + e(h), for tests and for readers who want to see it. */
export function defendedStateFull(set: DefendedSet, rule: ClampRule, h: Tensor): Tensor {
  const { sae } = set;
  const z = sae.encode(h);
  const zS = set.acts(h);
  // Scatter the clamped S values into z by adding (z'_S − z_S) through a one-hot [s, m] map.
  const oneHot = tf.oneHot(tf.tensor1d(set.indices, 'int32'), sae.dSae) as Tensor2D;
  const zClamped = tf.add(z, matmulLast(tf.sub(applyClamp(zS, rule), zS), oneHot));
  return tf.add(sae.decodeFor(zClamped, h), sae.error(h));
}
