// TF.js's multi-threaded wasm build (XNNPACK's thread pool over emscripten pthreads) in Node.
//
// TF.js 4.22 turns threads off in Node (its WASM_HAS_MULTITHREAD_SUPPORT flag answers false there), although the
// emscripten output it ships runs pthreads on Node's worker_threads. What stands in the way is how TF.js hands that
// output its two scripts, both written for a browser:
//   - the pthread worker's script is a Blob behind a blob: URL, which Node's Worker cannot start;
//   - the main script, which every worker loads, is posted as a Blob, which the worker reads through importScripts
//     of another blob: URL, which Node cannot read synchronously.
// While the backend initialises, this module records the text of each Blob made from strings, starts workers from
// that text written to temporary files, and posts the main script as a file path; it also gives the factory's
// closure variables (the bundle's require$$N, commonjsGlobal) to each worker, since the worker evaluates the
// factory's source outside the bundle. Everything it changes is restored once the backend is up.
//
// TF.js also sizes its pool as logical cores / 2 (capped 1..8), assuming two hardware threads per core; the count
// asked for here is passed as the core count it reads (os.cpus()), doubled, so it gets the count asked for.
// pthreadpool workers wait for work for the life of the process, so they are unref'd: they do not keep Node alive.
//
// What upstream would need: Node support in the threaded build's loader (file paths for its two scripts) and a
// thread count that setThreadsCount can raise above logical cores / 2.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker as NodeWorker, type WorkerOptions } from 'node:worker_threads';

/** Globals the threaded factory's source reads from the bundle around it (tf-backend-wasm.node.js). */
const WORKER_PRELUDE =
  "Object.assign(globalThis, { require$$0: require('fs'), require$$1: require('path'), require$$3: require('perf_hooks'), " +
  "require$$4: require('os'), commonjsGlobal: globalThis, _scriptDir: __filename, __dirname: __dirname });\n";

/**
 * Run `init` (which initialises TF.js's wasm backend) with the threaded build made loadable in Node and TF.js told
 * that the machine has `threads` cores. Restores every global it touched before returning or throwing.
 */
export async function withNodeWasmThreads<T>(threads: number, init: () => Promise<T>): Promise<T> {
  const texts = new WeakMap<Blob, string>();
  const urlTexts = new Map<string, string>();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'unclamp-wasm-threads-'));
  let files = 0;
  const toFile = (text: string, prelude = '') => {
    const f = path.join(dir, `script-${files++}.cjs`);
    writeFileSync(f, prelude + text);
    return f;
  };
  let mainScript: string | undefined;

  const OriginalBlob = globalThis.Blob;
  class RecordedBlob extends OriginalBlob {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      if (parts?.every((p) => typeof p === 'string')) texts.set(this, parts.join(''));
    }
  }
  class PthreadWorker extends NodeWorker {
    constructor(url: string | URL, options?: WorkerOptions) {
      const text = typeof url === 'string' ? urlTexts.get(url) : undefined;
      super(text === undefined ? url : toFile(text, WORKER_PRELUDE), options);
      this.unref();
    }
    override ref(): void {}
    override postMessage(message: unknown, transfer?: Parameters<NodeWorker['postMessage']>[1]): void {
      const m = message as { cmd?: string; urlOrBlob?: unknown } | null;
      if (m?.cmd === 'load' && m.urlOrBlob instanceof OriginalBlob) {
        const text = texts.get(m.urlOrBlob);
        if (text !== undefined) {
          mainScript ??= toFile(text);
          message = { ...m, urlOrBlob: mainScript };
        }
      }
      super.postMessage(message, transfer);
    }
  }

  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  const workerDescriptor = Object.getOwnPropertyDescriptor(globalThis, 'Worker');
  try {
    globalThis.Blob = RecordedBlob as typeof Blob;
    URL.createObjectURL = (blob: Blob) => {
      const url = createObjectURL(blob);
      const text = texts.get(blob);
      if (text !== undefined) urlTexts.set(url, text);
      return url;
    };
    // The factory assigns Worker = worker_threads.Worker on start-up: an accessor keeps ours in place.
    Object.defineProperty(globalThis, 'Worker', { configurable: true, get: () => PthreadWorker, set: () => {} });
    os.cpus = () => {
      const one = cpus()[0];
      return Array.from({ length: 2 * threads }, () => one) as os.CpuInfo[];
    };
    return await init();
  } finally {
    globalThis.Blob = OriginalBlob;
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
    if (workerDescriptor) {
      if (workerDescriptor.configurable) Object.defineProperty(globalThis, 'Worker', workerDescriptor);
    } else delete (globalThis as { Worker?: unknown }).Worker;
    for (const url of urlTexts.keys()) URL.revokeObjectURL(url);
    // Workers read their scripts when they start, which is before the backend reports ready.
    rmSync(dir, { recursive: true, force: true });
  }
}
