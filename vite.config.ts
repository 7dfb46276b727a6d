import { createRequire } from 'node:module';
import type { Plugin } from 'vite';
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';
import { PTHREAD_WORKER_FILE } from './src/engine/wasm-threads-config.ts';

// Cross-origin isolation (COOP + COEP) gives the page SharedArrayBuffer, which TF.js's wasm backend needs for
// its multi-threaded SIMD build; without it wasm runs on one thread. Hosting elsewhere needs the same two headers
// (docs/playground.md, "Hosting").
export const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
// The built app's Content-Security-Policy (the preview server sends it; docs/playground.md, "Hosting"). No 'unsafe-eval':
// WebAssembly compilation needs only 'wasm-unsafe-eval' (the wasm backend's threaded build included: its pthread
// workers start from same-origin scripts, see tfjsPthreadWorker); styles set from script are not inline styles,
// but libraries' style attributes are, hence style-src 'unsafe-inline'. The dev server omits it (React's fast refresh injects an inline script).
// connect-src: the Hub endpoint is a setting (the Hub, whose resolve URLs redirect to its CDNs, or a mirror), so any
// https origin, and plain http only on this machine (a local mirror, the e2e suite's fake Hub).
export const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self' https: http://127.0.0.1:* http://localhost:*",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * TF.js's pthread worker script (the wasmWorkerContents its threaded wasm build otherwise starts from a blob: URL,
 * which worker-src 'self' refuses) as a same-origin file beside the page: written into the build, served by the dev
 * server. src/engine/browser-wasm-threads.ts starts the threaded build's workers from it.
 */
export function tfjsPthreadWorker(): Plugin {
  const fileName = PTHREAD_WORKER_FILE;
  // The string's \n escapes arrive as line breaks, inside its string literals: they go back to escapes (as TF.js
  // does before making its Blob).
  const source = () =>
    (
      createRequire(import.meta.url)('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js')
        .wasmWorkerContents as string
    ).replace(/\n/g, '\\n');
  return {
    name: 'tfjs-pthread-worker',
    configureServer(server) {
      server.middlewares.use(`/${fileName}`, (_req, res) => {
        for (const [k, v] of Object.entries(isolation)) res.setHeader(k, v);
        res.setHeader('Content-Type', 'text/javascript');
        res.end(source());
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName, source: source() });
    },
  };
}

// tfjs-core's package.json lists only some of its modules as having side effects, so the pre-bundle drops
// import edges through the others (dist/base.js): the tfjs-core/dist/register_all_gradients entry (the first
// TF.js module the worker runs) then no longer pulls in dist/flags.js, and its gradient list, which has four
// kernels twice, reads the DEBUG flag before it is registered: "Cannot evaluate flag 'DEBUG'".
export const tfjsPrebundle = { treeshake: { moduleSideEffects: [{ test: /@tensorflow[\\/]tfjs-core[\\/]/, sideEffects: true }] } };

// The app: index.html and what it loads. The benchmark page is a separate build (bench/browser/vite.config.ts) that
// reuses the pieces exported here.
export default defineConfig({
  plugins: [react(), tfjsPthreadWorker()],
  worker: { format: 'es' },
  // The dev server's pre-bundle of TF.js (production builds do not use it).
  optimizeDeps: {
    // The dependency scan does not follow new Worker(new URL(…)), so TF.js, which only the workers import, would be
    // found only when the engine worker asks for it, forcing a second pre-bundle while the page is already loaded.
    entries: ['index.html', 'src/engine/recovery.worker.ts'],
    rolldownOptions: tfjsPrebundle,
  },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true, headers: { ...isolation, 'Content-Security-Policy': CSP } },
  server: { host: '127.0.0.1', port: 5173, headers: isolation },
  test: {
    include: ['src/**/*.test.ts', 'scripts/**/*.test.ts', 'bench/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    // A process per core (at most 4: a real-size model test holds a few GB): the suite is CPU-bound on one wasm thread
    // per process, and vitest's default (cores − 1) leaves one of a 2-core machine's two idle. The timeouts allow for
    // processes sharing the machine.
    maxWorkers: Math.min(4, availableParallelism()),
    testTimeout: 300_000,
    hookTimeout: 300_000,
    setupFiles: ['src/engine/node-setup.ts'],
    // One wasm thread per test process; node-wasm-threads.test.ts runs more.
    env: { UNCLAMP_WASM_THREADS: '1' },
  },
});
