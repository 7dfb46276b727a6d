// 16-bit frozen weights (weights16.ts) on the cpu backend (the plain-JavaScript kernels of
// src/engine/kernels16.ts), against float64 references computed here from an independent decoding of the bits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../core/rng.ts';
import { type Tensor, type Tensor1D, type Tensor2D, tf } from '../core/tf.ts';
import { initNodeBackend } from '../engine/node-backend.ts';
import {
  type Dtype16,
  dtype16Of,
  embed16,
  linear16,
  linear16T,
  native16,
  packRows,
  supports16,
  Weight16,
  widenBits,
  widenPacked,
} from './weights16.ts';

/** The value of a 16-bit pattern, decoded from its fields in float64 (not by the shift the code uses). */
function decode(h: number, dtype: Dtype16): number {
  const s = h & 0x8000 ? -1 : 1;
  const [eBits, mBits, bias] = dtype === 'bfloat16' ? [8, 7, 127] : [5, 10, 15];
  const e = (h >> mBits) & ((1 << eBits) - 1);
  const m = h & ((1 << mBits) - 1);
  if (e === (1 << eBits) - 1) return m === 0 ? s * Number.POSITIVE_INFINITY : Number.NaN;
  if (e === 0) return s * m * 2 ** (1 - bias - mBits);
  return s * 2 ** (e - bias) * (1 + m / 2 ** mBits);
}

/** Patterns of moderate magnitude (about 2⁻⁵..4), with some subnormals and signed zeros among them. */
function randomBits(n: number, dtype: Dtype16, seed: number): Uint16Array {
  const rand = mulberry32(seed);
  const out = new Uint16Array(n);
  const [mBits, eLo, eHi] = dtype === 'bfloat16' ? [7, 122, 129] : [10, 10, 17];
  for (let i = 0; i < n; i++) {
    const sign = rand() < 0.5 ? 0x8000 : 0;
    const u = rand();
    const m = Math.floor(rand() * (1 << mBits));
    const e = u < 0.03 ? 0 : u < 0.05 ? -1 : eLo + Math.floor(rand() * (eHi - eLo + 1));
    out[i] = e < 0 ? sign : sign | (e << mBits) | m; // e = 0: subnormal (or +-0 when m = 0)
  }
  return out;
}

function randomFloats(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => 2 * rand() - 1);
}

/** out = a [R, K] · B (B [K, N] decoded from bits, or [N, K] when transposed) + bias, in float64, and Σ|terms|. */
function reference(
  a: Float32Array,
  R: number,
  bits: Uint16Array,
  dtype: Dtype16,
  rows: number,
  cols: number,
  transposed: boolean,
  bias?: Float32Array,
) {
  const B = Float64Array.from(bits, (h) => decode(h, dtype));
  const [K, N] = transposed ? [cols, rows] : [rows, cols];
  const value = new Float64Array(R * N);
  const scale = new Float64Array(R * N);
  for (let r = 0; r < R; r++)
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n] : 0;
      let t = bias ? Math.abs(bias[n]) : 0;
      for (let k = 0; k < K; k++) {
        const p = a[r * K + k] * (transposed ? B[n * K + k] : B[k * N + n]);
        s += p;
        t += Math.abs(p);
      }
      value[r * N + n] = s;
      scale[r * N + n] = t;
    }
  return { value, scale };
}

/** max |got − want| / (Σ|terms| + tiny): float32 rounding of a sum of n terms stays below n·2⁻²⁴ of it. */
function maxScaledError(got: ArrayLike<number>, want: Float64Array, scale: Float64Array): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (scale[i] + 1e-30));
  return worst;
}

const bitsOf = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length);

