import { describe, expect, it } from 'vitest';
import { tf, type Tensor2D, type Tensor3D } from './tf.ts';
import {
  EncoderProjector,
  batchedSolveSpd,
  maskedColumns,
  orthonormalRows,
  projectOffMaskedColumns,
  projectOffRows,
} from './projection.ts';

const maxAbs = (x: tf.Tensor) => tf.max(tf.abs(x)).dataSync()[0];

describe('projections', () => {
  const d = 12,
    s = 5,
    B = 6;
  const A = tf.randomNormal([d, s], 0, 1, 'float32', 7) as Tensor2D;
  const g = tf.randomNormal([B, d], 0, 1, 'float32', 8) as Tensor2D;
  const mask = tf.tensor2d([
    [1, 1, 1, 1, 1],
    [1, 0, 1, 0, 1],
    [0, 0, 0, 0, 0],
    [0, 1, 0, 0, 0],
    [1, 1, 0, 1, 1],
    [0, 0, 1, 1, 0],
  ]);

  it('solves batches of SPD systems', () => {
    tf.tidy(() => {
      const X = tf.randomNormal([B, s, s], 0, 1, 'float32', 3) as Tensor3D;
      const K = tf.add(tf.matMul(X, X, false, true), tf.mul(tf.eye(s), 0.5)) as Tensor3D;
      const b = tf.randomNormal([B, s], 0, 1, 'float32', 4) as Tensor2D;
      const x = batchedSolveSpd(K, b);
      const back = tf.squeeze(tf.matMul(K, tf.expandDims(x, 2)), [2]);
      expect(maxAbs(tf.sub(back, b))).toBeLessThan(1e-3);
    });
  });

  it('solves larger batches block by block (blocks of 8, the last one short)', () => {
    tf.tidy(() => {
      const n = 37;
      const X = tf.randomNormal([3, n, n], 0, 1, 'float32', 5) as Tensor3D;
      const K = tf.add(tf.div(tf.matMul(X, X, false, true), n), tf.mul(tf.eye(n), 0.2)) as Tensor3D;
      const b = tf.randomNormal([3, n], 0, 1, 'float32', 6) as Tensor2D;
      const x = batchedSolveSpd(K, b);
      const back = tf.squeeze(tf.matMul(K, tf.expandDims(x, 2)), [2]);
      expect(maxAbs(tf.sub(back, b)) / maxAbs(b)).toBeLessThan(1e-4);
      expect(maxAbs(x)).toBeGreaterThan(0.1);
    });
  });

  it('masked-column projection equals Gram–Schmidt on the live columns', () => {
    tf.tidy(() => {
      const viaGram = projectOffMaskedColumns(g, maskedColumns(A), mask, 1e-7);
      const rows = tf.mul(tf.expandDims(mask, 2), tf.expandDims(tf.transpose(A), 0)) as Tensor3D; // [B, s, d]
      const viaGs = projectOffRows(g, orthonormalRows(rows));
      expect(maxAbs(tf.sub(viaGram, viaGs))).toBeLessThan(1e-3);
      // The projected gradient is orthogonal to every live column, and untouched when nothing is live.
      const readout = tf.mul(tf.matMul(viaGram, A), mask);
      expect(maxAbs(readout)).toBeLessThan(1e-3);
      expect(maxAbs(tf.sub(tf.slice(viaGram, [2, 0], [1, d]), tf.slice(g, [2, 0], [1, d])))).toBeLessThan(1e-6);
    });
  });

  it('orthonormalises rows and drops dependent ones', () => {
    tf.tidy(() => {
      const v = tf.tensor3d([
        [
          [1, 0, 0],
          [2, 0, 0],
          [1, 1, 0],
        ],
      ]);
      const q = orthonormalRows(v).arraySync()[0];
      expect(q[0]).toEqual([1, 0, 0]);
      expect(q[1].every((x) => Math.abs(x) < 1e-6)).toBe(true);
      expect(q[2][1]).toBeCloseTo(1, 5);
    });
  });

  it('encoder projector removes the encoder read-out of g', async () => {
    const proj = await EncoderProjector.create(A.clone(), 1e-6);
    tf.tidy(() => {
      const pg = proj.project(g);
      expect(maxAbs(proj.readout(pg)) / maxAbs(g)).toBeLessThan(1e-4);
      // Projecting twice changes nothing (idempotent up to the ridge).
      expect(maxAbs(tf.sub(proj.project(pg), pg))).toBeLessThan(1e-4);
    });
    proj.dispose();
  });
});
