// Linear probes for the TPP scenario: logistic regression on mean-pooled residuals, trained full-batch with
// Adam from zero weights (deterministic: no sampling), with an L2 penalty. Binary labels give w [d, 1].
import { tf, type Tensor2D } from '../core/tf.ts';
import type { LinearProbe } from './probe.ts';

export interface ProbeTrainOptions {
  epochs?: number;
  lr?: number;
  l2?: number;
}

/** x [N, d] (row-major), labels in {0, 1}; returns a binary probe whose logit > 0 means label 1. */
export async function trainBinaryProbe(
  x: Float32Array,
  n: number,
  d: number,
  labels: ArrayLike<number>,
  opts: ProbeTrainOptions = {},
): Promise<LinearProbe> {
  const { epochs = 300, lr = 0.05, l2 = 1e-3 } = opts;
  if (labels.length !== n) throw new Error(`probe training: ${labels.length} labels for ${n} samples`);
  // Standardising by the pooled scale keeps one learning rate sensible across layers and models.
  const X = tf.tensor2d(x, [n, d]);
  const scale = tf.tidy(() => tf.add(tf.sqrt(tf.mean(tf.square(X))), 1e-8));
  const Xs = tf.div(X, scale) as Tensor2D;
  const y = tf.tensor2d(Array.from(labels), [n, 1]);
  // In a tidy: a variable shares its initial tensor's data, and that tensor would otherwise stay allocated.
  const [w, b] = tf.tidy(() => [tf.variable(tf.zeros([d, 1])), tf.variable(tf.zeros([1]))]);
  const opt = tf.train.adam(lr, 0.9, 0.999, 1e-8);
  for (let e = 0; e < epochs; e++) {
    tf.tidy(() => {
      opt.minimize(
        () => {
          const logits = tf.add(tf.matMul(Xs, w), b);
          return tf.add(tf.losses.sigmoidCrossEntropy(y, logits), tf.mul(l2, tf.sum(tf.square(w)))) as tf.Scalar;
        },
        false,
        [w, b],
      );
    });
  }
  const s = (await scale.data())[0];
  const wData = Float32Array.from(await w.data(), (v) => v / s);
  const bData = Float32Array.from(await b.data());
  tf.dispose([X, scale, Xs, y, w, b]);
  opt.dispose();
  return { d, classes: 1, w: wData, b: bData };
}

/** Accuracy of a binary probe on pooled activations. */
export function probeAccuracy(probe: LinearProbe, x: Float32Array, n: number, labels: ArrayLike<number>): number {
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let logit = probe.b[0];
    for (let j = 0; j < probe.d; j++) logit += x[i * probe.d + j] * probe.w[j];
    if ((logit > 0 ? 1 : 0) === labels[i]) correct++;
  }
  return n ? correct / n : NaN;
}