describe('widening 16-bit values to float32', () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);

  it.each(['bfloat16', 'float16'] as const)('%s: every bit pattern, exactly (±0, subnormals, ±inf; NaN keeps its payload)', (dtype) => {
    const host = widenBits(all, dtype);
    const hostBits = bitsOf(host);
    const shift = dtype === 'bfloat16' ? 16 : 13;
    const payload = dtype === 'bfloat16' ? 0x7f : 0x3ff;
    const wrong: string[] = [];
    let nans = 0;
    for (let h = 0; h < 65536; h++) {
      const want = decode(h, dtype);
      // NaN: the payload moved up into float32's fraction (quiet stays quiet, signalling stays signalling), the sign kept.
      const nan = Number.isNaN(want);
      if (nan) nans++;
      const ok = nan
        ? Number.isNaN(host[h]) && (hostBits[h] & 0x7fffff) === (h & payload) << shift && hostBits[h] >>> 31 === h >> 15
        : Object.is(host[h], want);
      if (!ok) wrong.push(`0x${h.toString(16)}: ${host[h]} (0x${hostBits[h].toString(16)}) against ${want}`);
    }
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(nans).toBe(dtype === 'bfloat16' ? 2 * 127 : 2 * 1023);
    // bfloat16 is float32's upper half: the shift, bit for bit.
    if (dtype === 'bfloat16') expect(hostBits.every((b, h) => b === (h << 16) >>> 0)).toBe(true);
  });

  it.each(['bfloat16', 'float16'] as const)('%s: the cpu kernel (Weight16.widen) gives the host widening bit for bit', (dtype) => {
    // 65,536 values as [512, 128] and, to cover a padded row, as [256 × 255 + 256] values in rows of 255.
    const W = Weight16.fromBits(all, dtype, [512, 128]);
    const got = W.widen();
    expect(got.shape).toEqual([512, 128]);
    expect(Array.from(bitsOf(got.dataSync() as Float32Array))).toEqual(Array.from(bitsOf(widenBits(all, dtype))));
    const odd = all.subarray(0, 255 * 256);
    const W2 = Weight16.fromBits(odd, dtype, [256, 255], { maxChunkBytes: 128 * 64 * 3 });
    expect(W2.chunks.length).toBeGreaterThan(1);
    const got2 = W2.widen();
    expect(Array.from(bitsOf(got2.dataSync() as Float32Array))).toEqual(Array.from(bitsOf(widenBits(odd, dtype))));
    tf.dispose([got, got2]);
    W.dispose();
    W2.dispose();
  });

  it('packs rows two values a word, padding an odd row with +0', () => {
    const bits = Uint16Array.from([1, 2, 3, 4, 5, 6]);
    expect(Array.from(new Uint16Array(packRows(bits, 3, 0, 2).buffer))).toEqual([1, 2, 3, 0, 4, 5, 6, 0]);
    expect(Array.from(new Uint16Array(packRows(bits, 2, 1, 3).buffer))).toEqual([3, 4, 5, 6]);
    expect(Array.from(widenPacked(packRows(Uint16Array.from([0x3c00, 0xc000, 0x3800]), 3, 0, 1), 1, 3, 'float16'))).toEqual([1, -2, 0.5]);
  });
});

