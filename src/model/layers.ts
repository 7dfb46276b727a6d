// The differentiable pieces every family is built from: frozen-weight products, norms, activations, rotary
// positions and one attention routine (grouped-query, sliding window, soft-capping, cached keys and values). Each
// family's model file composes these in its own order; the arithmetic of each piece lives here once.
//
// Written-out gradients: a recovery step differentiates with respect to the residual only, with every weight
// frozen, and on a GPU every kernel is a dispatch whose fixed cost, not its arithmetic, is what a step at one
// position per prompt pays; so the pieces on the step's path give their backward pass as a few kernels from saved
// values. Trainable weights (the built-in model's training) take TF.js's automatic gradient instead.
// Each written-out gradient's body runs in tf.tidy: TF.js 4.22 calls a custom gradient's gradFunc in the backward
// pass's one scope (backpropagateGradients tidies only the closure that hands the result over), so without it every
// intermediate of every layer's gradient would be held until the whole backward pass ends. The forward bodies need
// none: the engine runs them in a tidy of its own and keeps only the clones of what they save.
import { keepTransposes, tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor4D } from '../core/tf.ts';
import type { PastKV } from './types.ts';

/**
 * x · W (+ b) for a weight W and optional bias b. Frozen (not Variables), the product and the bias are one fused
 * kernel, and the backward pass forms only x's gradient, dy · Wᵀ; where transposeB is slow (keepTransposes: wasm),
 * by multiplying by `transposed()`, a copy of Wᵀ the caller keeps (made at the first backward pass: one more copy of
 * the weight in memory). Trainable weights (model training) take the automatic gradient, which also gives dW and db.
 */
export function matMulFrozen(x: Tensor2D, W: Tensor2D, transposed: () => Tensor2D, bias?: Tensor1D): Tensor2D {
  if (W instanceof tf.Variable || bias instanceof tf.Variable) return (bias ? tf.add(tf.matMul(x, W), bias) : tf.matMul(x, W)) as Tensor2D;
  const kept = keepTransposes();
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const a = args[0] as Tensor2D;
    return {
      value: bias ? tf.fused.matMul({ a, b: W, bias }) : tf.matMul(a, W),
      gradFunc: (dy: Tensor) => (kept ? tf.matMul(dy as Tensor2D, transposed()) : tf.matMul(dy as Tensor2D, W, false, true)),
    };
  });
  return f(x) as Tensor2D;
}

/** Wᵀ copies for matMulFrozen's gradient on wasm, made on first use and kept until disposed (one per model). */
export class TransposeCache {
  private readonly kept = new Map<Tensor2D, Tensor2D>();

  of(W: Tensor2D): Tensor2D {
    let Wt = this.kept.get(W);
    if (!Wt) {
      Wt = tf.keep(tf.transpose(W));
      this.kept.set(W, Wt);
    }
    return Wt;
  }

  dispose(): void {
    tf.dispose([...this.kept.values()]);
    this.kept.clear();
  }
}

/**
 * a · [kept; fresh] along the position axis 2 (with transposeB, a · [kept; fresh]ᵀ): attention over cached keys
 * (scores) or values (z). The cache is a constant of the step, so the backward pass gives `fresh` alone its share,
 * from the Tn score columns (or pattern columns) that meet it: at one query and one new position an elementwise
 * product. Automatic differentiation would form the gradient of the whole cache, [B, H, Tk, dh], by a batched
 * transposed matMul (on wasm ~5 ms each at 64 GPT-2-small prompts, against 0.3 ms for this product) and then
 * drop all but its last rows.
 */
