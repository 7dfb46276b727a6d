import type { BackendName } from '../engine/protocol.ts';
import { MAX_WASM_THREADS } from '../engine/wasm-threads-config.ts';

/** The order the worker tries backends in (WebGPU → WebGL → WASM → CPU, see src/engine/browser-backend.ts); the page only needs the names. */
export const BACKEND_ORDER_NAMES: BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

/**
 * `?backend=NAME` in the page's address: try that backend first, then the ones after it, as given (e.g. `webgpu`
 * on a software adapter, which the default passes over for wasm). Anything else: undefined, the worker's default
 * (the fastest backend here).
 */
export function backendsFromSearch(search: string): BackendName[] | undefined {
  const name = new URLSearchParams(search).get('backend');
  const i = BACKEND_ORDER_NAMES.indexOf(name as BackendName);
  return i < 0 ? undefined : BACKEND_ORDER_NAMES.slice(i);
}

/**
 * `?threads=N` (1..MAX_WASM_THREADS): the wasm backend's threads, where the page is cross-origin isolated. Default (absent or out
 * of range): TF.js's, half the logical cores.
 */
export function wasmThreadsFromSearch(search: string): number | undefined {
  const n = Number(new URLSearchParams(search).get('threads') ?? Number.NaN);
  return Number.isInteger(n) && n >= 1 && n <= MAX_WASM_THREADS ? n : undefined;
}
