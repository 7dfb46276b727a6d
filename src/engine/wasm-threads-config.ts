// Facts about TF.js's threaded wasm build that the build config, the page's main thread, the page's worker and the
// Node host all read. No imports, so that each of them can.

/** The name, at the site's root, of TF.js's pthread worker script: vite.config.ts writes it (browser-wasm-threads.ts). */
export const PTHREAD_WORKER_FILE = 'tfjs-pthread-worker.js';

/** XNNPACK's thread pool has at most 8 threads: TF.js pre-starts 8 pthread workers. */
export const MAX_WASM_THREADS = 8;
