// Frozen weights kept in 16 bits (bfloat16 as Gemma is released, float16 as Pythia is) where they live, and the
// products that read them there.
//
// API
//   const W = Weight16.fromBits(bits, dtype16Of('BF16')!, [rows, cols])
//       bits: a safetensors BF16 or F16 tensor's data as a Uint16Array, row-major, shape as stored
//       (`new Uint16Array(buf, offset, rows * cols)`; an odd offset needs a copy first: `new Uint16Array(buf.slice(…))`).
//       The values are copied into packed int32 tensors (two 16-bit values per element, the lower column in the
//       low half, each row padded with +0 to an even count), split into row chunks that each fit the device's
//       storage-buffer binding limit (maxBindingBytes(); `opts.maxChunkBytes` lowers it, e.g. to exercise the split
//       in a test; chunks past 64 rows start at multiples of 64). On WebGPU each chunk is uploaded at once, so the
//       caller's buffer may go as soon as this returns. The packed tensors are kept (tf.keep): a tidy scope does
//       not free them; W.dispose() does (twice is harmless; using a disposed weight throws).
//   linear16(x [R, rows], W, bias? [cols]) → [R, cols]     x · W  (+ bias): W stored [in, out] (GPT-2's Conv1D)
//   linear16T(x [R, cols], W, bias? [rows]) → [R, rows]    x · Wᵀ (+ bias): W stored [out, in], as every Hugging Face
//       nn.Linear weight is (Gemma's and Pythia's projections: use them as loaded, no transpose), and a tied
//       unembedding: logits = x · Eᵀ for the embedding E [V, d].
//       Both differentiate with respect to x only (weights and bias are frozen): the input gradients dy · Wᵀ and
//       dy · W are again one 16-bit kernel per chunk. The chunking is invisible to callers: the product that
//       contracts over the stored rows (x · W; dy · W of linear16T) sums its chunks' partial products (tf.addN, at
//       most 7 at a time: TF.js's WebGPU AddN binds every input, and WebGPU promises 8 storage buffers a stage), the
//       one that contracts over the stored columns (x · Wᵀ; dy · Wᵀ of linear16) concatenates its chunks' columns.
//   embed16(E, ids) → float32 [ids.length, cols]           rows of E (a token embedding's lookup), not differentiable
//   W.widen() → float32 [rows, cols]                       a float32 copy, made on the backend
//   widenBits(bits, dtype) → Float32Array                  host-side widening, for the loader (below)
//   W.shape, W.dtype, W.bytes (device bytes), W.chunks
//
// Backends. The products are the kernels MATMUL16 and WIDEN16, registered by the engine (never here: src/model runs
// in Node and imports no backend): on 'webgpu' (src/engine/webgpu-matmul16.ts) one WGSL kernel per product and
// chunk that reads the packed words and widens them in registers — no float32 copy of a weight is made on the
// device; on 'cpu' and 'wasm' (src/engine/kernels16.ts) plain JavaScript that widens the chunk per call: exact,
// for tests, slow. native16() says whether the current backend runs them natively (webgpu only): elsewhere the
// loader should widen to float32 once (widenBits) and use the ordinary products (matMulFrozen). On 'webgl', which
// has no kernel and stores int32 tensors as float32 textures (exact only below 2^24, which packed words are not),
// Weight16.fromBits refuses (supports16() is false).
//
// Widening is exact for every bit pattern on cpu and wasm (bfloat16: the 16 bits shifted up; float16: sign,
// exponent rebiased, subnormals normalised, ±inf and NaN kept with their payload shifted up). On WebGPU bfloat16 is
// the same bitcast and float16 is WGSL's unpack2x16float: exact for every finite value (all 63,488 finite float16
// and 65,280 finite bfloat16 patterns, checked on SwiftShader by e2e/kernels16.spec.ts, which also saw ±inf and NaN
// come through); WGSL lets an implementation assume no inf or NaN in a shader, so on another device those (absent
// from released weights) are indeterminate, and a product may flush float32 subnormals to zero, as TF.js's own
// float32 matMul may.
import { type Tensor, type Tensor1D, type Tensor2D, tf } from '../core/tf.ts';