export function matMulOverCache(a: Tensor4D, kept: Tensor4D, fresh: Tensor4D, transposeB: boolean): Tensor4D {
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const [x, y] = args as Tensor4D[];
    const full = tf.concat([kept, y], 2);
    (args[2] as tf.GradSaveFunc)([x, full]);
    return {
      value: tf.matMul(x, full, false, transposeB),
      gradFunc: (dy: Tensor, [xs, fs]: Tensor[]) =>
        tf.tidy(() => {
          const [B, H, T] = xs.shape as [number, number, number, number];
          const Tk = fs.shape[2] as number;
          const Tn = fresh.shape[2];
          const dx = tf.matMul(dy as Tensor4D, fs as Tensor4D, false, !transposeB);
          // dFresh = lᵀ · r, l the columns of the scores' gradient (or of the pattern) that meet fresh: [B, H, T, Tn].
          const cols = (u: Tensor) => tf.slice(u, [0, 0, 0, Tk - Tn], [B, H, T, Tn]) as Tensor4D;
          const [l, r] = transposeB ? [cols(dy), xs as Tensor4D] : [cols(xs), dy as Tensor4D];
          const dFresh = T === 1 && Tn === 1 ? tf.mul(tf.reshape(l, [B, H, 1, 1]), r) : tf.matMul(l, r, true, false);
          return [dx, dFresh];
        }),
    };
  });
  return f(a, fresh) as Tensor4D;
}

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * The tanh GELU (GPT-2's gelu_new, Gemma-2's gelu_pytorch_tanh), 0.5·x·(1 + tanh u) with u = √(2/π)·(x + 0.044715·x³),
 * computed as the identical x·σ(2u) (1 + tanh u = 2σ(2u)): TF.js's wasm sigmoid is vectorised and its tanh is not
 * (0.2 against 3.6 ms on 64 × 3,072 values). The derivative is written out from the saved x and s = σ(2u) (7 kernels
 * forward and 9 backward, where the tanh form recomputing tanh u took 9 and 19),
 *   s + 2·x·s·(1 − s)·u',  u' = √(2/π)·(1 + 3·0.044715·x²),
 * so a backward pass keeps two tensors per MLP, not the eight intermediates automatic differentiation would
 * (about 90 MB per layer for 64 GPT-2-small prompts of 15 tokens), and computes no transcendental function.
 */
export const gelu = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as Tensor;
  const s = tf.sigmoid(tf.mul(2 * GELU_C, tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x))))));
  (args[1] as tf.GradSaveFunc)([x, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: Tensor, [xs, ss]: Tensor[]) =>
      tf.tidy(() => {
        const twoDu = tf.add(2 * GELU_C, tf.mul(6 * GELU_C * 0.044715, tf.square(xs)));
        const d = tf.add(ss, tf.mul(tf.mul(xs, tf.mul(ss, tf.sub(1, ss))), twoDu));
        return tf.mul(dy, d);
      }),
  };
}) as (x: Tensor) => Tensor;

/**
 * The exact GELU, x·Φ(x) = 0.5·x·(1 + erf(x/√2)) (Pythia's "gelu"), with its derivative Φ(x) + x·φ(x) written out
 * from the saved x and Φ(x).
 */
export const geluErf = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as Tensor;
  const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
  (args[1] as tf.GradSaveFunc)([x, cdf]);
  return {
    value: tf.mul(x, cdf),
    gradFunc: (dy: Tensor, [xs, c]: Tensor[]) =>
      tf.tidy(() => {
        const pdf = tf.mul(1 / Math.sqrt(2 * Math.PI), tf.exp(tf.mul(-0.5, tf.square(xs))));
        return tf.mul(dy, tf.add(c, tf.mul(xs, pdf)));
      }),
  };
}) as (x: Tensor) => Tensor;

/** x̂ = (x − mean) / std over the last axis, std = √(var + ε); the backward pass reuses both. */
function normalise(x: Tensor, eps: number): { xhat: Tensor; std: Tensor } {
  const mean = tf.mean(x, -1, true);
  const xc = tf.sub(x, mean);
  const std = tf.sqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps));
  return { xhat: tf.div(xc, std), std };
}

/**
 * LayerNorm. With frozen w and b (a recovery step) its backward is written out,
 *   dx = (g − mean(g) − x̂ · mean(g · x̂)) / std,  g = dy · w,
 * 8 kernels where automatic differentiation of the moments takes about 25. The forward is the same arithmetic
 * either way. Trainable weights (model training) take the automatic gradient, which also gives dw, db.
 */
