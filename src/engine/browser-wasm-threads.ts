// TF.js's multi-threaded wasm build (XNNPACK's thread pool over emscripten pthreads) in the page's worker.
//
// TF.js hands the threaded loader two scripts as blob: URLs — the pthread worker's script and the main script
// every pthread worker loads — which the page's Content-Security-Policy refuses (worker-src and script-src are
// 'self'), and the main script it makes is its bundled factory's source, which does not run outside the bundle.
// The same two scripts ship with TF.js as files: the self-contained threaded loader
// (wasm-out/tfjs-backend-wasm-threaded-simd.js, an asset here) and the worker script (written out at build time
// as tfjs-pthread-worker.js by vite.config.ts). While the backend starts, the pthread workers are started from
// those same-origin files instead. TF.js sizes its pool as navigator.hardwareConcurrency / 2 (capped 1..8), so the
// count asked for is reported, doubled, as the hardware concurrency. Both changes are undone once the backend is up.
import threadedMain from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js?url';
import { PTHREAD_WORKER_FILE } from './wasm-threads-config.ts';

/**
 * Run `init` (which starts TF.js's wasm backend with WASM_HAS_MULTITHREAD_SUPPORT on) with the pthread workers
 * started from same-origin scripts and TF.js told that the machine has 2 × `threads` logical cores.
 */
export async function withBrowserWasmThreads<T>(threads: number, init: () => Promise<T>): Promise<T> {
  const scope = globalThis as unknown as { Worker: typeof Worker; navigator: Navigator };
  const workerUrl = new URL(`${import.meta.env.BASE_URL}${PTHREAD_WORKER_FILE}`, globalThis.location.href).href;
  const mainUrl = new URL(threadedMain, globalThis.location.href).href;
  const OriginalWorker = scope.Worker;
  class PthreadWorker extends OriginalWorker {
    constructor(url: string | URL, options?: WorkerOptions) {
      if (typeof url === 'string' && url.startsWith('blob:')) URL.revokeObjectURL(url);
      super(workerUrl, options);
    }
    override postMessage(message: unknown, transfer?: Transferable[] | StructuredSerializeOptions): void {
      const m = message as { cmd?: string; urlOrBlob?: unknown } | null;
      if (m?.cmd === 'load' && m.urlOrBlob instanceof Blob) message = { ...m, urlOrBlob: mainUrl };
      super.postMessage(message, transfer as Transferable[]);
    }
  }
  const own = Object.getOwnPropertyDescriptor(scope.navigator, 'hardwareConcurrency');
  try {
    scope.Worker = PthreadWorker;
    Object.defineProperty(scope.navigator, 'hardwareConcurrency', { configurable: true, get: () => 2 * threads });
    return await init();
  } finally {
    scope.Worker = OriginalWorker;
    if (own) Object.defineProperty(scope.navigator, 'hardwareConcurrency', own);
    else delete (scope.navigator as { hardwareConcurrency?: number }).hardwareConcurrency;
  }
}