export type Dtype16 = 'bfloat16' | 'float16';

/** The 16-bit product's kernel name (inputs a, b, optional bias; attrs MatMul16Attrs). */
export const MATMUL16 = 'UnclampMatMul16';
/**
 * The widening kernel's name: input x, packed [rows, words], and optionally indices, int32 [n] (rows to read, each
 * in 0..rows − 1); attrs Widen16Attrs → float32 [rows or n, cols]. (TF.js's own gather is no use on packed words:
 * on WebGPU it passes int32 values through float32, exact only below 2^24.)
 */
export const WIDEN16 = 'UnclampWiden16';

/**
 * out[r, n] = Σ_k a[r, k0 + k] · B[k, n]   (transposeB false: B stored [K, N], N = cols, K = B's rows)
 * out[r, n] = Σ_k a[r, k0 + k] · B[n, k]   (transposeB true:  B stored [N, K], K = cols, N = B's rows)
 * (+ bias[n]), B the widened values of the packed int32 input b [B's rows, ceil(cols / 2)].
 */
export interface MatMul16Attrs {
  dtype: Dtype16;
  /** Logical columns of the stored matrix (the packed rows hold ceil(cols / 2) words). */
  cols: number;
  transposeB: boolean;
  /** First column of `a` read (a chunk's first stored row, for a product summed over row chunks). */
  k0: number;
}

export interface Widen16Attrs {
  dtype: Dtype16;
  cols: number;
}

/** The Dtype16 of a safetensors dtype ('BF16', 'F16'), or null for any other. */
export function dtype16Of(safetensorsDtype: string): Dtype16 | null {
  return safetensorsDtype === 'BF16' ? 'bfloat16' : safetensorsDtype === 'F16' ? 'float16' : null;
}

/** Words per packed row. */
export const wordsPerRow = (cols: number): number => (cols + 1) >> 1;

// ---------------------------------------------------------------------------------------------------------------
// Widening on the host: exact, bit for bit.

let f16Table: Uint32Array | undefined;

/** float32 bit patterns of all 65,536 float16 values. */
function float16Table(): Uint32Array {
  if (f16Table) return f16Table;
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const e = (h >> 10) & 0x1f;
    let m = h & 0x3ff;
    if (e === 0x1f) t[h] = sign | 0x7f800000 | (m << 13);
    else if (e !== 0) t[h] = sign | ((e + 112) << 23) | (m << 13);
    else if (m === 0) t[h] = sign;
    else {
      // Subnormal m·2⁻²⁴: normal in float32.
      let e32 = 113;
      while (!(m & 0x400)) {
        m <<= 1;
        e32--;
      }
      t[h] = sign | (e32 << 23) | ((m & 0x3ff) << 13);
    }
  }
  f16Table = t;
  return t;
}

/** Widen 16-bit values into `out` (float32 bit patterns written through a Uint32Array view: NaN payloads kept). */
function widenInto(bits: Uint16Array, dtype: Dtype16, out: Uint32Array): void {
  if (dtype === 'bfloat16') for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
  else {
    const t = float16Table();
    for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]];
  }
}

/** float32 values of 16-bit ones (the loader's path on a backend without native 16-bit products). */
export function widenBits(bits: Uint16Array, dtype: Dtype16): Float32Array {
  checkDtype(dtype);
  const out = new Float32Array(bits.length);
  widenInto(bits, dtype, new Uint32Array(out.buffer));
  return out;
}

/** float32 [rows, cols] of packed rows [rows, ceil(cols / 2)] (the cpu and wasm kernels' first step). */
export function widenPacked(packed: Int32Array | Uint32Array, rows: number, cols: number, dtype: Dtype16): Float32Array {
  const words = wordsPerRow(cols);
  if (packed.length !== rows * words) throw new Error(`widenPacked: ${packed.length} words for ${rows} × ${cols} values`);
  const halves = new Uint16Array(packed.buffer, packed.byteOffset, packed.length * 2);
  const out = new Float32Array(rows * cols);
  const u = new Uint32Array(out.buffer);
  if (cols === 2 * words) widenInto(halves, dtype, u);
  else
    for (let r = 0; r < rows; r++)
      widenInto(halves.subarray(2 * r * words, 2 * r * words + cols), dtype, u.subarray(r * cols, (r + 1) * cols));
  return out;
}

