// The project's own wasm kernels (wasm-kernels.ts) against TF.js's semantics.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../core/tf.ts';
import { initNodeBackend } from './node-backend.ts';
import { copyBlock } from './wasm-kernels.ts';

beforeAll(async () => {
  expect((await initNodeBackend('wasm', { threads: 1 })).backend).toBe('wasm');
});

describe('Identity on wasm', () => {
  it('clones without a copy, and each tensor outlives the other', async () => {
    const before = tf.engine().backend.numDataIds();
    const a = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const b = tf.clone(a);
    // One buffer for both: TF.js's own kernel made a second one.
    expect(tf.engine().backend.numDataIds()).toBe(before + 1);
    a.dispose();
    expect(await b.array()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    const c = tf.clone(b);
    b.dispose();
    const sum = tf.tidy(() => tf.add(c, tf.onesLike(c)));
    expect(Array.from(await sum.data())).toEqual([2, 3, 4, 5]);
    tf.dispose([c, sum]);
    expect(tf.engine().backend.numDataIds()).toBe(before);
  });

  it('gives gradients that keep their inputs (the engine saves them through Identity) their exact values', () => {
    // d/dx Σ x²·sin(x) = 2x·sin(x) + x²·cos(x); Square and Sin keep x, Mul keeps both factors.
    const x = tf.tensor1d([0.5, -1.25, 2]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.square(v), tf.sin(v))))(x);
    const want = [0.5, -1.25, 2].map((v) => 2 * v * Math.sin(v) + v * v * Math.cos(v));
    const got = Array.from(g.dataSync());
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
    tf.dispose([x, g]);
  });
});

/** A shape of rank 0..5, a block inside it, and the block's values computed index by index. */
const blocks = fc
  .array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 5 })
  .chain((shape) =>
    fc
      .tuple(...shape.map((n) => fc.integer({ min: 0, max: n }).chain((b) => fc.tuple(fc.constant(b), fc.integer({ min: 0, max: n - b })))))
      .map((bs) => ({ shape, begin: bs.map(([b]) => b), size: bs.map(([, s]) => s) })),
  );

function naiveBlock(shape: number[], begin: number[], size: number[]): number[] {
  const out: number[] = [];
  const strides = shape.map((_, j) => shape.slice(j + 1).reduce((a, b) => a * b, 1));
  const walk = (j: number, offset: number) => {
    if (j === shape.length) return void out.push(offset);
    for (let i = 0; i < size[j]; i++) walk(j + 1, offset + (begin[j] + i) * strides[j]);
  };
  if (!size.some((n) => n === 0)) walk(0, 0);
  return out;
}

describe('Slice and SplitV on wasm', () => {
  it('copies any block of any shape in the order of its elements', () => {
    fc.assert(
      fc.property(blocks, ({ shape, begin, size }) => {
        const x = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i);
        const out = new Float32Array(size.reduce((a, b) => a * b, 1));
        copyBlock(x, shape, begin, size, out);
        expect(Array.from(out)).toEqual(naiveBlock(shape, begin, size));
      }),
      { numRuns: 400 },
    );
  });

  it("give TF.js's values through the kernels, for floats, ints and bools, and strings keep working", () => {
    const x = tf.tensor3d(
      Array.from({ length: 2 * 3 * 4 }, (_, i) => i),
      [2, 3, 4],
    );
    expect(tf.slice(x, [0, 1, 1], [2, 2, 2]).arraySync()).toEqual([
      [
        [5, 6],
        [9, 10],
      ],
      [
        [17, 18],
        [21, 22],
      ],
    ]);
    const parts = tf.split(tf.reshape(x, [2, 12]), [3, 9], 1);
    expect(parts.map((p) => p.arraySync())).toEqual([
      [
        [0, 1, 2],
        [12, 13, 14],
      ],
      [
        [3, 4, 5, 6, 7, 8, 9, 10, 11],
        [15, 16, 17, 18, 19, 20, 21, 22, 23],
      ],
    ]);
    expect(tf.slice(tf.tensor1d([1, 2, 3], 'int32'), [1], [2]).arraySync()).toEqual([2, 3]);
    expect(tf.slice(tf.tensor1d([true, false, true], 'bool'), [1], [2]).arraySync()).toEqual([0, 1]);
    expect(tf.slice(tf.tensor1d(['a', 'b', 'c'], 'string'), [1], [2]).arraySync()).toEqual(['b', 'c']);
    // The gradient of a split (a concat) and of a slice (a pad) pass through the same kernels.
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.split(v, 3, 1)[1], 2)))(tf.ones([2, 6]));
    expect(g.arraySync()).toEqual([
      [0, 0, 2, 2, 0, 0],
      [0, 0, 2, 2, 0, 0],
    ]);
    tf.dispose([x, ...parts, g]);
  });
});
