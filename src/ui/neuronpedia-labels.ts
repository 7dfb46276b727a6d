// The page's side of Neuronpedia labels (src/io/neuronpedia.ts): the endpoint and the model id and source typed for an
// SAE the page cannot name itself (settings saved in this browser, not in links), the API key (this tab's memory only:
// never saved, logged, put in a URL or exported), and the fetch in progress (n of m, cancel). Nothing is asked on page
// load: only the defence panel's button calls fetchLabels. Labels that come are merged into the store's label map, so
// the feature table and its search use them as they use an export file's.
import { z } from 'zod';
import { create } from 'zustand';
import { isInputError } from '../core/errors.ts';
import {
  DEFAULT_NEURONPEDIA_ENDPOINT,
  fetchNeuronpediaLabels,
  type NeuronpediaProgress,
  type NeuronpediaSource,
} from '../io/neuronpedia.ts';
import { useStore } from './store.ts';
import { loadLocal, saveLocal } from './local-settings.ts';

/**
 * The most features one click asks for. Neuronpedia rate-limits its API and asks that bulk data come from its export
 * files, so the page asks for the features on screen (the defended ones and the rows shown), never a whole SAE.
 */
export const MAX_NEURONPEDIA_FETCH = 200;

const savedSchema = z.object({
  endpoint: z.string().url().max(400),
  typed: z.object({ modelId: z.string().max(200), source: z.string().max(200) }),
});
type Saved = z.infer<typeof savedSchema>;

const STORAGE_KEY = 'unclamp-neuronpedia-v1';

function loadSaved(): Saved {
  return loadLocal<Saved>(STORAGE_KEY, savedSchema, { endpoint: DEFAULT_NEURONPEDIA_ENDPOINT, typed: { modelId: '', source: '' } });
}

export interface NeuronpediaLabelsState extends Saved {
  /** Memory only. */
  key: string;
  progress: NeuronpediaProgress | null;
  set: (patch: Partial<Omit<NeuronpediaLabelsState, 'set'>>) => void;
}

export const useNeuronpedia = create<NeuronpediaLabelsState>((set, get) => ({
  ...loadSaved(),
  key: '',
  progress: null,
  set: (patch) => {
    set(patch);
    if (!('endpoint' in patch || 'typed' in patch)) return;
    const { endpoint, typed } = get();
    saveLocal<Saved>(STORAGE_KEY, { endpoint, typed });
  },
}));

let inFlight: AbortController | null = null;

export function cancelNeuronpediaLabels(): void {
  inFlight?.abort(new Error('cancelled'));
}

// Labels of one SAE must not land in another's table.
useStore.subscribe((s, prev) => {
  if (s.scenario !== prev.scenario) cancelNeuronpediaLabels();
});

/** Ask Neuronpedia for the labels of `indices` of `src` and merge them into the store's labels. */
export async function fetchLabels(src: NeuronpediaSource, indices: number[]): Promise<void> {
  cancelNeuronpediaLabels();
  const ctl = new AbortController();
  inFlight = ctl;
  const np = useNeuronpedia.getState();
  const page = useStore.getState();
  const scenario = page.scenario;
  const asked = indices.slice(0, MAX_NEURONPEDIA_FETCH);
  const got = new Map<number, string>();
  np.set({ progress: { done: 0, total: asked.length } });
  // Notices, not report(): report also resets the engine's busy and run status, which a label fetch does not own.
  try {
    const r = await fetchNeuronpediaLabels(src, asked, {
      endpoint: np.endpoint,
      key: np.key || undefined,
      signal: ctl.signal,
      onProgress: (p) => {
        if (inFlight === ctl) useNeuronpedia.getState().set({ progress: p });
      },
      onLabel: (i, label) => got.set(i, label),
    });
    const parts = [
      r.fromCache ? `${r.fromCache} from this browser's cache` : '',
      r.unlabelled.length ? `${r.unlabelled.length} without an explanation` : '',
      r.notFound.length ? `${r.notFound.length} not on Neuronpedia` : '',
    ].filter(Boolean);
    page.notify({
      kind: 'info',
      message: `Neuronpedia (${src.modelId}/${src.source}): ${r.labels.size} labels for ${asked.length} features${parts.length ? ` (${parts.join(', ')})` : ''}.`,
    });
  } catch (e) {
    const kept = got.size === 1 ? 'the 1 label that came is kept' : `the ${got.size} labels that came are kept`;
    if (ctl.signal.aborted) page.notify({ kind: 'info', message: `Neuronpedia: stopped; ${kept}.` });
    else
      page.notify({
        kind: 'error',
        message: (e as Error)?.message ?? String(e),
        hint: isInputError(e)
          ? `${kept[0].toUpperCase()}${kept.slice(1)}. A Neuronpedia export file (Scenario panel) needs no network.`
          : 'Reload the page if this persists.',
      });
  } finally {
    const st = useStore.getState();
    if (got.size && st.scenario === scenario) st.set({ labels: new Map([...st.labels, ...got]) });
    if (inFlight === ctl) {
      inFlight = null;
      useNeuronpedia.getState().set({ progress: null });
    }
  }
}
