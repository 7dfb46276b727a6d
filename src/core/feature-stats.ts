// Per-feature statistics of an SAE on a batch of residuals, in one chunked pass (the [N, T, d_sae]
// activations never exist at once): what the feature table shows and what the selection rules read.
import { tf, type Tensor3D } from './tf.ts';
import type { Sae } from './sae.ts';

export interface FeatureStats {
  /** Mean activation over real tokens. */
  meanActivation: Float32Array;
  /** Mean over inputs of each input's mean over its real tokens (SAEBench's class-effect means). */
  meanPerInput: Float32Array;
  /** Share of real tokens where the feature fires (z > 0), and its log10 (floored at 1e-10). */
  frequency: Float32Array;
  logDensity: Float32Array;
}

/** `mask` [N, T]: 1 = real token. */
export async function featureStatistics(sae: Sae, h: Tensor3D, mask: Float32Array): Promise<FeatureStats> {
  const [n, t, d] = h.shape;
  const m = sae.dSae;
  const chunk = Math.max(1, Math.floor(2_000_000 / Math.max(1, t * m)));
  const perInput = new Float32Array(n * t);
  let tokens = 0;
  for (let i = 0; i < n; i++) {
    let k = 0;
    for (let j = 0; j < t; j++) k += mask[i * t + j];
    for (let j = 0; j < t; j++) perInput[i * t + j] = mask[i * t + j] / Math.max(k, 1);
    tokens += k;
  }
  const weights = tf.tensor2d(perInput, [n * t, 1]);
  const real = tf.tensor2d(mask, [n * t, 1]);
  let sums = tf.zeros([3, m]);
  for (let start = 0; start < n; start += chunk) {
    const size = Math.min(chunk, n - start);
    const next = tf.tidy(() => {
      const z = tf.reshape(sae.encode(tf.slice(h, [start, 0, 0], [size, t, d])), [size * t, m]);
      const rows = (w: tf.Tensor) => tf.slice(w, [start * t, 0], [size * t, 1]);
      const add = tf.stack([
        tf.sum(tf.mul(z, rows(real)), 0),
        tf.sum(tf.mul(z, rows(weights)), 0),
        tf.sum(tf.mul(tf.step(z), rows(real)), 0),
      ]);
      return tf.add(sums, add);
    });
    sums.dispose();
    sums = next;
  }
  const data = (await sums.data()) as Float32Array;
  tf.dispose([sums, weights, real]);
  const row = (r: number) => data.subarray(r * m, (r + 1) * m);
  const frequency = Float32Array.from(row(2), (v) => v / Math.max(tokens, 1));
  return {
    meanActivation: Float32Array.from(row(0), (v) => v / Math.max(tokens, 1)),
    meanPerInput: Float32Array.from(row(1), (v) => v / n),
    frequency,
    logDensity: Float32Array.from(frequency, (v) => Math.log10(Math.max(v, 1e-10))),
  };
}
