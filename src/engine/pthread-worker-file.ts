// The name, at the site's root, of TF.js's pthread worker script: vite.config.ts writes it, the page's worker
// starts the threaded wasm build's workers from it (browser-wasm-threads.ts). No imports: the build config reads it.
export const PTHREAD_WORKER_FILE = 'tfjs-pthread-worker.js';
