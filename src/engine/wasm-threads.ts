// Starting TF.js's threaded wasm build, shared by the Node host and the page's worker: each brings the shim that
// makes the build's pthread workers loadable where it runs (node-wasm-threads.ts, browser-wasm-threads.ts).
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { tf } from '../core/tf.ts';

/** A threaded start that has not finished by then is abandoned (the caller falls back to one thread). */
const THREADED_START_TIMEOUT_MS = 30_000;

export type ThreadsShim = <T>(threads: number, init: () => Promise<T>) => Promise<T>;

/**
 * Set the wasm backend up on TF.js's threaded build with `threads` threads, inside `shim`. True when it started;
 * false or an error when it did not, after which the caller turns WASM_HAS_MULTITHREAD_SUPPORT off and starts the
 * single-threaded build.
 */
export async function startThreadedWasm(threads: number, shim: ThreadsShim): Promise<boolean> {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${THREADED_START_TIMEOUT_MS / 1000} s`)), THREADED_START_TIMEOUT_MS);
  });
  try {
    return await shim(threads, () => Promise.race([tf.setBackend('wasm'), timeout]));
  } finally {
    clearTimeout(timer);
  }
}
