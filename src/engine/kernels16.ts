// The 16-bit weight kernels (src/model/weights16.ts) in plain JavaScript for the 'cpu' and 'wasm' backends: each
// call widens the chunk it reads (exactly) and multiplies in float64, rounding once to float32. Correct and slow —
// they exist so the op, its gradient and its tensor bookkeeping run in Node's tests; a model on these backends
// widens its weights to float32 at load instead (weights16.ts, "Backends"). WebGPU's kernels: webgpu-matmul16.ts.
// Imported by both hosts (node-backend.ts, browser-backend.ts).
import { tf } from '../core/tf.ts';
import { MATMUL16, type MatMul16Attrs, WIDEN16, type Widen16Attrs, widenPacked } from '../model/weights16.ts';

type Values = Float32Array | Int32Array;

/** The product MATMUL16 describes, on host arrays. */
export function matMul16Host(
  a: Float32Array,
  aShape: number[],
  packed: Int32Array | Uint32Array,
  bRows: number,
  attrs: MatMul16Attrs,
  bias?: Float32Array,
): { values: Float32Array; shape: [number, number] } {
  const { dtype, cols, transposeB, k0 } = attrs;
  const [R, aCols] = aShape;
  const B = widenPacked(packed, bRows, cols, dtype);
  const [K, N] = transposeB ? [cols, bRows] : [bRows, cols];
  if (k0 < 0 || k0 + K > aCols) throw new Error(`${MATMUL16}: columns ${k0}..${k0 + K} of a [${R}, ${aCols}]`);
  if (bias && bias.length !== N) throw new Error(`${MATMUL16}: bias of ${bias.length} for ${N} columns`);
  const out = new Float32Array(R * N);
  const acc = new Float64Array(N);
  for (let r = 0; r < R; r++) {
    const aRow = r * aCols + k0;
    if (transposeB) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        const bRow = n * K;
        for (let k = 0; k < K; k++) s += a[aRow + k] * B[bRow + k];
        acc[n] = s;
      }
    } else {
      acc.fill(0);
      for (let k = 0; k < K; k++) {
        const v = a[aRow + k];
        const bRow = k * N;
        for (let n = 0; n < N; n++) acc[n] += v * B[bRow + n];
      }
    }
    for (let n = 0; n < N; n++) out[r * N + n] = bias ? acc[n] + bias[n] : acc[n];
  }
  return { values: out, shape: [R, N] };
}

/** How each backend hands a kernel its inputs and takes its output. */
interface HostIO {
  read(backend: object, t: tf.TensorInfo): Values;
  write(backend: object, shape: number[], values: Float32Array): tf.TensorInfo;
}

const cpuIO: HostIO = {
  read: (backend, t) => (backend as { readSync(id: object): Values }).readSync(t.dataId),
  write: (backend, shape, values) =>
    (backend as { makeTensorInfo(s: number[], d: tf.DataType, v: Float32Array): tf.TensorInfo }).makeTensorInfo(shape, 'float32', values),
};

interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Values;
}

const wasmIO: HostIO = {
  read: (backend, t) => (backend as WasmBackend).typedArrayFromHeap(t),
  // makeOutput may grow (move) the heap: the output's view is taken after it, and the inputs were read before.
  write: (backend, shape, values) => {
    const b = backend as WasmBackend;
    const out = b.makeOutput(shape, 'float32');
    (b.typedArrayFromHeap(out) as Float32Array).set(values);
    return out;
  },
};

function kernels(backendName: string, io: HostIO): tf.KernelConfig[] {
  return [
    {
      kernelName: MATMUL16,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { a, b, bias } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo };
        const r = matMul16Host(
          io.read(backend, a) as Float32Array,
          a.shape,
          io.read(backend, b) as Int32Array,
          b.shape[0],
          attrs as unknown as MatMul16Attrs,
          bias ? (io.read(backend, bias) as Float32Array) : undefined,
        );
        return io.write(backend, r.shape, r.values);
      },
    },
    {
      kernelName: WIDEN16,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, indices } = inputs as { x: tf.TensorInfo; indices?: tf.TensorInfo };
        const { dtype, cols } = attrs as unknown as Widen16Attrs;
        let packed = io.read(backend, x) as Int32Array;
        let rows = x.shape[0];
        if (indices) {
          const words = x.shape[1];
          const ids = io.read(backend, indices) as Int32Array;
          const picked = new Int32Array(ids.length * words);
          ids.forEach((id, i) => {
            if (id < 0 || id >= rows) throw new Error(`${WIDEN16}: row ${id} of ${rows}`);
            picked.set(packed.subarray(id * words, (id + 1) * words), i * words);
          });
          [packed, rows] = [picked, ids.length];
        }
        return io.write(backend, [rows, cols], widenPacked(packed, rows, cols, dtype));
      },
    },
  ];
}

// A second evaluation of this module (the dev server's hot reload) replaces the first one's.
for (const k of [...kernels('cpu', cpuIO), ...kernels('wasm', wasmIO)]) {
  if (tf.getKernel(k.kernelName, k.backendName)) tf.unregisterKernel(k.kernelName, k.backendName);
  tf.registerKernel(k);
}
