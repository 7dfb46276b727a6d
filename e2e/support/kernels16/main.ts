// Test support, not product (kept out of src/ and out of the app's build): a page that runs the 16-bit weight
// kernels (src/engine/webgpu-matmul16.ts through src/model/weights16.ts) on the worker's own backend start
// (selectBackend, so the kernels are registered and uploads patched exactly as in the app) and compares them with
// TF.js's float32 matMul on the same backend, on weights widened on the host. e2e/kernels16.spec.ts checks its
// answers; bench/weights16.bench.ts times it. Everything is on window.kernels16.
import { tf, type Tensor, type Tensor2D, type Tensor1D } from '../../../src/core/tf.ts';
import { mulberry32 } from '../../../src/core/rng.ts';
import { selectBackend } from '../../../src/engine/browser-backend.ts';
import {
  type Dtype16,
  embed16,
  linear16,
  linear16T,
  maxBindingBytes,
  native16,
  Weight16,
  widenBits,
} from '../../../src/model/weights16.ts';

export interface CheckCase {
  dtype: Dtype16;
  /** 'linear': x [R, rows] · W [rows, cols] (+ b); 'tied': x [R, cols] · E [rows, cols]ᵀ (+ b). */
  kind: 'linear' | 'tied';
  R: number;
  rows: number;
  cols: number;
  bias?: boolean;
  maxChunkBytes?: number;
}

export interface Errors {
  maxAbs: number;
  /** maxAbs / max |reference|. */
  maxRel: number;
  /** max |ours − reference| / (|a| · |B|) at that element: float32 rounding keeps it under K · 2⁻²⁴. */
  maxScaled: number;
}

export interface CheckResult {
  name: string;
  chunks: number;
  forward: Errors;
  gradient: Errors;
  /** Tensors left behind by the products and gradients (0 when nothing leaks). */
  leaked: number;
}

export interface WidenResult {
  dtype: Dtype16;
  /** Finite patterns whose float32 bits differ from the host's exact widening. */
  finiteMismatches: string[];
  finite: number;
  /** What ±inf came out as, and how many NaN patterns came out NaN. */
  infinities: string[];
  nanPatterns: number;
  nanOut: number;
}

/** A stored W [rows, cols] (bfloat16): x [R, rows] · W and y [R, cols] · Wᵀ (a tied E [V, d]: dy · E and x · Eᵀ). */
export interface BenchCase {
  R: number;
  rows: number;
  cols: number;
  reps: number;
  /** Untimed calls first (pipelines compiled): 2 unless told. */
  warmup?: number;
}

export interface BenchResult extends BenchCase {
  /** ms per call of x · W and y · Wᵀ: the 16-bit kernels, and TF.js's float32 matMul (null where W does not fit one binding in float32). */
  ms16: { forward: number; transposed: number };
  ms32: { forward: number; transposed: number } | null;
  bytes16: number;
  bytes32: number;
  chunks: number;
}

function randomBits(n: number, dtype: Dtype16, seed: number): Uint16Array {
  const rand = mulberry32(seed);
  const out = new Uint16Array(n);
  const [mBits, eLo, eHi] = dtype === 'bfloat16' ? [7, 122, 129] : [10, 10, 17];
  for (let i = 0; i < n; i++) {
    const e = eLo + Math.floor(rand() * (eHi - eLo + 1));
    out[i] = (rand() < 0.5 ? 0x8000 : 0) | (e << mBits) | Math.floor(rand() * (1 << mBits));
  }
  return out;
}

const uniform = (shape: [number, number], seed: number) => {
  const rand = mulberry32(seed);
  return tf.tensor(
    Float32Array.from({ length: shape[0] * shape[1] }, () => 2 * rand() - 1),
    shape,
  ) as Tensor2D;
};

