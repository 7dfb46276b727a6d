import { describe, expect, it } from 'vitest';
import { classEffect, forgetScore, tppScore } from './selection.ts';
import { rankPositive, topKPositive } from '../core/select.ts';
import { probeAccuracy, trainBinaryProbe } from './logistic.ts';
import { mulberry32, normals } from '../core/rng.ts';
import { tf } from '../core/tf.ts';

describe('feature selection rules', () => {
  it('class effect keeps only features more active on the positive class, weighted by the probe read-out', () => {
    const sae = { dSae: 3, dIn: 2, W_dec: new Float32Array([1, 0, 0, 1, 1, 1]) };
    const eff = classEffect(new Float32Array([2, 1, 5]), new Float32Array([1, 3, 1]), sae, new Float32Array([1, -1]));
    // f0: (2−1)·(1) = 1; f1: clamp₊(1−3) = 0; f2: 4·(1−1) = 0
    expect(Array.from(eff)).toEqual([1, 0, 0]);
  });

  it('forget features are rare on retain and frequent on forget', () => {
    const forget = new Float32Array([0.9, 0.5, 0.7, 0]);
    const retain = new Float32Array([0.2, 0.001, 0.0, 0]);
    expect(rankPositive(forgetScore(forget, retain, 0.01)).slice(0, 5)).toEqual([2, 1]);
  });

  it('ranks positive scores best first, ties by index; top-K refuses sizes it cannot give', () => {
    expect(rankPositive(new Float32Array([0.5, 2, -1, 2, NaN]))).toEqual([1, 3, 0]);
    expect(topKPositive(new Float32Array([0.5, 2, -1, 2]), 2)).toEqual([1, 3]);
    expect(() => topKPositive(new Float32Array([1, 2]), 0)).toThrow('top-k must be a positive integer, got 0');
    expect(() => topKPositive(new Float32Array([1, 2]), 3)).toThrow('top-k 3 exceeds the SAE width 2');
    expect(() => topKPositive(new Float32Array([-1, 0]), 1)).toThrow('no feature has a positive score');
  });

  it('TPP subtracts the mean drop of the other classes', () => {
    expect(tppScore([0.3, 0.1, 0.0], 0)).toBeCloseTo(0.25);
  });
});

describe('logistic probe', () => {
  it('learns a linearly separable attribute deterministically', async () => {
    const rand = mulberry32(3);
    const n = 80,
      d = 6;
    const x = normals(rand, n * d);
    const y = Array.from({ length: n }, (_, i) => (x[i * d] + 0.5 * x[i * d + 1] > 0 ? 1 : 0));
    const a = await trainBinaryProbe(x, n, d, y, { epochs: 200 });
    const before = tf.memory().numTensors;
    const b = await trainBinaryProbe(x, n, d, y, { epochs: 200 });
    expect(tf.memory().numTensors, 'tensors left behind by training').toBe(before);
    expect(Array.from(a.w)).toEqual(Array.from(b.w));
    expect(probeAccuracy(a, x, n, y)).toBeGreaterThan(0.95);
    expect(a.w[0]).toBeGreaterThan(Math.abs(a.w[3]));
  });
});
