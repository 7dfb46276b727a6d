// The 16-bit weight kernels (src/model/weights16.ts) on TF.js's 'webgpu' backend: WGSL programs run through the
// backend's runWebGPUProgram, which supplies the bindings (result, then the inputs in variableNames' order, then a
// uniform block with each input's and the output's shape and strides, then the program's own uniforms) and the
// _start entry point that calls main(). Imported where the worker's backends start (browser-backend.ts); nothing
// from the webgpu package is needed at run time (types only), so importing this in Node registers kernels that
// never run.
//
// MATMUL16, out [R, N] = a [R, ·] · B (+ bias): one dispatch per call, workgroups of 16 × 8 threads, each workgroup
// one TM × 64 tile of the output (TM = 8 for R ≤ 8, 32 for R ≤ 32, else 64: a weight is read once for up to 64
// rows, and a few rows — one token's — do not pay for 32); each thread 4 columns (strided by 16, so a row's stores
// and shared-memory reads are contiguous across threads) by TM / 8 rows (strided by 8). The shared dimension is
// walked in steps of TK = 16: the workgroup stages a's TM × 16 block and B's 16 × 64 block in workgroup memory (at
// most 8.3 KB, within WebGPU's guaranteed 16 KB) — B straight from the packed words, each 32-bit load widened to two
// float32 values in registers (bfloat16: shifts; float16: unpack2x16float) — then accumulates with fma.
// Stored [K, N] (x · W), a tile's 16 × 32 words are 16 runs of 32 consecutive words; stored [N, K] (x · Eᵀ, dy · Wᵀ)
// 64 runs of 8 words, each word's two values going to two rows of the staged block (whose rows are padded to 65
// floats so those stores spread over the banks). Dispatch [ceil(N / 64), ceil(R / TM), 1]. Edges: loads outside
// a, B or the shared dimension stage zeros, and stores outside [R, N] are skipped, so no shape needs to be a
// multiple of anything; an odd row's padding half is +0 (weights16.ts packs it so) and meets a staged zero of a.
//
// WIDEN16, float32 [rows, cols] from packed [rows, words] (or the rows `indices` of it: embed16's lookup): one thread
// per word read (workgroups of 64, a flat dispatch that TF.js folds into two dimensions past 65,535 workgroups).
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { tf } from '../core/tf.ts';
import { type Dtype16, MATMUL16, type MatMul16Attrs, WIDEN16, type Widen16Attrs } from '../model/weights16.ts';

const WG_X = 16;
const WG_Y = 8;
const COLS_PER_THREAD = 4;
const TN = WG_X * COLS_PER_THREAD; // 64
const TK = 16;
const BS_STRIDE = TN + 1;

/** WGSL: two float32 values from one packed word (the lower column in the low half). */
function widenFn(dtype: Dtype16): string {
  return dtype === 'bfloat16'
    ? `fn widen2(w : i32) -> vec2<f32> {
        let u = bitcast<u32>(w);
        return vec2<f32>(bitcast<f32>(u << 16u), bitcast<f32>(u & 0xffff0000u));
      }`
    : `fn widen2(w : i32) -> vec2<f32> {
        return unpack2x16float(bitcast<u32>(w));
      }`;
}

