import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// Cross-origin isolation (COOP + COEP) gives the page SharedArrayBuffer, which TF.js's wasm backend needs for
// its multi-threaded SIMD build; without it wasm runs on one thread. Hosting elsewhere needs the same two headers
// (README, "Hosting").
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
// The built app's Content-Security-Policy (the preview server sends it; README, "Hosting"). No 'unsafe-eval':
// WebAssembly compilation needs only 'wasm-unsafe-eval' (the wasm backend, single-threaded: TF.js's threaded build
// would need blob: workers and does not start in a bundle anyway); styles set from script are not inline styles,
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

export default defineConfig({
  plugins: [react()],
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true, headers: { ...isolation, 'Content-Security-Policy': CSP } },
  server: { host: '127.0.0.1', port: 5173, headers: isolation },
  test: {
    include: ['src/**/*.test.ts', 'scripts/**/*.test.ts', 'bench/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    setupFiles: ['src/engine/node-setup.ts'],
    // One wasm thread per test process (two run at once on a 2-core machine); node-wasm-threads.test.ts runs more.
    env: { UNCLAMP_WASM_THREADS: '1' },
  },
});
