// Defended-feature selection rules of the paper's settings, on SAE activations (DESIGN §2):
//  - TPP (SAEBench): class effect clamp₊(mean_pos(f) − mean_neg(f)) · (w_probe · W_dec[f]), means over each
//    input's real tokens, then over inputs;
//  - unlearning (SAEBench): drop features whose retain-set firing frequency ≥ threshold, then rank by
//    forget-set frequency.
import { tf, type Tensor3D } from '../core/tf.ts';
import type { Sae } from '../core/sae.ts';

/** Per feature: the mean over inputs of the per-input mean activation over real tokens; and firing frequency over tokens. */
export async function featureMeans(sae: Sae, h: Tensor3D, mask: Float32Array): Promise<{ mean: Float32Array; frequency: Float32Array }> {
  const [n, t, d] = h.shape;
  const m = sae.dSae;
  const chunk = Math.max(1, Math.floor(2_000_000 / Math.max(1, t * m)));
  const weights = new Float32Array(n * t);
  let tokens = 0;
  for (let i = 0; i < n; i++) {
    let k = 0;
    for (let j = 0; j < t; j++) k += mask[i * t + j];
    for (let j = 0; j < t; j++) weights[i * t + j] = mask[i * t + j] / Math.max(k, 1);
    tokens += k;
  }
  const w = tf.tensor2d(weights, [n * t, 1]);
  const mk = tf.tensor2d(mask, [n * t, 1]);
  let mean = tf.zeros([m]);
  let fired = tf.zeros([m]);
  for (let start = 0; start < n; start += chunk) {
    const size = Math.min(chunk, n - start);
    const [a, b] = tf.tidy(() => {
      const z = tf.reshape(sae.encode(tf.slice(h, [start, 0, 0], [size, t, d])), [size * t, m]);
      return [
        tf.add(mean, tf.sum(tf.mul(z, tf.slice(w, [start * t, 0], [size * t, 1])), 0)),
        tf.add(fired, tf.sum(tf.mul(tf.step(z), tf.slice(mk, [start * t, 0], [size * t, 1])), 0)),
      ];
    });
    tf.dispose([mean, fired]);
    mean = a;
    fired = b;
  }
  const [mv, fv] = await Promise.all([mean.data(), fired.data()]);
  tf.dispose([mean, fired, w, mk]);
  return { mean: Float32Array.from(mv, (v) => v / n), frequency: Float32Array.from(fv, (v) => v / Math.max(tokens, 1)) };
}

/** SAEBench's TPP class effect for one probe: [d_sae]. */
export function classEffect(meanPos: Float32Array, meanNeg: Float32Array, sae: { W_dec: Float32Array; dSae: number; dIn: number }, probeW: Float32Array): Float32Array {
  const out = new Float32Array(sae.dSae);
  for (let f = 0; f < sae.dSae; f++) {
    const diff = Math.max(0, meanPos[f] - meanNeg[f]);
    if (diff === 0) continue;
    let dot = 0;
    for (let j = 0; j < sae.dIn; j++) dot += probeW[j] * sae.W_dec[f * sae.dIn + j];
    out[f] = diff * dot;
  }
  return out;
}

/** Indices of the k largest values (ties by index), skipping non-positive ones. */
export function topPositive(values: Float32Array, k: number): number[] {
  return Array.from(values.keys())
    .filter((i) => values[i] > 0)
    .sort((a, b) => values[b] - values[a] || a - b)
    .slice(0, k);
}

/** SAEBench unlearning selection: features rare on the retain set (< threshold), most frequent on the forget set. */
export function forgetFeatures(forgetFreq: Float32Array, retainFreq: Float32Array, retainThreshold: number, k: number): number[] {
  return Array.from(forgetFreq.keys())
    .filter((f) => retainFreq[f] < retainThreshold && forgetFreq[f] > 0)
    .sort((a, b) => forgetFreq[b] - forgetFreq[a] || a - b)
    .slice(0, k);
}

/** TPP for class i: its accuracy drop minus the mean drop of the other classes' probes. */
export function tppScore(drops: number[], i: number): number {
  const others = drops.filter((_, j) => j !== i);
  return drops[i] - (others.length ? others.reduce((a, b) => a + b, 0) / others.length : 0);
}
