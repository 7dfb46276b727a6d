// TF.js 4.22's webgpu backend uploads every tensor made from JS values — each scalar constant of an op like
// tf.mul(0.5, x) too — through a staging buffer created for that one upload (GPUDevice.createBuffer, mapped,
// copied, destroyed after the next submit), and ends the open compute pass to record the copy. A recovery step
// makes dozens of such constants; on an NVIDIA H200 through Dawn the buffer creation alone was about a fifth of
// the host time of a GPT-2-small-sized step. GPUQueue.writeBuffer does the same copy through the WebGPU
// implementation's own staging memory, with no buffer to create and no pass to end. What upstream would need:
// uploadToGPU using queue.writeBuffer (its uniforms already do).
//
// Ordering is unchanged: the destination comes from TF.js's pool of released buffers, which no recorded command
// still reads (TF.js defers a release until the commands that use it are submitted), and a queue write lands
// after all work submitted before it and before the commands that read the new tensor, submitted after it.

interface TensorData {
  values: ArrayLike<number> | null;
  dtype: string;
  shape: number[];
  resource: unknown;
}

interface WebGpuBackendInternals {
  tensorMap: { get(dataId: object): TensorData | undefined };
  bufferManager: { acquireBuffer(size: number, usage: number): unknown };
  queue: { writeBuffer(buffer: unknown, offset: number, data: ArrayBufferView): void };
  uploadToGPU(dataId: object): void;
}

const PATCHED = Symbol.for('unclamp.webgpuUploads');

/** Route the backend's uploads of JS values through queue.writeBuffer; false (and no change) where its internals differ. */
export function patchWebGpuUploads(backend: unknown): boolean {
  const b = backend as WebGpuBackendInternals & { [PATCHED]?: true };
  if (b[PATCHED]) return true;
  if (typeof b.uploadToGPU !== 'function' || !b.tensorMap || !b.bufferManager?.acquireBuffer || !b.queue?.writeBuffer) return false;
  const usage = (globalThis as unknown as { GPUBufferUsage?: { STORAGE: number; COPY_SRC: number; COPY_DST: number } }).GPUBufferUsage;
  if (!usage) return false;
  const storage = usage.STORAGE | usage.COPY_SRC | usage.COPY_DST;
  const original = b.uploadToGPU.bind(b);
  b.uploadToGPU = (dataId: object) => {
    const data = b.tensorMap.get(dataId);
    // Only plain 4-byte values take the short path; anything else (complex64, strings) goes the original way.
    if (!data || data.resource != null || !data.values || !['float32', 'int32', 'bool'].includes(data.dtype)) return original(dataId);
    const n = data.shape.reduce((a, s) => a * s, 1);
    const values = data.values;
    const src =
      data.dtype === 'float32'
        ? values instanceof Float32Array
          ? values
          : Float32Array.from(values)
        : values instanceof Int32Array
          ? values
          : Int32Array.from(values);
    if (src.length !== n) return original(dataId);
    const buffer = b.bufferManager.acquireBuffer(4 * n, storage);
    b.queue.writeBuffer(buffer, 0, src);
    data.values = null; // as TF.js does once the values are on the GPU
    data.resource = buffer;
  };
  b[PATCHED] = true;
  return true;
}
