// The Node side of bench/levels.ts's host: resident memory from the process, the built-in assets from public/;
// and the wasm thread count the Node benchmarks run on and hand to their PyTorch references.
import { readPublic } from '../src/cli/fs.ts';
import { defaultWasmThreads, type NodeBackend, type NodeBackendChoice, initNodeBackend, parseThreads } from '../src/engine/node-backend.ts';
import type { BenchHost } from './levels.ts';
import { type BenchRecord, mib } from './record.ts';

export const nodeHost: BenchHost = {
  rssMB: () => mib(process.memoryUsage().rss),
  readAsset: readPublic,
  progress: (message) => console.error(message),
};

/** parseArgs option: --threads N (default as the CLI's: UNCLAMP_WASM_THREADS, else by the model's size). */
export const THREADS_OPTION = { threads: { type: 'string' } } as const;

/** Start `backend` on --threads threads (wasm; by default the CLI's count for the model) and say on stderr what runs. */
export async function startBenchBackend(
  backend: NodeBackend,
  threads: string | undefined,
  opts: { smallModel?: boolean } = {},
): Promise<NodeBackendChoice> {
  const got = await initNodeBackend(backend, {
    threads: threads === undefined ? defaultWasmThreads(opts) : parseThreads(threads, '--threads'),
  });
  console.error(`backend ${got.backend}, ${got.threads} thread${got.threads > 1 ? 's' : ''}${got.reason ? ` (${got.reason})` : ''}`);
  return got;
}

/** A multi-threaded wasm record says so in its backend ("wasm, 2 threads"): records of other counts do not line up. */
export function labelThreads(records: BenchRecord[], got: NodeBackendChoice): BenchRecord[] {
  return got.threads > 1 ? records.map((r) => (r.backend === 'wasm' ? { ...r, backend: `wasm, ${got.threads} threads` } : r)) : records;
}
