// The defence at the hook (docs/defences.md): what the model reads there, as a position-wise map of the clean
// residual h, its clamped state T(h) = D(clamp_S(E(h))) + e(h) and the attacker's δ. Every scenario and attack mode
// goes through this one map (the recovery site, the scenario's side effects, refusal's generation):
//   clamp          T(h) + δ                                  (the paper's; δ after the clamp)
//   reclamp        T(T(h) + δ)                               (the clamp re-applied to what δ made)
//   no-error-term  D(clamp(E(h + δ)))                        (the reconstruction only)
//   clip-error     D(clamp(E(x))) + e(x)·min(1, c/‖e(x)‖), x = h + δ
//   ablate-span    x − Q Qᵀ x, x = h + δ, Q an orthonormal basis of span(W_dec[S])
// Later layers (multi-layer's clamps, ablate-span's projections) are model hooks: LaterLayer.
import { tf, type Tensor, type Tensor2D } from './tf.ts';
import { type DefendedSet, applyClamp } from './intervention.ts';
import { matmulLast } from './sae.ts';
import type { ClampRule } from './clamp.ts';
import type { HookKind } from './defence-kinds.ts';

/** T(h) = D(clamp_S(E(h))) + e(h) = h + D(z′) − D(z), through the S columns only. */
export function clampedState(set: DefendedSet, rule: ClampRule, h: Tensor): Tensor {
  const zS = set.acts(h);
  return tf.add(h, set.decodeDelta(tf.sub(applyClamp(zS, rule), zS), h));
}

/** An orthonormal basis of the rows of W [s, d] (modified Gram–Schmidt in float64; dependent rows dropped), [r, d]. */
export function orthonormalBasis(W: Float32Array, s: number, d: number): { data: Float32Array; rank: number } {
  const rows: Float64Array[] = [];
  for (let i = 0; i < s; i++) {
    const v = Float64Array.from(W.subarray(i * d, (i + 1) * d));
    const norm0 = Math.hypot(...v);
    for (const q of rows) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += q[j] * v[j];
      for (let j = 0; j < d; j++) v[j] -= dot * q[j];
    }
    const norm = Math.hypot(...v);
    if (norm <= 1e-6 * Math.max(norm0, 1e-30)) continue;
    for (let j = 0; j < d; j++) v[j] /= norm;
    rows.push(v);
  }
  const data = new Float32Array(rows.length * d);
  rows.forEach((r, i) => data.set(r, i * d));
  return { data, rank: rows.length };
}

/** x − Q Qᵀ x for rows of x [..., d], Q [r, d] orthonormal. */
export function projectOutSpan(x: Tensor, Q: Tensor2D): Tensor {
  return tf.sub(x, matmulLast(matmulLast(x, tf.transpose(Q) as Tensor2D), Q));
}

export interface HookDefenceParams {
  /** clip-error: the cap on ‖e(x)‖ per position. */
  errorCap?: number;
}

export class HookDefence {
  /** ablate-span: the orthonormal basis of span(W_dec[S]), [r, d]. */
  readonly span: Tensor2D | null;
  private readonly scatter: Tensor2D | null;

  private constructor(
    readonly kind: HookKind,
    readonly set: DefendedSet,
    readonly rule: ClampRule,
    readonly params: HookDefenceParams,
    span: Tensor2D | null,
  ) {
    if (kind === 'clip-error' && !(params.errorCap !== undefined && params.errorCap >= 0 && Number.isFinite(params.errorCap)))
      throw new Error('clip-error needs a finite, non-negative cap on the error norm');
    this.span = span;
    // z′ = z + (clamp(z_S) − z_S)·onehot: the S columns written back into the full code (no-error-term, clip-error).
    // (In a tidy: the index tensor oneHot reads is freed with it.)
    this.scatter =
      kind === 'no-error-term' || kind === 'clip-error'
        ? tf.tidy(() => tf.oneHot(tf.tensor1d(set.indices, 'int32'), set.sae.dSae) as Tensor2D)
        : null;
  }

  static async create(kind: HookKind, set: DefendedSet, rule: ClampRule, params: HookDefenceParams = {}): Promise<HookDefence> {
    let span: Tensor2D | null = null;
    if (kind === 'ablate-span') {
      const W = (await set.W_decS.data()) as Float32Array;
      const { data, rank } = orthonormalBasis(W, set.size, set.sae.dIn);
      span = tf.tensor2d(data, [rank, set.sae.dIn]);
    }
    return new HookDefence(kind, set, rule, params, span);
  }

  /** Is out(h, δ) = out(h, 0) + δ? Then z_S(out) = z_S(h_def + δ) and the exact Jacobian rows and the path replay hold. */
  get additive(): boolean {
    return this.kind === 'clamp';
  }

  /** The clamped reconstruction D(clamp(E(x))) and the error e(x), for x [..., d]. */
  private splice(x: Tensor): { recon: Tensor; error: Tensor } {
    const { sae } = this.set;
    const z = sae.encode(x);
    const zS = this.set.acts(x);
    const zClamped = tf.add(z, matmulLast(tf.sub(applyClamp(zS, this.rule), zS), this.scatter!));
    return { recon: sae.decodeFor(zClamped, x), error: sae.error(x) };
  }

  /**
   * What the model reads at the hook, [..., d], from the clean residual h, its clamped state hc = T(h) (with any
   * fixed perturbation the site adds) and δ (null: no attack). Position-wise: rows never mix.
   */
  apply(h: Tensor, hc: Tensor, delta: Tensor | null): Tensor {
    const plus = (x: Tensor) => (delta ? tf.add(x, delta) : x);
    switch (this.kind) {
      case 'clamp':
        return delta ? tf.add(hc, delta) : hc;
      case 'reclamp':
        return clampedState(this.set, this.rule, plus(hc));
      case 'no-error-term':
        return this.splice(plus(h)).recon;
      case 'clip-error': {
        const { recon, error } = this.splice(plus(h));
        const norm = tf.sqrt(tf.add(tf.sum(tf.square(error), -1, true), 1e-12));
        return tf.add(recon, tf.mul(error, tf.minimum(1, tf.div(this.params.errorCap!, norm))));
      }
      case 'ablate-span':
        return projectOutSpan(plus(h), this.span!);
    }
  }

  dispose(): void {
    this.span?.dispose();
    this.scatter?.dispose();
  }
}

/** A defence at a later layer's residual hook, as a model hook: multi-layer's clamp there, ablate-span's projection. */
export interface LaterLayer {
  hook: string;
  /** [..., d] → [..., d], position-wise. */
  apply(x: Tensor): Tensor;
  /** What acts there, in words (results record it). */
  describe: string;
  dispose(): void;
}

/** The clamp at a later layer with its own SAE and defended set (the set is the LaterLayer's to dispose). */
export function laterClamp(hook: string, set: DefendedSet, rule: ClampRule): LaterLayer {
  return {
    hook,
    apply: (x) => clampedState(set, rule, x),
    describe: `clamp ${set.size} features`,
    dispose: () => set.dispose(),
  };
}

/** ablate-span's projection at a later layer (Q is shared with the hook's defence, which owns it). */
export function laterProjection(hook: string, Q: Tensor2D): LaterLayer {
  return { hook, apply: (x) => projectOutSpan(x, Q), describe: `project out a ${Q.shape[0]}-dimensional span`, dispose: () => {} };
}
