// The guard on the wasm backend's allocator (wasm-malloc-guard.ts): past the 4 GiB ceiling an allocation throws,
// where TF.js would hand out address 0 and go on with corrupted tensors; the backend keeps working afterwards.
// The first test reaches the ceiling with buffers the backend allocates and nothing writes (makeOutput: the pages
// are reserved, not touched, so the process stays small), then asks a kernel for more. The second fills tensors
// of 256 MiB until the heap is full, as a run would: about 4 GB of this machine's memory and a few seconds, so it is
// opt-in: UNCLAMP_WASM_CEILING_TEST=1 npx vitest run src/engine/wasm-malloc-guard.test.ts
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../core/tf.ts';
import { initNodeBackend } from './node-backend.ts';
import { guardWasmMalloc, WasmMemoryError } from './wasm-malloc-guard.ts';

interface WasmBackend {
  makeOutput(shape: number[], dtype: 'float32'): { dataId: object };
  disposeData(dataId: object, force?: boolean): boolean;
  wasm: { HEAPU8: Uint8Array };
}
const backend = () => tf.backend() as unknown as WasmBackend;
const MiB = 2 ** 20;

beforeAll(async () => {
  expect((await initNodeBackend('wasm', { threads: 1 })).backend).toBe('wasm');
});

/** Raw buffers held by a test, freed after it. */
const held: object[] = [];
afterEach(() => {
  for (const id of held.splice(0)) backend().disposeData(id, true);
});

async function stillWorks(): Promise<void> {
  const sum = tf.tidy(() => tf.add(tf.tensor1d([1, 2, 3]), tf.scalar(1)));
  expect(Array.from(await sum.data())).toEqual([2, 3, 4]);
  sum.dispose();
  // A tensor of 64 MiB, written and read back whole.
  const n = (64 * MiB) / 4;
  const big = tf.fill([n], 2.5);
  const tail = tf.slice(big, [n - 1], [1]);
  expect((await tail.data())[0]).toBe(2.5);
  tf.dispose([big, tail]);
}

describe('the wasm allocator guard', () => {
  it('is in place once initNodeBackend starts wasm, and installing it again changes nothing', () => {
    const malloc = (backend() as unknown as { wasm: { _malloc: unknown } }).wasm._malloc;
    expect(guardWasmMalloc()).toBe(true);
    expect((backend() as unknown as { wasm: { _malloc: unknown } }).wasm._malloc).toBe(malloc);
  });

  it('throws WasmMemoryError where the heap cannot grow, and the backend keeps working', async () => {
    const tensorsBefore = tf.memory().numTensors;
    let error: unknown;
    try {
      // 512 MiB buffers until the heap's 4 GiB − 64 KiB is reached (7 fit beside the backend's own few MB).
      for (let i = 0; i < 16; i++) held.push(backend().makeOutput([(512 * MiB) / 4], 'float32').dataId);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WasmMemoryError);
    expect((error as Error).message).toMatch(/^the wasm backend ran out of its 4 GB memory: 537 MB more could not be allocated/);
    expect(held.length).toBe(7);
    // Then 64 MiB buffers until those stop fitting too: the heap is at its ceiling.
    expect(() => {
      for (let i = 0; i < 16; i++) held.push(backend().makeOutput([(64 * MiB) / 4], 'float32').dataId);
    }).toThrow(WasmMemoryError);
    expect(backend().wasm.HEAPU8.length).toBeGreaterThan(4_294_901_760 - 64 * MiB);
    // A kernel's output the heap cannot hold: the op throws, inside a scope that frees what it made.
    expect(() => tf.tidy(() => tf.add(tf.fill([(256 * MiB) / 4], 1), 1))).toThrow(WasmMemoryError);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    for (const id of held.splice(0)) backend().disposeData(id, true);
    // All freed, the allocator hands out a block of 256 MiB that runs past the heap's end (TF.js 4.22: at
    // 4,093,733,728, a RangeError when the fill writes it): the guard refuses it too.
    expect(() => tf.fill([(256 * MiB) / 4], 1)).toThrow(WasmMemoryError);
    await stillWorks();
  });

  it('refuses one tensor of 4 GiB or more (wasm32 malloc would take its size modulo 2³²)', async () => {
    expect(() => tf.fill([2 ** 30 + 2 ** 28], 1)).toThrow(/one tensor of 5,369 MB is larger than all of it/);
    await stillWorks();
  });

  it.runIf(process.env.UNCLAMP_WASM_CEILING_TEST === '1')(
    'opt-in (UNCLAMP_WASM_CEILING_TEST=1, ~4 GB of memory): tensors of 256 MiB filled until the heap is full stay intact, the next throws',
    async () => {
      const n = (256 * MiB) / 4;
      const kept: tf.Tensor[] = [];
      let error: unknown;
      try {
        for (let i = 0; i < 24; i++) kept.push(tf.fill([n], i + 0.5));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(WasmMemoryError);
      expect(kept.length).toBeGreaterThanOrEqual(14);
      for (let i = 0; i < kept.length; i++) {
        const ends = tf.concat([tf.slice(kept[i], [0], [1]), tf.slice(kept[i], [n - 1], [1])]);
        expect(Array.from(await ends.data())).toEqual([i + 0.5, i + 0.5]);
        ends.dispose();
      }
      tf.dispose(kept);
      await stillWorks();
    },
    60_000,
  );
});