export function layerNorm(x: Tensor, w: Tensor1D, b: Tensor1D, eps: number): Tensor {
  if (w instanceof tf.Variable || b instanceof tf.Variable) {
    const { xhat } = normalise(x, eps);
    return tf.add(tf.mul(xhat, w), b);
  }
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const { xhat, std } = normalise(args[0] as Tensor, eps);
    (args[1] as tf.GradSaveFunc)([xhat, std]);
    return {
      value: tf.add(tf.mul(xhat, w), b),
      gradFunc: (dy: Tensor, [xh, std]: Tensor[]) =>
        tf.tidy(() => {
          const g = tf.mul(dy, w);
          const centred = tf.sub(g, tf.mean(g, -1, true));
          return tf.div(tf.sub(centred, tf.mul(xh, tf.mean(tf.mul(g, xh), -1, true))), std);
        }),
    };
  });
  return f(x);
}

/**
 * RMSNorm as Gemma computes it, x / √(mean(x²) + ε) · scale, where `scale` is the stored weight plus one (the
 * caller adds the one when loading; null when the scale has been folded into the weights that read the output).
 * Backward written out from the saved x̂ = x·r and r = (mean(x²) + ε)^(−1/2):
 *   dx = r · (g − x̂ · mean(g · x̂)),  g = dy · scale.
 */
export function rmsNorm(x: Tensor, scale: Tensor1D | null, eps: number): Tensor {
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const xs = args[0] as Tensor;
    const r = tf.rsqrt(tf.add(tf.mean(tf.square(xs), -1, true), eps));
    const xhat = tf.mul(xs, r);
    (args[1] as tf.GradSaveFunc)([xhat, r]);
    return {
      value: scale ? tf.mul(xhat, scale) : xhat,
      gradFunc: (dy: Tensor, [xh, rr]: Tensor[]) =>
        tf.tidy(() => {
          const g = scale ? tf.mul(dy, scale) : dy;
          return tf.mul(rr, tf.sub(g, tf.mul(xh, tf.mean(tf.mul(g, xh), -1, true))));
        }),
    };
  });
  return f(x);
}

/**
 * cap · tanh(x / cap) (Gemma-2's soft-capping of attention scores and of the final logits), computed as
 * cap · (2σ(2x/cap) − 1), the same function through wasm's vectorised sigmoid.
 */
export function softcap(x: Tensor, cap: number): Tensor {
  return tf.mul(cap, tf.sub(tf.mul(2, tf.sigmoid(tf.mul(2 / cap, x))), 1));
}

/**
 * Rotary position embedding (rotate-half convention, as Hugging Face's Gemma-2 and GPT-NeoX) on the first `dims`
 * of each head of x [B, T, H, d_head], the rest passed through, for positions offset .. offset + T − 1:
 *   x₁' = x₁·cos − x₂·sin,  x₂' = x₂·cos + x₁·sin  over the two halves of the rotated dims,
 * with angle position · θ^(−2i/dims). The angles are formed as Hugging Face forms them, in float32 (inverse
 * frequencies and their product with the position rounded to float32), then cos and sin taken.
 */
