// The page's side of Neuronpedia labels (neuronpedia-labels.ts) against the fake Neuronpedia: fetched labels join the
// store's map (an export file's stay), the outcome is a notice, a failure keeps what came, and a scenario change
// mid-fetch cancels it without putting one SAE's labels in another's table.
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeNeuronpedia } from '../../scripts/fixtures/fake-neuronpedia.ts';
import type { ScenarioInfo } from '../engine/protocol.ts';
import { fetchLabels, useNeuronpedia } from './neuronpedia-labels.ts';
import { useStore } from './store.ts';

const np = new FakeNeuronpedia();
const SRC = { modelId: 'gpt2-small', source: '6-res-jb' };
const scenario = () =>
  ({ id: 'paper-ioi', dSae: 100, sae: { name: 'hf:jbloom/GPT2-Small-SAEs-Reformatted/blocks.6.hook_resid_pre' } }) as ScenarioInfo;

beforeAll(async () => {
  await np.start();
  for (let i = 0; i < 10; i++) np.put(SRC.modelId, SRC.source, i, [`api label ${i}`]);
});
afterAll(() => np.stop());
beforeEach(() => {
  np.reset();
  useNeuronpedia.getState().set({ endpoint: np.url, key: '', progress: null });
  useStore.setState({ scenario: scenario(), labels: new Map([[9, 'from an export file']]), notices: [] });
});

describe('fetchLabels', () => {
  it('merges the labels into the store and says how many came', async () => {
    await fetchLabels(SRC, [1, 2, 3]);
    const { labels, notices } = useStore.getState();
    expect(labels).toEqual(
      new Map([
        [9, 'from an export file'],
        [1, 'api label 1'],
        [2, 'api label 2'],
        [3, 'api label 3'],
      ]),
    );
    expect(notices.at(-1)).toMatchObject({ kind: 'info', message: 'Neuronpedia (gpt2-small/6-res-jb): 3 labels for 3 features.' });
    expect(useNeuronpedia.getState().progress).toBeNull();
  });

  it('a failure is an error notice; the labels that came before it are kept', async () => {
    // A server error is tried again with backoff (0.5 + 1 + 2 s by default), so feature 4 has surely come by then.
    np.modes.set('gpt2-small/6-res-jb/5', 'status-500');
    await fetchLabels(SRC, [4, 5]);
    const { labels, notices } = useStore.getState();
    expect(labels.get(4)).toBe('api label 4');
    expect(labels.has(5)).toBe(false);
    expect(notices.at(-1)).toMatchObject({
      kind: 'error',
      message:
        'Neuronpedia answered status 500 for gpt2-small/6-res-jb/5, after 4 tries; try again later, or load a Neuronpedia export file',
      hint: 'The 1 label that came is kept. A Neuronpedia export file (Scenario panel) needs no network.',
    });
  });

  it('a scenario change cancels the fetch, and its labels stay out of the new table', async () => {
    np.modes.set('*', 'slow');
    np.slowMs = 2_000;
    const run = fetchLabels(SRC, [7, 8]);
    await new Promise((r) => setTimeout(r, 100));
    useStore.setState({ scenario: scenario(), labels: new Map() });
    const t0 = Date.now();
    await run;
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(useStore.getState().labels.size).toBe(0);
    expect(useStore.getState().notices.at(-1)?.message).toMatch(/^Neuronpedia: stopped/);
  });
});