describe('linear16 and linear16T on the cpu backend', () => {
  // Shapes: out odd and above one 64-wide tile, in not a multiple of 4, single rows, a longer shared dimension.
  const shapes: [R: number, rows: number, cols: number][] = [
    [5, 7, 13],
    [3, 30, 67],
    [1, 1, 1],
    [9, 130, 3],
  ];

  for (const dtype of ['bfloat16', 'float16'] as const)
    for (const [R, rows, cols] of shapes) {
      it(`${dtype} W [${rows}, ${cols}], x [${R}, ·]: x · W + b and x · Wᵀ against float64`, () => {
        const bits = randomBits(rows * cols, dtype, rows * 31 + cols);
        const W = Weight16.fromBits(bits, dtype, [rows, cols]);
        const xa = randomFloats(R * rows, 7);
        const xt = randomFloats(R * cols, 8);
        const b = randomFloats(cols, 9);
        const bT = randomFloats(rows, 10);
        const [y, yT, yNoBias] = tf.tidy(() => [
          linear16(tf.tensor2d(xa, [R, rows]), W, tf.tensor1d(b)).dataSync(),
          linear16T(tf.tensor2d(xt, [R, cols]), W, tf.tensor1d(bT)).dataSync(),
          linear16(tf.tensor2d(xa, [R, rows]), W).dataSync(),
        ]);
        const ref = reference(xa, R, bits, dtype, rows, cols, false, b);
        const refT = reference(xt, R, bits, dtype, rows, cols, true, bT);
        const ref0 = reference(xa, R, bits, dtype, rows, cols, false);
        const errs = [
          maxScaledError(y, ref.value, ref.scale),
          maxScaledError(yT, refT.value, refT.scale),
          maxScaledError(yNoBias, ref0.value, ref0.scale),
        ];
        for (const e of errs) expect(e).toBeLessThan(2 ** -22);
        W.dispose();
      });
    }

  it('gradients: dy · Wᵀ and dy · E, against float64, finite differences and tf.matMul on the widened weights', () => {
    for (const dtype of ['bfloat16', 'float16'] as const) {
      const [R, rows, cols] = [4, 22, 37];
      const bits = randomBits(rows * cols, dtype, 3);
      const W = Weight16.fromBits(bits, dtype, [rows, cols]);
      const W32 = tf.tensor2d(widenBits(bits, dtype), [rows, cols]);
      const bias = tf.tensor1d(randomFloats(cols, 4));
      const x = tf.tensor2d(randomFloats(R * rows, 5), [R, rows]);
      const xT = tf.tensor2d(randomFloats(R * cols, 6), [R, cols]);
      const C = randomFloats(R * cols, 11);
      const CT = randomFloats(R * rows, 12);
      const loss = (y: Tensor, c: Float32Array) => tf.sum(tf.mul(y, tf.tensor(c, y.shape)));
      const [g, gRef, gT, gTRef] = tf.tidy(() => [
        tf.grad((v: Tensor) => loss(linear16(v as Tensor2D, W, bias), C))(x),
        tf.grad((v: Tensor) => loss(tf.add(tf.matMul(v as Tensor2D, W32), bias), C))(x),
        tf.grad((v: Tensor) => loss(linear16T(v as Tensor2D, W), CT))(xT),
        tf.grad((v: Tensor) => loss(tf.matMul(v as Tensor2D, W32, false, true), CT))(xT),
      ]);
      // dL/dx = C · Wᵀ [R, rows] and dL/dxT = CT · W [R, cols], in float64.
      const want = reference(C, R, bits, dtype, rows, cols, true);
      const wantT = reference(CT, R, bits, dtype, rows, cols, false);
      expect(maxScaledError(g.dataSync(), want.value, want.scale)).toBeLessThan(2 ** -22);
      expect(maxScaledError(gT.dataSync(), wantT.value, wantT.scale)).toBeLessThan(2 ** -22);
      // TF.js's own gradient of the float32 product on the same values: the same numbers up to float32 rounding.
      expect(maxScaledError(g.dataSync(), Float64Array.from(gRef.dataSync()), want.scale)).toBeLessThan(2 ** -20);
      expect(maxScaledError(gT.dataSync(), Float64Array.from(gTRef.dataSync()), wantT.scale)).toBeLessThan(2 ** -20);
      // Central differences of L(x) = Σ C ⊙ linear16(x) at a few coordinates (L is linear: the step's size only
      // trades float32 rounding of the outputs for nothing).
      const xv = x.dataSync() as Float32Array;
      const lossAt = (v: Float32Array) =>
        tf.tidy(() => {
          const y = linear16(tf.tensor2d(v, [R, rows]), W, bias).dataSync() as Float32Array;
          return y.reduce((s, yi, i) => s + yi * C[i], 0);
        });
      const gv = g.dataSync();
      for (const i of [0, 5, 21, R * rows - 1]) {
        const h = 0.25;
        const up = xv.slice();
        const down = xv.slice();
        up[i] += h;
        down[i] -= h;
        const fd = (lossAt(up) - lossAt(down)) / (2 * h);
        expect(Math.abs(fd - gv[i])).toBeLessThan(1e-4 * (1 + Math.abs(gv[i])));
      }
      tf.dispose([g, gRef, gT, gTRef, W32, bias, x, xT]);
      W.dispose();
    }
  });

  it('a weight split into row chunks gives the unsplit results (forward and gradients, with bias)', () => {
    const dtype = 'bfloat16';
    const [R, rows, cols] = [6, 150, 67]; // 34 words a row: 136 bytes
    const bits = randomBits(rows * cols, dtype, 21);
    const whole = Weight16.fromBits(bits, dtype, [rows, cols]);
    const split = Weight16.fromBits(bits, dtype, [rows, cols], { maxChunkBytes: 136 * 40 + 100 });
    expect(whole.chunks.length).toBe(1);
    expect(split.chunks.map((c) => [c.start, c.rows])).toEqual([
      [0, 40],
      [40, 40],
      [80, 40],
      [120, 30],
    ]);
    expect(split.bytes).toBe(whole.bytes);
    // Past one 64-row tile, chunks start at multiples of 64.
    const aligned = Weight16.fromBits(bits, dtype, [rows, cols], { maxChunkBytes: 136 * 100 });
    expect(aligned.chunks.map((c) => c.rows)).toEqual([64, 64, 22]);
    // More chunks than one addN takes (their sum goes in groups).
    const many = Weight16.fromBits(bits, dtype, [rows, cols], { maxChunkBytes: 136 * 10 });
    expect(many.chunks.length).toBe(15);

    const x = tf.tensor2d(randomFloats(R * rows, 1), [R, rows]);
    const xT = tf.tensor2d(randomFloats(R * cols, 2), [R, cols]);
    const b = tf.tensor1d(randomFloats(cols, 3));
    const bT = tf.tensor1d(randomFloats(rows, 4));
    const run = (W: Weight16) =>
      tf.tidy(() => {
        const C = tf.tensor2d(randomFloats(R * cols, 5), [R, cols]);
        const CT = tf.tensor2d(randomFloats(R * rows, 6), [R, rows]);
        return [
          linear16(x, W, b),
          linear16T(xT, W, bT),
          tf.grad((v: Tensor) => tf.sum(tf.mul(linear16(v as Tensor2D, W, b), C)))(x),
          tf.grad((v: Tensor) => tf.sum(tf.mul(linear16T(v as Tensor2D, W, bT), CT)))(xT),
        ].map((t) => t.dataSync() as Float32Array);
      });
    const [y0, yT0, g0, gT0] = run(whole);
    for (const W of [split, aligned, many]) {
      const [y1, yT1, g1, gT1] = run(W);
      // Chunks of the columns (x · Eᵀ, dy · Wᵀ) concatenate: bit for bit.
      expect(Array.from(yT1)).toEqual(Array.from(yT0));
      expect(Array.from(g1)).toEqual(Array.from(g0));
      // Chunks of the shared dimension (x · W, dy · E) add in float32: equal up to that rounding.
      for (const [u, v] of [
        [y1, y0],
        [gT1, gT0],
      ])
        for (let i = 0; i < u.length; i++) expect(Math.abs(u[i] - v[i])).toBeLessThan(1e-5 * (1 + Math.abs(v[i])));
    }
    tf.dispose([x, xT, b, bT]);
    for (const W of [whole, split, aligned, many]) W.dispose();
  });

  it('embed16 gathers rows across chunks, in the order asked, repeats included', () => {
    const dtype = 'float16';
    const [rows, cols] = [200, 5];
    const bits = randomBits(rows * cols, dtype, 8);
    const wide = widenBits(bits, dtype);
    const ids = [199, 0, 64, 63, 128, 0, 150, 7];
    for (const opts of [{}, { maxChunkBytes: 12 * 64 }]) {
      const E = Weight16.fromBits(bits, dtype, [rows, cols], opts);
      const got = embed16(E, ids);
      expect(got.shape).toEqual([ids.length, cols]);
      expect(Array.from(got.dataSync())).toEqual(ids.flatMap((id) => Array.from(wide.subarray(id * cols, (id + 1) * cols))));
      expect(embed16(E, []).shape).toEqual([0, cols]);
      expect(() => embed16(E, [200])).toThrow(/outside 0..199/);
      got.dispose();
      E.dispose();
    }
  });

  it('keeps no tensor: the packed chunks live until dispose, products and gradients free their intermediates', () => {
    const before = tf.memory().numTensors;
    const bits = randomBits(40 * 9, 'bfloat16', 1);
    let W!: Weight16;
    tf.tidy(() => {
      W = Weight16.fromBits(bits, 'bfloat16', [40, 9], { maxChunkBytes: 20 * 5 * 4 });
    });
    expect(W.chunks.length).toBe(2);
    expect(tf.memory().numTensors).toBe(before + 2); // kept through the tidy scope
    const x = tf.randomNormal([3, 40]) as Tensor2D;
    const b = tf.randomNormal([9]) as Tensor1D;
    const mid = tf.memory().numTensors;
    const y = linear16(x, W, b);
    expect(tf.memory().numTensors).toBe(mid + 1);
    y.dispose();
    const g = tf.tidy(() => tf.grad((v: Tensor) => tf.sum(linear16(v as Tensor2D, W, b)))(x));
    const gT = tf.tidy(() => tf.grad((v: Tensor) => tf.sum(linear16T(v as Tensor2D, W)))(tf.zeros([2, 9])));
    expect(tf.memory().numTensors).toBe(mid + 2);
    tf.dispose([g, gT, x, b]);
    W.dispose();
    W.dispose(); // twice is harmless
    expect(tf.memory().numTensors).toBe(before);
    expect(() => linear16(tf.zeros([1, 40]) as Tensor2D, W)).toThrow(/disposed/);
  });

  it('refuses what it cannot do, saying why', () => {
    const bits = new Uint16Array(12);
    expect(() => Weight16.fromBits(bits, 'float32' as Dtype16, [3, 4])).toThrow(/bfloat16 or float16/);
    expect(() => Weight16.fromBits(bits, 'float16', [3, 5])).toThrow(/12 16-bit values for shape \[3, 5\]/);
    expect(() => Weight16.fromBits(bits, 'float16', [3, 4], { maxChunkBytes: 7 })).toThrow(/exceeds the binding limit of 7 bytes/);
    const W = Weight16.fromBits(bits, 'float16', [3, 4]);
    expect(() => linear16(tf.zeros([2, 4]) as Tensor2D, W)).toThrow(/x must be \[R, 3\]/);
    expect(() => linear16T(tf.zeros([2, 4]) as Tensor2D, W, tf.zeros([4]) as Tensor1D)).toThrow(/bias must be float32 \[3\]/);
    expect(() => linear16(tf.zeros([2, 3], 'int32') as Tensor2D, W)).toThrow(/float32/);
    W.dispose();
    expect([dtype16Of('BF16'), dtype16Of('F16'), dtype16Of('F32')]).toEqual(['bfloat16', 'float16', null]);
    expect(native16()).toBe(false);
    expect(supports16()).toBe(true);
  });
});

