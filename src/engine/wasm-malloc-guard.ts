// A guard on TF.js's wasm allocator. TF.js 4.22's wasm builds grow their memory to at most 4 GiB − 64 KiB
// (Emscripten's getHeapMax()); past it the module's _malloc returns 0, and the backend does not check: it registers
// the tensor at address 0, so tensors alias the heap's first bytes and a run goes on with corrupted values (or
// dies later with "memory access out of bounds"). Once blocks near the ceiling have been freed, malloc may also
// return a block that runs past the end of the heap (a RangeError or an out-of-bounds access when it is written).
// And the wasm32 malloc takes its size modulo 2³², so a tensor of 4 GiB or more would get a block of the remainder.
// The guard wraps the module's _malloc to throw WasmMemoryError in these cases, before anything is registered: the
// operation fails, tf.tidy scopes free what they made, and the backend goes on working for what fits
// (src/engine/wasm-malloc-guard.test.ts).
//
// Emscripten's _malloc starts as a stub that replaces itself with the raw export on its first call (Module._malloc =
// Module.asm.malloc): a wrapper installed before that call would be overwritten by it. So the guard first allocates
// one tensor, then wraps. The node host (node-backend.ts) and the page's worker (browser-backend.ts) install it
// whenever they start the wasm backend; installing it twice is harmless.
import { InputError } from '../core/errors.ts';
import { tf } from '../core/tf.ts';

/** The wasm heap's ceiling in TF.js 4.22's builds (getHeapMax(); src/model/memory-plan.ts WASM_HEAP_MAX). */
const HEAP_MAX = 4_294_901_760;
const GUARDED = Symbol.for('unclamp.wasmMallocGuard');

/** The wasm backend ran out of memory: too large a run for its 4 GB (the message says what to change). */
export class WasmMemoryError extends InputError {
  override name = 'WasmMemoryError';
}

interface WasmModule {
  _malloc: ((bytes: number) => number) & { [GUARDED]?: true };
  HEAPU8: Uint8Array;
}

const MB = (b: number) => `${Math.round(b / 1e6).toLocaleString('en-US')} MB`;

/** The message: what was asked, what the heap and the tensors hold, and what to change. */
function message(bytes: number, heapBytes: number): string {
  const tensors = tf.memory().numBytes;
  const why =
    bytes > HEAP_MAX
      ? `one tensor of ${MB(bytes)} is larger than all of it`
      : `${MB(bytes)} more could not be allocated (the heap is ${MB(heapBytes)}, its tensors ${MB(tensors)})`;
  return `the wasm backend ran out of its 4 GB memory: ${why}. Use fewer prompts or shorter ones, a later hook layer, or a backend with more memory (WebGPU)`;
}

/**
 * Wrap the active wasm backend's _malloc so that a failed allocation throws WasmMemoryError instead of corrupting
 * tensors. Call once the wasm backend is the active one (after tf.setBackend('wasm') and tf.ready()); does nothing
 * on another backend. True when the guard is in place.
 */
export function guardWasmMalloc(): boolean {
  if (tf.getBackend() !== 'wasm') return false;
  const wasm = (tf.backend() as unknown as { wasm?: WasmModule }).wasm;
  if (!wasm || typeof wasm._malloc !== 'function') return false;
  if (wasm._malloc[GUARDED]) return true;
  // The first allocation makes Emscripten's stub put the raw export in its place.
  tf.dispose(tf.zeros([1]));
  const raw = wasm._malloc;
  const guarded = Object.assign(
    (bytes: number): number => {
      if (bytes > HEAP_MAX) throw new WasmMemoryError(message(bytes, wasm.HEAPU8.length));
      const p = raw(bytes);
      // Past the ceiling malloc returns 0; or, once blocks near it have been freed, a block that runs past the end of
      // the heap (measured: 256 MiB at 4,093,733,728, beyond 2³²). The latter is left allocated: never handed out.
      if ((p === 0 && bytes > 0) || (p >>> 0) + bytes > wasm.HEAPU8.length) throw new WasmMemoryError(message(bytes, wasm.HEAPU8.length));
      return p;
    },
    { [GUARDED]: true as const },
  );
  wasm._malloc = guarded;
  return true;
}
