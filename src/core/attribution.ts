// Feature attribution to the behaviour through a pass-through SAE (docs/method.md §6.1):
//   attr_f = mean_i Σ_t z_{i,t,f} · ∂B_i/∂z_{i,t,f},   with h = D(z) + e(h) and e detached,
// so ∂B/∂z_f = (∂B/∂h)·W_dec[f]ᵀ. Used to pick the defended set ("top-K positive").
import { keepTransposes, tf, type Tensor, type Tensor2D, type Tensor3D } from './tf.ts';
import type { Sae } from './sae.ts';
import type { Behaviour } from './site.ts';

/**
 * attr [d_sae]. `tokenWeights` [N, T] selects which tokens count (e.g. only the answer position); all
 * tokens when omitted. Work is chunked over samples so the [N, T, d_sae] activations never exist at once.
 */
export async function featureAttribution(sae: Sae, h: Tensor3D, behaviour: Behaviour, tokenWeights?: Float32Array): Promise<Float32Array> {
  const [n, t, d] = h.shape;
  const m = sae.dSae;
  const grad = tf.tidy(() => tf.grad((x: Tensor) => tf.sum(behaviour(x as Tensor3D)))(h)) as Tensor3D;
  const weights = tf.tensor3d(tokenWeights ?? new Float32Array(n * t).fill(1), [n, t, 1]);
  const chunk = Math.max(1, Math.floor(4_000_000 / Math.max(1, t * m)));
  let total = tf.zeros([m]);
  // W_decᵀ made once for the whole loop where transposeB is slow (keepTransposes), and freed after it.
  const W_decT = keepTransposes() ? tf.transpose(sae.W_dec) : null;
  for (let start = 0; start < n; start += chunk) {
    const size = Math.min(chunk, n - start);
    const next = tf.tidy(() => {
      const hc = tf.slice(h, [start, 0, 0], [size, t, d]);
      const gc = tf.mul(tf.slice(grad, [start, 0, 0], [size, t, d]), tf.slice(weights, [start, 0, 0], [size, t, 1]));
      const rows = tf.reshape(gc, [-1, d]) as Tensor2D;
      let dBdz = W_decT ? tf.matMul(rows, W_decT) : tf.matMul(rows, sae.W_dec, false, true); // [size·T, m]
      if (sae.cfg.normalizeActivations === 'constant_norm_rescale') {
        // ĥ = (zW_dec + b_dec)/scale, so ∂ĥ/∂z carries 1/scale per token.
        const x = tf.reshape(hc, [-1, d]);
        const centred = sae.cfg.centerInput ? tf.sub(x, tf.mean(x, -1, true)) : x;
        const scale = tf.div(Math.sqrt(d), tf.add(tf.norm(centred, 'euclidean', -1, true), 1e-8));
        dBdz = tf.div(dBdz, scale);
      }
      const z = tf.reshape(sae.encode(hc), [-1, m]);
      return tf.add(total, tf.sum(tf.mul(z, dBdz), 0));
    });
    total.dispose();
    total = next;
  }
  const attr = await total.data();
  tf.dispose([grad, weights, total, ...(W_decT ? [W_decT] : [])]);
  return Float32Array.from(attr, (v) => v / n);
}

/**
 * featureAttribution through the behaviour's `onward` form (core/site.ts) where it has one: the weights select
 * nothing before the first position where one is nonzero, so the backward pass runs from there (or from the
 * behaviour's read-out, if earlier) on, over the keys and values of the positions before it, cached once, instead
 * of over every position from the hook. The same attribution up to float32 rounding (the forward over the suffix
 * reads the cached keys and values where the whole residual's recomputes them, and the chunks are larger); the
 * backward pass's activations shrink with the positions it runs over (64 prompts of 15 tokens at GPT-2 small, δ
 * at the last: 1 row of 15). Without an onward form, or with a weight at position 0, it is featureAttribution.
 */
export async function featureAttributionOnward(
  sae: Sae,
  h: Tensor3D,
  behaviour: Behaviour,
  tokenWeights: Float32Array,
): Promise<Float32Array> {
  const [n, t, d] = h.shape;
  let first = t;
  for (let i = 0; i < n; i++)
    for (let p = 0; p < first; p++)
      if (tokenWeights[i * t + p] !== 0) {
        first = p;
        break;
      }
  if (!behaviour.onward || first === 0 || first === t) return featureAttribution(sae, h, behaviour, tokenWeights);
  const onward = behaviour.onward(h, first);
  try {
    const from = onward.from;
    if (from === 0) return await featureAttribution(sae, h, behaviour, tokenWeights);
    const rest = t - from;
    const suffix = tf.slice(h, [0, from, 0], [n, rest, d]) as Tensor3D;
    const weights = new Float32Array(n * rest);
    for (let i = 0; i < n; i++) weights.set(tokenWeights.subarray(i * t + from, (i + 1) * t), i * rest);
    try {
      return await featureAttribution(sae, suffix, onward.behaviour, weights);
    } finally {
      suffix.dispose();
    }
  } finally {
    onward.dispose();
  }
}