describe('linear16 on the wasm backend (the same JavaScript kernels)', () => {
  beforeAll(async () => {
    expect((await initNodeBackend('wasm')).backend).toBe('wasm');
  });
  afterAll(async () => {
    await initNodeBackend('cpu');
  });

  it('matches the float64 reference, split and whole, with the gradient', () => {
    const dtype = 'float16';
    const [R, rows, cols] = [3, 70, 33];
    const bits = randomBits(rows * cols, dtype, 5);
    const xa = randomFloats(R * rows, 6);
    const C = randomFloats(R * cols, 7);
    const ref = reference(xa, R, bits, dtype, rows, cols, false);
    const refG = reference(C, R, bits, dtype, rows, cols, true);
    for (const opts of [{}, { maxChunkBytes: 17 * 4 * 30 }]) {
      const W = Weight16.fromBits(bits, dtype, [rows, cols], opts);
      const [y, g] = tf.tidy(() => {
        const x = tf.tensor2d(xa, [R, rows]);
        const c = tf.tensor2d(C, [R, cols]);
        return [
          linear16(x, W).dataSync(),
          tf
            .grad((v: Tensor) => tf.sum(tf.mul(linear16(v as Tensor2D, W), c)))(x)
            .dataSync(),
        ];
      });
      expect(maxScaledError(y, ref.value, ref.scale)).toBeLessThan(2 ** -21);
      expect(maxScaledError(g, refG.value, refG.scale)).toBeLessThan(2 ** -22);
      W.dispose();
    }
  });
});
