// ∂Σf/∂x from TF.js against central differences, shared by the defence and monitor tests.
import { expect } from 'vitest';
import { tf, type Tensor } from '../tf.ts';

/**
 * ∂Σf/∂x at x0 against central differences at two step sizes, on the given coordinates: where the two differences
 * disagree a kink (a feature switching on, the clip engaging) lies within the step, and that coordinate is skipped.
 * Returns how many coordinates were checked and how many of those had a non-zero derivative.
 */
export function checkGradient(f: (x: Tensor) => Tensor, x0: Float32Array, shape: number[], coords: number[], eps = 1e-2) {
  const x = tf.tensor(x0, shape);
  const g = tf.tidy(() =>
    tf
      .grad((v: Tensor) => tf.sum(f(v)))(x)
      .dataSync(),
  );
  x.dispose();
  const at = (k: number, e: number) => {
    const v = Float32Array.from(x0);
    v[k] += e;
    return tf.tidy(() => tf.sum(f(tf.tensor(v, shape))).dataSync()[0]);
  };
  const fd = (k: number, e: number) => (at(k, e) - at(k, -e)) / (2 * e);
  let checked = 0,
    nonzero = 0;
  for (const k of coords) {
    const a = fd(k, eps);
    const b = fd(k, eps / 2);
    if (Math.abs(a - b) > 2e-3 * Math.max(1, Math.abs(b))) continue;
    checked++;
    if (Math.abs(b) > 1e-3) nonzero++;
    expect(Math.abs(g[k] - b), `coordinate ${k}: grad ${g[k]}, finite difference ${b}`).toBeLessThanOrEqual(
      2e-2 * Math.max(Math.abs(b), 0.05),
    );
  }
  return { checked, nonzero };
}