export function rotary(x: Tensor4D, dims: number, base: number, offset: number): Tensor4D {
  const [B, T, H, dh] = x.shape;
  const half = dims / 2;
  const cos = new Float32Array(T * half);
  const sin = new Float32Array(T * half);
  for (let i = 0; i < half; i++) {
    const invFreq = Math.fround(1 / base ** ((2 * i) / dims));
    for (let t = 0; t < T; t++) {
      const angle = Math.fround((offset + t) * invFreq);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  const c = tf.tensor4d(cos, [1, T, 1, half]);
  const s = tf.tensor4d(sin, [1, T, 1, half]);
  const parts = dims < dh ? tf.split(x, [half, half, dh - dims], 3) : tf.split(x, 2, 3);
  const [x1, x2] = parts;
  const r1 = tf.sub(tf.mul(x1, c), tf.mul(x2, s));
  const r2 = tf.add(tf.mul(x2, c), tf.mul(x1, s));
  return tf.reshape(tf.concat(dims < dh ? [r1, r2, parts[2]] : [r1, r2], 3), [B, T, H, dh]) as Tensor4D;
}

export interface AttentionShape {
  nHead: number;
  /** Key/value heads: nHead for multi-head attention, fewer for grouped-query (head h reads kv head ⌊h / (nHead/nKvHead)⌋). */
  nKvHead: number;
  headDim: number;
  /** Scores are q·kᵀ divided by this: √d_head, or Gemma-2's √query_pre_attn_scalar. */
  scoreDivisor: number;
  /** cap · tanh(scores / cap) before the mask (Gemma-2's attn_logit_softcapping). */
  softcap?: number;
  /** Sliding-window attention: a query sees keys less than `window` positions back. */
  window?: number;
}

/**
 * Causal attention of q [B, T, H, d_head] over k, v [B, T, H_kv, d_head] (after any rotary embedding), also over the
 * cached keys and values of earlier positions `past` when given (the queries then sit at positions T_past ..).
 * `hook(name, x)` is the family's hook for attn.hook_attn_scores (the scores after masking, as TransformerLens has
 * them) and attn.hook_pattern, each [B, H, T, T_k]. Returns z [B, T, H, d_head] (attn.hook_z before the family's
 * hook). Masking adds a large negative (not −∞), which keeps fully masked rows finite.
 */
export function attention(
  q: Tensor4D,
  k: Tensor4D,
  v: Tensor4D,
  a: AttentionShape,
  past: PastKV | undefined,
  attentionMask: Tensor2D | undefined,
  hook: (name: 'hook_attn_scores' | 'hook_pattern', x: Tensor) => Tensor,
): Tensor4D {
  const [B, T, H, dh] = q.shape;
  const Hkv = a.nKvHead;
  const G = H / Hkv;
  // [B, T, H, dh] ↔ [B, H, T, dh]; at one position both are the same memory order, so a reshape (no kernel).
  const swap = (u: Tensor, shape: [number, number, number, number]) =>
    (T === 1 ? tf.reshape(u, shape) : tf.transpose(u, [0, 2, 1, 3])) as Tensor4D;
  // Grouped-query: the G query heads of one kv head are contiguous, so [B, H, T, dh] is [B, H_kv, G·T, dh] as it lies.
  const qh = tf.reshape(swap(q, [B, H, T, dh]), [B, Hkv, G * T, dh]) as Tensor4D;
  const kh = swap(k, [B, Hkv, T, dh]);
  const vh = swap(v, [B, Hkv, T, dh]);
  const Tp = past?.k.shape[2] ?? 0;
  const Tk = T + Tp;
  const qk = past ? matMulOverCache(qh, past.k, kh, true) : tf.matMul(qh, kh, false, true);
  let raw = tf.reshape(tf.div(qk, a.scoreDivisor), [B, H, T, Tk]);
  if (a.softcap !== undefined) raw = softcap(raw, a.softcap);
  // One query position that sees every key (a step from the hook onward at the last token, no padding, the window
  // not reached) needs no mask, and none of its kernels.
  let masked = raw;
  if (T > 1 || attentionMask || (a.window !== undefined && Tk > a.window)) {
    let allowed: Tensor = tf.tensor4d(allowedKeys(T, Tk, a.window), [1, 1, T, Tk]);
    if (attentionMask) allowed = tf.mul(allowed, tf.reshape(attentionMask, [B, 1, 1, Tk]));
    masked = tf.add(raw, tf.mul(tf.sub(1, allowed), -1e9));
  }
  const scores = hook('hook_attn_scores', masked);
  const pattern = tf.reshape(hook('hook_pattern', tf.softmax(scores, -1)), [B, Hkv, G * T, Tk]) as Tensor4D;
  const zh = past ? matMulOverCache(pattern, past.v, vh, false) : tf.matMul(pattern, vh);
  return swap(tf.reshape(zh, [B, H, T, dh]), [B, T, H, dh]);
}

/** 1 where query t (at position Tk − T + t) may read key j: j ≤ its position, and within the window when there is one. */
function allowedKeys(T: number, Tk: number, window?: number): Float32Array {
  const out = new Float32Array(T * Tk);
  for (let t = 0; t < T; t++) {
    const pos = Tk - T + t;
    const first = window === undefined ? 0 : Math.max(0, pos - window + 1);
    out.fill(1, t * Tk + first, t * Tk + pos + 1);
  }
  return out;
}
