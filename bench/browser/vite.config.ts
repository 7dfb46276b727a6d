// The benchmark page's own build: `vite build --config bench/browser/vite.config.ts` writes dist-bench-browser/
// (bench/browser.bench.ts and e2e/bench.spec.ts build and serve it). The app's build (vite.config.ts, index.html)
// never sees this folder. Same plugins, headers and TF.js pre-bundle as the app, so the bench worker runs under the
// conditions the engine worker does: cross-origin isolation for threaded wasm, and the app's CSP under preview.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { CSP, isolation, tfjsPrebundle, tfjsPthreadWorker } from '../../vite.config.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

export default defineConfig({
  root: here,
  // The bench levels read the built-in model and its SAEs from the app's public/ folder.
  publicDir: path.join(repo, 'public'),
  // Its own pre-bundle: sharing the app's would make each dev server throw away the other's.
  cacheDir: path.join(repo, 'node_modules/.vite-bench'),
  plugins: [react(), tfjsPthreadWorker()],
  worker: { format: 'es' },
  optimizeDeps: {
    // The worker is started by URL, which the dependency scan does not follow (vite.config.ts says why it matters).
    entries: ['index.html', 'bench.worker.ts'],
    rolldownOptions: tfjsPrebundle,
  },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096, outDir: path.join(repo, 'dist-bench-browser'), emptyOutDir: true },
  preview: { host: '127.0.0.1', headers: { ...isolation, 'Content-Security-Policy': CSP } },
  server: { host: '127.0.0.1', headers: isolation },
});
