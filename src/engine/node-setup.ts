// Vitest setup: unit tests run the core on the cpu backend (exact, fast enough for small fixtures).
// Tests that exercise wasm switch to it explicitly through initNodeBackend('wasm').
import { initNodeBackend } from './node-backend.ts';

await initNodeBackend('cpu');