class MatMul16Program implements WebGPUProgram {
  variableNames = ['A', 'B'];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG_X, WG_Y, 1];
  uniforms = 'dimK : i32, offsetK : i32,';
  private readonly rowsPerThread: number;

  constructor(
    R: number,
    N: number,
    private readonly transposeB: boolean,
    private readonly dtype: Dtype16,
    private readonly hasBias: boolean,
  ) {
    this.outputShape = [R, N];
    this.rowsPerThread = R > 32 ? 8 : R > 8 ? 4 : 1;
    if (hasBias) this.variableNames.push('bias');
    const tm = WG_Y * this.rowsPerThread;
    this.dispatch = [Math.ceil(N / TN), Math.ceil(R / tm), 1];
    this.shaderKey = `unclampMatMul16_${transposeB ? 'NT' : 'NN'}_${dtype}_${this.rowsPerThread}_${hasBias}`;
  }

  getUserCode(): string {
    const rm = this.rowsPerThread;
    const tm = WG_Y * rm;
    const threads = WG_X * WG_Y;
    // B's block for k in [kt, kt + TK) and columns [col0, col0 + TN), widened into Bs[k][n].
    const loadB = this.transposeB
      ? `// B stored [N, K]: rows col0 + n, words kt / 2 + w (values k = 2w, 2w + 1).
        for (var i = li; i < ${TN * (TK / 2)}; i = i + ${threads}) {
          let n = i / ${TK / 2};
          let w = i - n * ${TK / 2};
          let gn = col0 + n;
          let gw = kt / 2 + w;
          var v = vec2<f32>(0.0, 0.0);
          if (gn < N && gw < bWords) { v = widen2(B[gn * bWords + gw]); }
          Bs[(2 * w) * ${BS_STRIDE} + n] = v.x;
          Bs[(2 * w + 1) * ${BS_STRIDE} + n] = v.y;
        }`
      : `// B stored [K, N]: rows kt + k, words col0 / 2 + w (columns 2w, 2w + 1).
        for (var i = li; i < ${TK * (TN / 2)}; i = i + ${threads}) {
          let k = i / ${TN / 2};
          let w = i - k * ${TN / 2};
          let gk = kt + k;
          let gw = col0 / 2 + w;
          var v = vec2<f32>(0.0, 0.0);
          if (gk < K && gw < bWords) { v = widen2(B[gk * bWords + gw]); }
          Bs[k * ${BS_STRIDE} + 2 * w] = v.x;
          Bs[k * ${BS_STRIDE} + 2 * w + 1] = v.y;
        }`;
    return `
      ${widenFn(this.dtype)}

      var<workgroup> As : array<f32, ${tm * TK}>;
      var<workgroup> Bs : array<f32, ${TK * BS_STRIDE}>;

      fn main() {
        let R = uniforms.outShape.x;
        let N = uniforms.outShape.y;
        let aCols = uniforms.aShape.y;
        let bWords = uniforms.bShape.y;
        let K = uniforms.dimK;
        let k0 = uniforms.offsetK;
        let lx = i32(localId.x);
        let ly = i32(localId.y);
        let li = i32(localIndex);
        let row0 = i32(workgroupId.y) * ${tm};
        let col0 = i32(workgroupId.x) * ${TN};

        var acc : array<array<f32, ${COLS_PER_THREAD}>, ${rm}>;
        for (var i = 0; i < ${rm}; i++) {
          for (var j = 0; j < ${COLS_PER_THREAD}; j++) { acc[i][j] = 0.0; }
        }

        for (var kt = 0; kt < K; kt = kt + ${TK}) {
          // a's block: rows row0 + m, columns k0 + kt + k.
          for (var i = li; i < ${tm * TK}; i = i + ${threads}) {
            let m = i / ${TK};
            let k = i - m * ${TK};
            let gr = row0 + m;
            let gk = kt + k;
            var v = 0.0;
            if (gr < R && gk < K) { v = A[gr * aCols + k0 + gk]; }
            As[i] = v;
          }
          ${loadB}
          workgroupBarrier();

          for (var k = 0; k < ${TK}; k++) {
            var b : array<f32, ${COLS_PER_THREAD}>;
            for (var j = 0; j < ${COLS_PER_THREAD}; j++) { b[j] = Bs[k * ${BS_STRIDE} + lx + j * ${WG_X}]; }
            for (var i = 0; i < ${rm}; i++) {
              let a = As[(ly + i * ${WG_Y}) * ${TK} + k];
              for (var j = 0; j < ${COLS_PER_THREAD}; j++) { acc[i][j] = fma(a, b[j], acc[i][j]); }
            }
          }
          workgroupBarrier();
        }

        for (var i = 0; i < ${rm}; i++) {
          let r = row0 + ly + i * ${WG_Y};
          if (r < R) {
            for (var j = 0; j < ${COLS_PER_THREAD}; j++) {
              let n = col0 + lx + j * ${WG_X};
              if (n < N) { result[r * N + n] = acc[i][j]${this.hasBias ? ' + bias[n]' : ''}; }
            }
          }
        }
      }
    `;
  }
}

