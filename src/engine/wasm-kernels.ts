// Kernels the project registers over TF.js's own on the wasm backend, each for a measured reason. Imported by
// both hosts (node-backend.ts, browser-backend.ts) right after the wasm backend itself.
import '@tensorflow/tfjs-backend-wasm';
import { tf } from '../core/tf.ts';

type Heap = Float32Array | Int32Array | Uint8Array;

/** The parts of TF.js's wasm backend these kernels use. */
interface WasmBackend {
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  /** A view of a tensor's memory on the wasm heap (no copy); any allocation may move the heap, so take it last. */
  typedArrayFromHeap(t: tf.TensorInfo): Heap;
}

/**
 * Identity sharing its input's memory, as Reshape already does on wasm and Identity does on the cpu backend.
 * TF.js's wasm Identity copies, and the engine runs one for every tensor a gradient keeps (each input or output a
 * kernel's gradient reads, and each tensor a custom gradient saves): 265 copies in a GPT-2-small step from the hook
 * onward, 8 ms of a 644 ms step on one thread. No kernel writes into its inputs, and a tensor's memory is freed with
 * its last reference, so a shared buffer is indistinguishable from a copy.
 */
const sharedIdentity: tf.KernelConfig = {
  kernelName: tf.Identity,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => {
    const x = inputs.x as tf.TensorInfo;
    (backend as unknown as WasmBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  },
};

/**
 * Copy the block `begin`..`begin + size` of x (shape `shape`) into out, in runs as long as the block allows: the
 * innermost axes taken whole join the run.
 */
export function copyBlock(
  x: ArrayLike<number> & { subarray(a: number, b: number): Heap },
  shape: number[],
  begin: number[],
  size: number[],
  out: Heap,
): void {
  const rank = shape.length;
  if (size.some((n) => n === 0)) return;
  if (rank === 0) {
    out.set(x.subarray(0, 1));
    return;
  }
  const stride = new Array<number>(rank);
  stride[rank - 1] = 1;
  for (let j = rank - 2; j >= 0; j--) stride[j] = stride[j + 1] * shape[j + 1];
  let k = rank - 1;
  while (k > 0 && size[k] === shape[k]) k--; // whole axes (begin 0)
  const run = size[k] * stride[k];
  const index = new Array<number>(k).fill(0);
  for (let o = 0; ; o += run) {
    let from = begin[k] * stride[k];
    for (let j = 0; j < k; j++) from += (begin[j] + index[j]) * stride[j];
    // A view per run costs more than copying a short run value by value (a slice of a few columns).
    if (run < 32) for (let i = 0; i < run; i++) out[o + i] = x[from + i];
    else out.set(x.subarray(from, from + run), o);
    let j = k - 1;
    while (j >= 0 && ++index[j] === size[j]) index[j--] = 0;
    if (j < 0) return;
  }
}

function sliceOf(x: tf.TensorInfo, begin: number[], size: number[], backend: WasmBackend): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  copyBlock(backend.typedArrayFromHeap(x), x.shape, begin, size, backend.typedArrayFromHeap(out));
  return out;
}

/** A kernel over TF.js's `name` on wasm for tensors on the heap; strings (which are not) keep TF.js's kernel. */
function onHeap(
  name: string,
  body: (x: tf.TensorInfo, attrs: tf.NamedAttrMap, backend: WasmBackend) => tf.TensorInfo | tf.TensorInfo[],
): tf.KernelConfig {
  const original = tf.getKernel(name, 'wasm')!.kernelFunc;
  return {
    kernelName: name,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      return x.dtype === 'string' ? original(args) : body(x, args.attrs ?? {}, args.backend as unknown as WasmBackend);
    },
  };
}

/**
 * Slice and SplitV reading the input where it lies. TF.js's wasm Slice first copies the whole input off the heap
 * (`readSync`), so splitting GPT-2's fused q, k, v product ([64, 2,304]) copied it three times: 1.3 ms a split
 * where the three slices' own copies take tens of µs.
 */
const heapSlice = onHeap(tf.Slice, (x, attrs, backend) => {
  const { begin, size } = attrs as unknown as tf.SliceAttrs;
  const [b, s] = tf.slice_util.parseSliceParams(x, begin, size);
  return sliceOf(x, b, s, backend);
});

const heapSplitV = onHeap(tf.SplitV, (x, attrs, backend) => {
  const { numOrSizeSplits, axis } = attrs as unknown as tf.SplitVAttrs;
  const a = tf.util.parseAxisParam(axis, x.shape)[0];
  const begin = new Array<number>(x.shape.length).fill(0);
  return tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, a).map((n) => {
    const size = [...x.shape];
    size[a] = n;
    const out = sliceOf(x, [...begin], size, backend);
    begin[a] += n;
    return out;
  });
});

// Over TF.js's own (a second evaluation of this module replaces the first one's, which delegate alike).
for (const k of [sharedIdentity, heapSlice, heapSplitV]) {
  tf.unregisterKernel(k.kernelName, 'wasm');
  tf.registerKernel(k);
}