// Reads are asynchronous: TF.js's synchronous read on WebGPU goes through a canvas and gave zeros on the main
// thread under SwiftShader.
async function errors(ours: Tensor, ref: Tensor, scale: Tensor): Promise<Errors> {
  const stats = tf.tidy(() => {
    const d = tf.abs(tf.sub(ours, ref));
    return tf.stack([tf.max(d), tf.max(tf.abs(ref)), tf.max(tf.div(d, tf.add(scale, 1e-30)))]);
  });
  const [maxAbs, maxRef, maxScaled] = await stats.data();
  stats.dispose();
  return { maxAbs, maxRel: maxAbs / maxRef, maxScaled };
}

async function start() {
  const info = await selectBackend(['webgpu']);
  const device = (tf.backend() as unknown as { device: { limits: Record<string, number> } }).device;
  const adapter = await (
    navigator as unknown as { gpu: { requestAdapter(): Promise<{ limits: Record<string, number> }> } }
  ).gpu.requestAdapter();
  const keys = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension'];
  return {
    backend: info.name,
    adapter: info.adapter,
    native16: native16(),
    maxBindingBytes: maxBindingBytes(),
    device: Object.fromEntries(keys.map((k) => [k, device.limits[k]])),
    adapterLimits: Object.fromEntries(keys.map((k) => [k, adapter.limits[k]])),
  };
}

async function check(c: CheckCase): Promise<CheckResult> {
  const { dtype, kind, R, rows, cols } = c;
  const seed = R * 7919 + rows * 131 + cols;
  const bits = randomBits(rows * cols, dtype, seed);
  const W = Weight16.fromBits(bits, dtype, [rows, cols], { maxChunkBytes: c.maxChunkBytes });
  const W32 = tf.tensor2d(widenBits(bits, dtype), [rows, cols]);
  const tied = kind === 'tied';
  const [inW, outW] = tied ? [cols, rows] : [rows, cols];
  const x = uniform([R, inW], seed + 1);
  const C = uniform([R, outW], seed + 2);
  const b = c.bias ? (tf.reshape(uniform([1, outW], seed + 3), [outW]) as Tensor1D) : undefined;
  const before = tf.memory().numTensors;
  const ours = (v: Tensor) => (tied ? linear16T(v as Tensor2D, W, b) : linear16(v as Tensor2D, W, b));
  const ref = (v: Tensor) => {
    const y = tf.matMul(v as Tensor2D, W32, false, tied);
    return b ? tf.add(y, b) : y;
  };
  const y = ours(x);
  const g = tf.grad((v: Tensor) => tf.sum(tf.mul(ours(v), C)))(x);
  const leaked = tf.memory().numTensors - before - 2;
  const refs = tf.tidy(() => {
    const absW = tf.abs(W32);
    return [
      ref(x),
      tf.add(tf.matMul(tf.abs(x), absW, false, tied), b ? tf.abs(b) : 0),
      tf.grad((v: Tensor) => tf.sum(tf.mul(ref(v), C)))(x),
      tf.matMul(tf.abs(C), absW, false, !tied),
    ];
  });
  const result = { forward: await errors(y, refs[0], refs[1]), gradient: await errors(g, refs[2], refs[3]) };
  tf.dispose(refs);
  const name = `${dtype} ${tied ? `x [${R}, ${cols}] · E [${rows}, ${cols}]ᵀ` : `x [${R}, ${rows}] · W [${rows}, ${cols}]`}${b ? ' + b' : ''}, ${W.chunks.length} chunk${W.chunks.length > 1 ? 's' : ''}`;
  const chunks = W.chunks.length;
  tf.dispose([y, g, W32, x, C, ...(b ? [b] : [])]);
  W.dispose();
  return { name, chunks, ...result, leaked };
}

/** embed16 on the device (gather of packed rows, then WIDEN16) against the host's widening. */
async function checkEmbed(dtype: Dtype16, maxChunkBytes?: number): Promise<{ chunks: number; equal: boolean }> {
  const [rows, cols] = [300, 37];
  const bits = randomBits(rows * cols, dtype, 99);
  const wide = widenBits(bits, dtype);
  const E = Weight16.fromBits(bits, dtype, [rows, cols], { maxChunkBytes });
  const ids = [299, 0, 64, 63, 128, 0, 200, 7];
  const got = embed16(E, ids);
  const values = await got.data();
  const want = ids.flatMap((id) => Array.from(wide.subarray(id * cols, (id + 1) * cols)));
  const equal = values.length === want.length && want.every((v, i) => Object.is(v, values[i]));
  const chunks = E.chunks.length;
  got.dispose();
  E.dispose();
  return { chunks, equal };
}

