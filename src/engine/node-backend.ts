// Node host for the core: registers gradients and the cpu backend (via the @tensorflow/tfjs bundle, whose
// Node build is the one that carries the gradient registrations) and the wasm backend, then picks one.
// @tensorflow/tfjs-node is not usable here (it downloads a binary at install time).
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';
import { tf } from '../core/tf.ts';

export type NodeBackend = 'wasm' | 'cpu';

let wasmPathsSet = false;

/** Select `preferred` (default wasm), falling back to cpu; returns the backend actually in use. */
export async function initNodeBackend(preferred: NodeBackend = 'wasm'): Promise<{ backend: NodeBackend; reason?: string }> {
  // PROD silences the "install tfjs-node" banner and per-op NaN debug checks; we validate inputs ourselves.
  tf.env().set('PROD', true);
  if (preferred === 'wasm') {
    if (!wasmPathsSet) {
      const require = createRequire(import.meta.url);
      setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'))}/dist/`);
      wasmPathsSet = true;
    }
    try {
      if (await tf.setBackend('wasm')) {
        await tf.ready();
        return { backend: 'wasm' };
      }
    } catch (e) {
      await tf.setBackend('cpu');
      return { backend: 'cpu', reason: `wasm backend failed to initialise: ${(e as Error).message}` };
    }
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return preferred === 'cpu' ? { backend: 'cpu' } : { backend: 'cpu', reason: 'wasm backend unavailable' };
}
