// The engine's start with the page: the worker and its backend, started before anything else the page reads so
// that the two overlap, and the built-in model index beside it.
import type { BackendName } from '../../engine/protocol.ts';
import type { ModelIndexEntry } from '../../scenarios/builtin/assets.ts';
import { useStore } from '../store.ts';
import { backendsFromSearch, wasmThreadsFromSearch } from '../backends.ts';
import { bridge, request } from './bridge.ts';
import { handleRunError, triedUpTo } from './failover.ts';
import { guarded } from './report.ts';

let started: Promise<void> | null = null;

/**
 * Start the engine worker once, on what the address asks for (?backend=, ?threads=; else the fastest backend here):
 * main.tsx calls it before the page's first render, so that the worker boots its backend while React draws the page,
 * and the page's start awaits the same promise.
 */
export function bootEngine(): Promise<void> {
  started ??= startEngine(backendsFromSearch(location.search), wasmThreadsFromSearch(location.search));
  return started;
}

/**
 * Start the engine worker on `prefer` (undefined: the fastest backend here) with `wasmThreads`; resolves once its
 * backend is up (the scenario is loaded after it, by loadScenario).
 */
async function startEngine(prefer?: BackendName[], wasmThreads?: number): Promise<void> {
  bridge.wasmThreads = wasmThreads;
  bridge.onEngineError = (err) => void handleRunError(err);
  void loadModelIndex();
  await guarded('Starting the engine', async () => {
    const backend = await request({ type: 'init', prefer, wasmThreads });
    bridge.triedBackends = triedUpTo(backend.name);
    useStore.getState().set({ backend, status: 'loading' });
  });
}

async function loadModelIndex(): Promise<void> {
  try {
    const res = await fetch(new URL('models/index.json', document.baseURI));
    if (res.ok) useStore.getState().set({ modelIndex: (await res.json()).models as ModelIndexEntry[] });
  } catch {
    useStore.getState().notify({ kind: 'info', message: 'The built-in model index could not be loaded; the probe scenario still works.' });
  }
}
