// The upload patch's decisions, on a stand-in for TF.js's webgpu backend internals (Node has no WebGPU; the real
// backend runs it in the WebGPU e2e projects, where the page and the CLI must give the same figures).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { patchWebGpuUploads } from './webgpu-uploads.ts';

const usage = { STORAGE: 128, COPY_SRC: 4, COPY_DST: 8 };

function fakeBackend() {
  const tensors = new Map<object, { values: ArrayLike<number> | null; dtype: string; shape: number[]; resource: unknown }>();
  const writes: { buffer: unknown; data: ArrayBufferView }[] = [];
  const acquired: { size: number; usage: number }[] = [];
  const originals: object[] = [];
  const backend = {
    tensorMap: tensors,
    bufferManager: {
      acquireBuffer: (size: number, u: number) => {
        acquired.push({ size, usage: u });
        return { size };
      },
    },
    queue: { writeBuffer: (buffer: unknown, _offset: number, data: ArrayBufferView) => writes.push({ buffer, data }) },
    uploadToGPU(dataId: object) {
      originals.push(dataId);
    },
  };
  return { backend, tensors, writes, acquired, originals };
}

describe('patchWebGpuUploads', () => {
  beforeEach(() => {
    (globalThis as Record<string, unknown>).GPUBufferUsage = usage;
  });
  afterEach(() => {
    delete (globalThis as Record<string, unknown>).GPUBufferUsage;
  });

  it('writes float32, int32 and bool values through queue.writeBuffer into a pooled storage buffer', () => {
    const f = fakeBackend();
    expect(patchWebGpuUploads(f.backend)).toBe(true);
    const ids = [{}, {}, {}];
    f.tensors.set(ids[0], { values: new Float32Array([0.5]), dtype: 'float32', shape: [], resource: null });
    f.tensors.set(ids[1], { values: new Int32Array([1, 2, 3]), dtype: 'int32', shape: [3], resource: null });
    f.tensors.set(ids[2], { values: new Uint8Array([1, 0]), dtype: 'bool', shape: [2], resource: null });
    for (const id of ids) f.backend.uploadToGPU(id);
    expect(f.originals).toHaveLength(0);
    expect(f.acquired).toEqual([
      { size: 4, usage: 140 },
      { size: 12, usage: 140 },
      { size: 8, usage: 140 },
    ]);
    expect(Array.from(f.writes[0].data as Float32Array)).toEqual([0.5]);
    expect(f.writes[2].data).toBeInstanceOf(Int32Array);
    expect(Array.from(f.writes[2].data as Int32Array)).toEqual([1, 0]);
    for (const id of ids) {
      expect(f.tensors.get(id)?.values).toBeNull();
      expect(f.tensors.get(id)?.resource).toBe(f.writes[ids.indexOf(id)].buffer);
    }
  });

  it('leaves tensors already on the GPU, without values, or of other types to TF.js, and patches once', () => {
    const f = fakeBackend();
    patchWebGpuUploads(f.backend);
    expect(patchWebGpuUploads(f.backend)).toBe(true);
    const onGpu = {};
    const empty = {};
    const complex = {};
    f.tensors.set(onGpu, { values: new Float32Array([1]), dtype: 'float32', shape: [1], resource: {} });
    f.tensors.set(empty, { values: null, dtype: 'float32', shape: [4], resource: null });
    f.tensors.set(complex, { values: new Float32Array([1, 2]), dtype: 'complex64', shape: [1], resource: null });
    for (const id of [onGpu, empty, complex]) f.backend.uploadToGPU(id);
    expect(f.originals).toEqual([onGpu, empty, complex]);
    expect(f.writes).toHaveLength(0);
  });

  it('changes nothing where the internals it relies on are missing', () => {
    const f = fakeBackend();
    const { queue: _q, ...noQueue } = f.backend;
    expect(patchWebGpuUploads(noQueue)).toBe(false);
    delete (globalThis as Record<string, unknown>).GPUBufferUsage;
    expect(patchWebGpuUploads(fakeBackend().backend)).toBe(false);
  });
});