/** Every 16-bit pattern widened on the device (WIDEN16), bit-compared with the host's exact widening. */
async function widenAll(dtype: Dtype16): Promise<WidenResult> {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const W = Weight16.fromBits(all, dtype, [512, 128]);
  const got = W.widen();
  const out = (await got.data()) as Float32Array;
  const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  const host = widenBits(all, dtype);
  const hostBits = new Uint32Array(host.buffer);
  const finiteMismatches: string[] = [];
  const infinities: string[] = [];
  let finite = 0;
  let nanPatterns = 0;
  let nanOut = 0;
  for (let h = 0; h < 65536; h++) {
    if (Number.isFinite(host[h])) {
      finite++;
      if (outBits[h] !== hostBits[h] && finiteMismatches.length < 10)
        finiteMismatches.push(`0x${h.toString(16)}: 0x${outBits[h].toString(16)} (want 0x${hostBits[h].toString(16)})`);
    } else if (Number.isNaN(host[h])) {
      nanPatterns++;
      if (Number.isNaN(out[h])) nanOut++;
    } else infinities.push(`${host[h]} → ${out[h]}`);
  }
  got.dispose();
  W.dispose();
  return { dtype, finiteMismatches, finite, infinities, nanPatterns, nanOut };
}

/** ms per call of `f` over `reps` calls after `warmup` untimed ones (pipelines compiled), ended by one read. */
async function time(f: () => Tensor, reps: number, warmup: number): Promise<number> {
  for (let i = 0; i < warmup; i++) {
    const t = f();
    await t.data();
    t.dispose();
  }
  const t0 = performance.now();
  let last: Tensor | undefined;
  for (let i = 0; i < reps; i++) {
    last?.dispose();
    last = f();
  }
  await last!.data();
  const ms = (performance.now() - t0) / reps;
  last!.dispose();
  return ms;
}

/** Random bfloat16 patterns, a 1M-value random block repeated (a full-size embedding's 590M values in seconds). */
function benchBits(n: number): Uint16Array {
  const block = randomBits(Math.min(n, 1 << 20), 'bfloat16', 5);
  const out = new Uint16Array(n);
  for (let at = 0; at < n; at += block.length) out.set(block.subarray(0, Math.min(block.length, n - at)), at);
  return out;
}

async function bench(c: BenchCase): Promise<BenchResult> {
  const { R, rows, cols, reps } = c;
  const warmup = c.warmup ?? 2;
  let bits: Uint16Array | null = benchBits(rows * cols);
  const W = Weight16.fromBits(bits, 'bfloat16', [rows, cols]);
  const fits32 = 4 * rows * cols <= maxBindingBytes();
  const W32 = fits32 ? tf.tensor2d(widenBits(bits, 'bfloat16'), [rows, cols]) : null;
  bits = null;
  const x = uniform([R, rows], 1);
  const y = uniform([R, cols], 2);
  const ms16 = { forward: await time(() => linear16(x, W), reps, warmup), transposed: await time(() => linear16T(y, W), reps, warmup) };
  const ms32 = W32
    ? {
        forward: await time(() => tf.matMul(x, W32), reps, warmup),
        transposed: await time(() => tf.matMul(y, W32, false, true), reps, warmup),
      }
    : null;
  const result = { ...c, ms16, ms32, bytes16: W.bytes, bytes32: 4 * rows * cols, chunks: W.chunks.length };
  tf.dispose([x, y, ...(W32 ? [W32] : [])]);
  W.dispose();
  return result;
}

const api = { start, check, checkEmbed, widenAll, bench };
(window as unknown as { kernels16: typeof api }).kernels16 = api;
document.getElementById('status')!.textContent = 'ready';