/** Rows r0..r1 of a row-major [rows, cols] 16-bit matrix as packed int32 words, each row padded with +0 to even. */
export function packRows(bits: Uint16Array, cols: number, r0: number, r1: number): Int32Array {
  const words = wordsPerRow(cols);
  const out = new Int32Array((r1 - r0) * words);
  const halves = new Uint16Array(out.buffer); // little-endian: value 2j is word j's low half
  if (cols === 2 * words) halves.set(bits.subarray(r0 * cols, r1 * cols));
  else for (let r = r0; r < r1; r++) halves.set(bits.subarray(r * cols, (r + 1) * cols), (r - r0) * 2 * words);
  return out;
}

function checkDtype(dtype: string): asserts dtype is Dtype16 {
  if (dtype !== 'bfloat16' && dtype !== 'float16') throw new Error(`16-bit weights are bfloat16 or float16, got "${dtype}"`);
}

// ---------------------------------------------------------------------------------------------------------------
// Backends.

interface DeviceLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/**
 * The largest tensor one kernel may bind on the current backend, in bytes: on WebGPU the device's
 * min(maxStorageBufferBindingSize, maxBufferSize) (TF.js asks the adapter for its own limits when it creates the
 * device, so this is what the adapter offers, not WebGPU's 128 MiB default); unbounded elsewhere.
 */
export function maxBindingBytes(): number {
  const limits = (tf.backend() as unknown as { device?: { limits?: DeviceLimits } }).device?.limits;
  return limits ? Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) : Number.POSITIVE_INFINITY;
}

/** Whether the current backend runs the 16-bit products natively (on the GPU, from packed weights). */
export const native16 = (): boolean => tf.getBackend() === 'webgpu' && tf.getKernel(MATMUL16, 'webgpu') !== undefined;

/** Whether the current backend has the 16-bit kernels at all (natively or in plain JavaScript). */
export const supports16 = (): boolean => tf.getBackend() !== 'webgl' && tf.getKernel(MATMUL16, tf.getBackend()) !== undefined;

/** Row chunks start at multiples of this (the kernels' tile) when a chunk holds at least that many rows. */
const CHUNK_ALIGN = 64;

export interface Chunk16 {
  /** The chunk's first stored row. */
  start: number;
  rows: number;
  /** int32 [rows, ceil(cols / 2)]: two 16-bit values per element, the lower column in the low half. */
  packed: Tensor2D;
}

export interface Weight16Options {
  /** Bytes one chunk may take at most (default maxBindingBytes()). */
  maxChunkBytes?: number;
}

/** A frozen [rows, cols] matrix held in 16 bits, in row chunks that each fit one binding. See the file's head. */
export class Weight16 {
  private disposed = false;

  private constructor(
    readonly dtype: Dtype16,
    readonly rows: number,
    readonly cols: number,
    readonly chunks: readonly Chunk16[],
  ) {}