class Widen16Program implements WebGPUProgram {
  variableNames = ['x'];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0, 1] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];

  constructor(
    rows: number,
    cols: number,
    words: number,
    private readonly dtype: Dtype16,
    private readonly indexed: boolean,
  ) {
    if (indexed) this.variableNames.push('indices');
    this.outputShape = [rows, cols];
    this.dispatch = [Math.ceil((rows * words) / 64), 1, 1];
    this.shaderKey = `unclampWiden16_${dtype}_${indexed}`;
  }

  getUserCode(): string {
    return `
      ${widenFn(this.dtype)}

      fn main(index : i32) {
        let words = uniforms.xShape.y;
        let rows = uniforms.outShape.x;
        let cols = uniforms.outShape.y;
        if (index < rows * words) {
          let r = index / words;
          let w = index - r * words;
          let v = widen2(x[${this.indexed ? 'indices[r] * words + w' : 'index'}]);
          result[r * cols + 2 * w] = v.x;
          if (2 * w + 1 < cols) { result[r * cols + 2 * w + 1] = v.y; }
        }
      }
    `;
  }
}

function workgroupLimit(backend: WebGPUBackend): number {
  return backend.device.limits.maxComputeWorkgroupsPerDimension;
}

const matMul16: tf.KernelConfig = {
  kernelName: MATMUL16,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { a, b, bias } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo };
    const { dtype, cols, transposeB, k0 } = attrs as unknown as MatMul16Attrs;
    const webgpu = backend as unknown as WebGPUBackend;
    const [R, aCols] = a.shape;
    const [K, N] = transposeB ? [cols, b.shape[0]] : [b.shape[0], cols];
    if (a.dtype !== 'float32' || b.dtype !== 'int32')
      throw new Error(`${MATMUL16}: a float32 and b int32 (packed), got ${a.dtype}, ${b.dtype}`);
    if (b.shape[1] !== (cols + 1) >> 1) throw new Error(`${MATMUL16}: ${b.shape[1]} words per row for ${cols} columns`);
    if (k0 < 0 || k0 + K > aCols) throw new Error(`${MATMUL16}: columns ${k0}..${k0 + K} of a [${R}, ${aCols}]`);
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== N)) throw new Error(`${MATMUL16}: bias [${bias.shape}] for ${N} columns`);
    const program = new MatMul16Program(R, N, transposeB, dtype, bias !== undefined);
    const limit = workgroupLimit(webgpu);
    if (program.dispatch.some((d) => d > limit))
      throw new Error(`${MATMUL16}: [${R}, ${N}] needs ${program.dispatch} workgroups (limit ${limit})`);
    return webgpu.runWebGPUProgram(program, bias ? [a, b, bias] : [a, b], 'float32', [
      { type: 'int32', data: [K] },
      { type: 'int32', data: [k0] },
    ]);
  },
};

const widen16: tf.KernelConfig = {
  kernelName: WIDEN16,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, indices } = inputs as { x: tf.TensorInfo; indices?: tf.TensorInfo };
    const { dtype, cols } = attrs as unknown as Widen16Attrs;
    if (x.dtype !== 'int32' || x.shape[1] !== (cols + 1) >> 1)
      throw new Error(`${WIDEN16}: packed int32 [rows, ${(cols + 1) >> 1}], got ${x.dtype} [${x.shape}]`);
    if (indices && (indices.dtype !== 'int32' || indices.shape.length !== 1))
      throw new Error(`${WIDEN16}: indices int32 [n], got ${indices.dtype} [${indices.shape}]`);
    // Indices are not checked on the device (weights16.ts's embed16 checks them on the host).
    const program = new Widen16Program(indices ? indices.shape[0] : x.shape[0], cols, x.shape[1], dtype, indices !== undefined);
    return (backend as unknown as WebGPUBackend).runWebGPUProgram(program, indices ? [x, indices] : [x], 'float32');
  },
};

// A second evaluation of this module (the dev server's hot reload) replaces the first one's.
for (const k of [matMul16, widen16]) {
  if (tf.getKernel(k.kernelName, k.backendName)) tf.unregisterKernel(k.kernelName, k.backendName);
  tf.registerKernel(k);
}
