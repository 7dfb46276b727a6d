// --backend and --threads, shared by every command that computes, and the one place that starts the backend.
import { Option } from 'commander';
import {
  defaultWasmThreads,
  initNodeBackend,
  type NodeBackend,
  type NodeBackendChoice,
  parseThreads,
  THREADS_ENV,
} from '../engine/node-backend.ts';
import { MAX_WASM_THREADS } from '../engine/wasm-threads-config.ts';
import { oneOf } from './parse.ts';

export interface BackendFlags {
  backend: NodeBackend;
  threads?: number;
}

export const backendOption = () =>
  new Option('--backend <name>', 'wasm | cpu').argParser(oneOf('--backend', ['wasm', 'cpu'] as const)).default('wasm');

export const threadsOption = () =>
  new Option(
    '--threads <n>',
    `wasm threads for the matrix products, 1..${MAX_WASM_THREADS} (default: $${THREADS_ENV}, else 1 on the built-in model and one per core on GPT-2-sized ones)`,
  ).argParser((v: string) => parseThreads(v, '--threads'));

/**
 * Start the backend the flags ask for; says on stderr (--quiet too: it is a warning) when it differs from what was
 * asked. `smallModel`: the command runs the built-in model, whose products gain nothing from threads.
 */
export async function startBackend(flags: BackendFlags, opts: { smallModel?: boolean } = {}): Promise<NodeBackendChoice> {
  const got = await initNodeBackend(flags.backend, { threads: flags.threads ?? defaultWasmThreads(opts) });
  if (got.reason) process.stderr.write(`unclamp: using the ${got.backend} backend (${got.reason})\n`);
  return got;
}