  static fromBits(
    bits: Uint16Array,
    dtype: Dtype16,
    shape: readonly [number, number] | readonly number[],
    opts: Weight16Options = {},
  ): Weight16 {
    checkDtype(dtype);
    if (shape.length !== 2 || !shape.every((n) => Number.isInteger(n) && n > 0))
      throw new Error(`a 16-bit weight is a matrix with positive dimensions, got shape [${shape.join(', ')}]`);
    const [rows, cols] = shape;
    if (bits.length !== rows * cols) throw new Error(`${bits.length} 16-bit values for shape [${rows}, ${cols}] (${rows * cols})`);
    if (!supports16())
      throw new Error(
        `16-bit weights need the ${MATMUL16} kernel, which the '${tf.getBackend()}' backend does not have: widen them to float32 (widenBits)`,
      );
    const rowBytes = 4 * wordsPerRow(cols);
    const limit = Math.min(opts.maxChunkBytes ?? Number.POSITIVE_INFINITY, maxBindingBytes());
    let perChunk = Math.min(rows, Math.floor(limit / rowBytes));
    if (perChunk < 1) throw new Error(`one row of ${cols} 16-bit values (${rowBytes} bytes) exceeds the binding limit of ${limit} bytes`);
    if (perChunk < rows && perChunk >= CHUNK_ALIGN) perChunk -= perChunk % CHUNK_ALIGN;
    const upload = tf.getBackend() === 'webgpu' ? (tf.backend() as unknown as { uploadToGPU?(dataId: object): void }) : undefined;
    const chunks: Chunk16[] = [];
    try {
      for (let start = 0; start < rows; start += perChunk) {
        const n = Math.min(perChunk, rows - start);
        const packed = tf.keep(tf.tensor2d(packRows(bits, cols, start, start + n), [n, wordsPerRow(cols)], 'int32'));
        chunks.push({ start, rows: n, packed });
        upload?.uploadToGPU?.(packed.dataId); // now, not at the first product: the host copy goes at once
      }
    } catch (e) {
      for (const c of chunks) c.packed.dispose();
      throw e;
    }
    return new Weight16(dtype, rows, cols, chunks);
  }

  get shape(): [number, number] {
    return [this.rows, this.cols];
  }

  /** Bytes of the packed tensors (two per value, plus a row's padding where cols is odd). */
  get bytes(): number {
    return this.chunks.reduce((s, c) => s + 4 * c.packed.size, 0);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** A float32 copy [rows, cols], widened on the backend (one WIDEN16 kernel per chunk). */
  widen(): Tensor2D {
    this.check();
    return tf.tidy(() => {
      const parts = this.chunks.map((c) => widen16(c.packed, this.dtype, this.cols));
      return parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as Tensor2D);
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const c of this.chunks) c.packed.dispose();
  }

  /** @internal */
  check(): void {
    if (this.disposed) throw new Error('this 16-bit weight has been disposed');
  }
}

function matMul16(a: Tensor2D, b: Tensor2D, attrs: MatMul16Attrs, bias?: Tensor1D): Tensor2D {
  const inputs: tf.NamedTensorMap = bias ? { a, b, bias } : { a, b };
  return tf.engine().runKernel(MATMUL16, inputs, attrs as unknown as tf.NamedAttrMap) as Tensor2D;
}

function widen16(packed: Tensor2D, dtype: Dtype16, cols: number, rows?: ArrayLike<number>): Tensor2D {
  const attrs: Widen16Attrs = { dtype, cols };
  const inputs: tf.NamedTensorMap = rows ? { x: packed, indices: tf.tensor1d(Int32Array.from(rows), 'int32') } : { x: packed };
  const out = tf.engine().runKernel(WIDEN16, inputs, attrs as unknown as tf.NamedAttrMap) as Tensor2D;
  if (rows) inputs.indices.dispose();
  return out;
}

function checkInput(x: Tensor, width: number, what: string): void {
  if (x.rank !== 2 || x.shape[1] !== width) throw new Error(`${what}: x must be [R, ${width}], got [${x.shape.join(', ')}]`);
  if (x.dtype !== 'float32') throw new Error(`${what}: x must be float32, got ${x.dtype}`);
}

function checkBias(bias: Tensor1D | undefined, n: number, what: string): void {
  if (bias && (bias.rank !== 1 || bias.shape[0] !== n || bias.dtype !== 'float32'))
    throw new Error(`${what}: the bias must be float32 [${n}], got ${bias.dtype} [${bias.shape.join(', ')}]`);
}

/** Σ over W's chunks of a[:, chunk's rows] · W_chunk (the product contracting over the stored rows). */
function contractRows(a: Tensor2D, W: Weight16, bias?: Tensor1D): Tensor2D {
  const parts = W.chunks.map((c, i) =>
    matMul16(a, c.packed, { dtype: W.dtype, cols: W.cols, transposeB: false, k0: c.start }, i === 0 ? bias : undefined),
  );
  return sum(parts);
}

/**
 * Σ parts, by addN over at most ADDN_MAX at a time: TF.js's WebGPU AddN binds every input (WebGPU guarantees only 8
 * storage buffers per shader stage, one of them the output, and TF.js does not ask for more), unlike its Concat,
 * which groups its inputs itself.
 */
const ADDN_MAX = 7;
function sum(parts: Tensor2D[]): Tensor2D {
  while (parts.length > 1) {
    const next: Tensor2D[] = [];
    for (let i = 0; i < parts.length; i += ADDN_MAX) {
      const group = parts.slice(i, i + ADDN_MAX);
      next.push(group.length === 1 ? group[0] : (tf.addN(group) as Tensor2D));
    }
    parts = next;
  }
  return parts[0];
}

/** a · Wᵀ, W's chunks giving the columns in turn (the product contracting over the stored columns). */
function contractCols(a: Tensor2D, W: Weight16, bias?: Tensor1D): Tensor2D {
  const parts = W.chunks.map((c) => {
    const b = bias && W.chunks.length > 1 ? (tf.slice(bias, [c.start], [c.rows]) as Tensor1D) : bias;
    return matMul16(a, c.packed, { dtype: W.dtype, cols: W.cols, transposeB: true, k0: 0 }, b);
  });
  return parts.length === 1 ? parts[0] : (tf.concat(parts, 1) as Tensor2D);
}

/** x · W (+ bias) for a frozen 16-bit W stored [in, out]; the gradient is x's only (dy · Wᵀ). */
export function linear16(x: Tensor2D, W: Weight16, bias?: Tensor1D): Tensor2D {
  W.check();
  checkInput(x, W.rows, 'linear16');
  checkBias(bias, W.cols, 'linear16');
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => ({
    value: contractRows(args[0] as Tensor2D, W, bias),
    gradFunc: (dy: Tensor) => contractCols(dy as Tensor2D, W),
  }));
  return f(x) as Tensor2D;
}

