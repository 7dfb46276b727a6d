import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// Cross-origin isolation (COOP + COEP) gives the page SharedArrayBuffer, which TF.js's wasm backend needs for
// its multi-threaded SIMD build; without it wasm runs on one thread. Hosting elsewhere needs the same two headers
// (README, "Hosting").
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  plugins: [react()],
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true, headers: isolation },
  server: { host: '127.0.0.1', port: 5173, headers: isolation },
  test: {
    include: ['src/**/*.test.ts', 'scripts/**/*.test.ts', 'bench/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    setupFiles: ['src/engine/node-setup.ts'],
  },
});
