// Node host for the core: registers gradients and the cpu backend (via the @tensorflow/tfjs bundle, whose
// Node build is the one that carries the gradient registrations) and the wasm backend, then picks one.
// @tensorflow/tfjs-node is not usable here (it downloads a binary at install time).
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../core/errors.ts';
import { tf } from '../core/tf.ts';
import { withNodeWasmThreads } from './node-wasm-threads.ts';
import { MAX_WASM_THREADS } from './wasm-threads-config.ts';
import { startThreadedWasm } from './wasm-threads.ts';
import { guardWasmMalloc } from './wasm-malloc-guard.ts';
import './wasm-kernels.ts';
import './kernels16.ts';

export type NodeBackend = 'wasm' | 'cpu';

/** Environment variable that sets the default wasm thread count (the CLI's --threads overrides it). */
export const THREADS_ENV = 'UNCLAMP_WASM_THREADS';

export interface NodeBackendChoice {
  backend: NodeBackend;
  /** Threads of the wasm backend's matrix products (1 on cpu). */
  threads: number;
  /** Why the backend or thread count differs from the one asked for. */
  reason?: string;
}

/** A thread count from the user: a whole number in 1..8 (error names `what`, e.g. "--threads"). */
export function parseThreads(value: string | number, what: string): number {
  const n = Number(value);
  if (String(value).trim() === '' || !Number.isInteger(n) || n < 1 || n > MAX_WASM_THREADS)
    throw new InputError(`${what} must be a whole number in 1..${MAX_WASM_THREADS}, got "${value}"`);
  return n;
}

/**
 * UNCLAMP_WASM_THREADS when set; else one thread for a small model, whose products are too small to share (the
 * built-in model, d 64: `unclamp run --scenario ioi` takes 1.9–2.1 s on one thread and 2.7–2.8 s on two, the
 * threaded start included); else one per core this process may use, at most 8 (GPT-2 small's step: 2× on two).
 */
export function defaultWasmThreads(opts: { smallModel?: boolean } = {}): number {
  const env = process.env[THREADS_ENV];
  if (env !== undefined && env !== '') return parseThreads(env, THREADS_ENV);
  if (opts.smallModel) return 1;
  return Math.max(1, Math.min(MAX_WASM_THREADS, os.availableParallelism()));
}

let wasmPathsSet = false;

/**
 * Select `preferred` (default wasm), falling back to cpu. On wasm with more than one thread, TF.js's threaded
 * build (see node-wasm-threads.ts), falling back to the single-threaded one with the reason. The wasm backend is
 * set up once per process: its thread count is the first call's.
 */
export async function initNodeBackend(preferred: NodeBackend = 'wasm', opts: { threads?: number } = {}): Promise<NodeBackendChoice> {
  // PROD silences the "install tfjs-node" banner and per-op NaN debug checks; we validate inputs ourselves.
  tf.env().set('PROD', true);
  if (preferred === 'wasm') {
    if (!wasmPathsSet) {
      const require = createRequire(import.meta.url);
      setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'))}/dist/`);
      wasmPathsSet = true;
    }
    const threads = opts.threads ?? defaultWasmThreads();
    let reason: string | undefined;
    try {
      if (!tf.engine().registry.wasm && threads > 1) {
        try {
          if (await startThreadedWasm(threads, withNodeWasmThreads)) {
            guardWasmMalloc();
            return { backend: 'wasm', threads: getThreadsCount() };
          }
          reason = 'the threaded wasm build did not start';
        } catch (e) {
          reason = `the threaded wasm build failed to start: ${(e as Error).message}`;
        }
        tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
        reason += '; one thread';
      }
      if (await tf.setBackend('wasm')) {
        await tf.ready();
        guardWasmMalloc();
        return { backend: 'wasm', threads: getThreadsCount(), ...(reason ? { reason } : {}) };
      }
    } catch (e) {
      await tf.setBackend('cpu');
      return { backend: 'cpu', threads: 1, reason: `wasm backend failed to initialise: ${(e as Error).message}` };
    }
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return preferred === 'cpu' ? { backend: 'cpu', threads: 1 } : { backend: 'cpu', threads: 1, reason: 'wasm backend unavailable' };
}