/**
 * x · Wᵀ (+ bias) for a frozen 16-bit W stored [out, in] (a Hugging Face nn.Linear weight as loaded, or a tied
 * unembedding E [V, d]: logits); the gradient is x's only (dy · W).
 */
export function linear16T(x: Tensor2D, E: Weight16, bias?: Tensor1D): Tensor2D {
  E.check();
  checkInput(x, E.cols, 'linear16T');
  checkBias(bias, E.rows, 'linear16T');
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => ({
    value: contractCols(args[0] as Tensor2D, E, bias),
    gradFunc: (dy: Tensor) => contractRows(dy as Tensor2D, E),
  }));
  return f(x) as Tensor2D;
}

/** Rows `ids` of E as float32 [ids.length, cols] (a token embedding's lookup; not differentiable). */
export function embed16(E: Weight16, ids: ArrayLike<number>): Tensor2D {
  E.check();
  const n = ids.length;
  for (let i = 0; i < n; i++)
    if (!Number.isInteger(ids[i]) || ids[i] < 0 || ids[i] >= E.rows) throw new Error(`embed16: id ${ids[i]} is outside 0..${E.rows - 1}`);
  return tf.tidy(() => {
    if (n === 0) return tf.zeros([0, E.cols]) as Tensor2D;
    if (E.chunks.length === 1) return widen16(E.chunks[0].packed, E.dtype, E.cols, ids);
    // Each chunk's rows (one WIDEN16 reading them), then the rows back in the asked order (a float32 gather: exact).
    const parts: Tensor2D[] = [];
    const order = new Int32Array(n);
    let at = 0;
    for (const c of E.chunks) {
      const local: number[] = [];
      for (let i = 0; i < n; i++)
        if (ids[i] >= c.start && ids[i] < c.start + c.rows) {
          order[i] = at++;
          local.push(ids[i] - c.start);
        }
      if (local.length) parts.push(widen16(c.packed, E.dtype, E.cols, local));
    }
    const grouped = parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as Tensor2D);
    return tf.gather(grouped, tf.tensor1d(order, 'int32')) as Tensor2D;
  });
}
