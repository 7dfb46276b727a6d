// Neuronpedia labels (neuronpedia.ts) against a fake Neuronpedia on 127.0.0.1 (scripts/fixtures/fake-neuronpedia.ts)
// and an in-memory IndexedDB: labels from the documented answer, a few requests at a time, retries on 429 and 5xx,
// a timeout, each failure in words, the cache answering a second time without a request, and the key in the
// x-api-key header only.
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeNeuronpedia } from '../../scripts/fixtures/fake-neuronpedia.ts';
import {
  fetchNeuronpediaLabels,
  indexedDbLabelCache,
  type NeuronpediaOptions,
  type NeuronpediaSource,
  neuronpediaSourceOf,
  normaliseNeuronpediaEndpoint,
} from './neuronpedia.ts';

const np = new FakeNeuronpedia();
const SRC: NeuronpediaSource = { modelId: 'gpt2-small', source: '4-res-jb' };
const opts = (over: Partial<NeuronpediaOptions> = {}): NeuronpediaOptions => ({
  endpoint: np.url,
  cache: null,
  retryDelayMs: 5,
  maxDelayMs: 20,
  ...over,
});
const requested = () => np.log.map((l) => l.path);

beforeAll(async () => {
  await np.start();
  for (let i = 0; i < 12; i++) np.put('gpt2-small', '4-res-jb', i, [`feature ${i} about names`]);
  np.put('gpt2-small', '4-res-jb', 20, ['the word "Mary"', 'female names', 'the word "Mary"']);
  np.put('gpt2-small', '4-res-jb', 21, []);
});
afterAll(() => np.stop());
beforeEach(() => np.reset());

describe('neuronpediaSourceOf', () => {
  it('names gpt2-small-res-jb layer L as gpt2-small / L-res-jb, from the name the loader gives the SAE', () => {
    expect(neuronpediaSourceOf('hf:jbloom/GPT2-Small-SAEs-Reformatted/blocks.4.hook_resid_pre')).toEqual(SRC);
    expect(neuronpediaSourceOf('hf:jbloom/GPT2-Small-SAEs-Reformatted/blocks.11.hook_resid_pre')).toEqual({
      modelId: 'gpt2-small',
      source: '11-res-jb',
    });
  });
  it('knows nothing of other folders, other revisions or local files', () => {
    expect(neuronpediaSourceOf('hf:jbloom/GPT2-Small-SAEs-Reformatted/blocks.12.hook_resid_pre')).toBeNull();
    expect(neuronpediaSourceOf('hf:jbloom/GPT2-Small-SAEs-Reformatted@v0/blocks.4.hook_resid_pre')).toBeNull();
    expect(neuronpediaSourceOf('hf:someone/else/blocks.4.hook_resid_pre')).toBeNull();
    expect(neuronpediaSourceOf('my-sae-folder')).toBeNull();
  });
});

describe('fetchNeuronpediaLabels', () => {
  it('reads labels from the explanations, one GET per feature at the documented path, no key header without a key', async () => {
    const progress: number[] = [];
    const r = await fetchNeuronpediaLabels(SRC, [20, 3, 21, 3], opts({ onProgress: (p) => progress.push(p.done) }));
    expect(r.labels).toEqual(
      new Map([
        [20, 'the word "Mary"; female names'],
        [3, 'feature 3 about names'],
      ]),
    );
    expect(r.unlabelled).toEqual([21]);
    expect(r).toMatchObject({ requested: 3, fromCache: 0, notFound: [] });
    expect(requested().sort()).toEqual([
      '/api/feature/gpt2-small/4-res-jb/20',
      '/api/feature/gpt2-small/4-res-jb/21',
      '/api/feature/gpt2-small/4-res-jb/3',
    ]);
    expect(np.log.every((l) => l.key === undefined && !l.headers.includes('x-api-key'))).toBe(true);
    expect(progress.at(-1)).toBe(3);
  });

  it('keeps at most `concurrency` requests in flight', async () => {
    np.modes.set('*', 'slow');
    np.slowMs = 60;
    const r = await fetchNeuronpediaLabels(SRC, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], opts({ concurrency: 4 }));
    expect(r.labels.size).toBe(12);
    expect(np.maxInFlight).toBe(4);
  });

  it('tries again after a 429 (Retry-After) and after a 500, and gets the label', async () => {
    np.modes.set('gpt2-small/4-res-jb/1', '429-then-ok');
    np.modes.set('gpt2-small/4-res-jb/2', '500-once');
    const r = await fetchNeuronpediaLabels(SRC, [1, 2], opts());
    expect(r.labels.get(1)).toBe('feature 1 about names');
    expect(r.labels.get(2)).toBe('feature 2 about names');
    expect(requested().filter((p) => p.endsWith('/1'))).toHaveLength(2);
    expect(requested().filter((p) => p.endsWith('/2'))).toHaveLength(2);
  });

  it('gives up after its tries on a server that keeps failing, and says so', async () => {
    np.modes.set('*', 'status-500');
    await expect(fetchNeuronpediaLabels(SRC, [1], opts({ retries: 2 }))).rejects.toThrow(
      /Neuronpedia answered status 500 for gpt2-small\/4-res-jb\/1, after 3 tries; try again later, or load a Neuronpedia export file/,
    );
    expect(np.log).toHaveLength(3);
  });

  it('times out a request that does not answer, tries again, then names the timeout', async () => {
    np.modes.set('*', 'slow');
    np.slowMs = 1_000;
    const t0 = Date.now();
    await expect(fetchNeuronpediaLabels(SRC, [1], opts({ timeoutMs: 100, retries: 1 }))).rejects.toThrow(
      /did not answer for gpt2-small\/4-res-jb\/1 within 0\.1 s \(2 tries\)/,
    );
    expect(Date.now() - t0).toBeLessThan(900);
    expect(np.log).toHaveLength(2);
  });

  it('names an answer that is not JSON, and one that is not a feature', async () => {
    np.modes.set('*', 'malformed');
    await expect(fetchNeuronpediaLabels(SRC, [1], opts())).rejects.toThrow(
      /answer for gpt2-small\/4-res-jb\/1 is not JSON .*check the endpoint/,
    );
    const notAFeature: typeof fetch = async () => new Response(JSON.stringify({ index: '7', explanations: 'none' }), { status: 200 });
    await expect(fetchNeuronpediaLabels(SRC, [1], opts({ fetch: notAFeature }))).rejects.toThrow(/is not a feature with explanations/);
  });

  it('a source Neuronpedia does not have: stops after the first round of 404s and says what to check', async () => {
    const bad = { modelId: 'gpt2-small', source: '4-res-nope' };
    await expect(fetchNeuronpediaLabels(bad, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], opts({ concurrency: 2 }))).rejects.toThrow(
      /Neuronpedia has no feature gpt2-small\/4-res-nope\/\d+ \(status 404\): check the model id and the source/,
    );
    expect(np.log.length).toBeLessThanOrEqual(4);
  });

  it('a missing feature among found ones is listed, not fatal', async () => {
    const r = await fetchNeuronpediaLabels(SRC, [0, 1, 2, 3, 4, 99], opts({ concurrency: 1 }));
    expect(r.notFound).toEqual([99]);
    expect(r.labels.size).toBe(5);
  });

  it('sends the key in x-api-key only: not in the URL, not in a message', async () => {
    const key = 'np-secret-key-123';
    await fetchNeuronpediaLabels(SRC, [5], opts({ key }));
    expect(np.log).toEqual([expect.objectContaining({ path: '/api/feature/gpt2-small/4-res-jb/5', key })]);
    np.modes.set('*', 'status-401');
    const err = await fetchNeuronpediaLabels(SRC, [5], opts({ key })).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/Neuronpedia refused the API key \(status 401\)/);
    expect((err as Error).message).not.toContain(key);
    expect(np.log.every((l) => !l.path.includes(key))).toBe(true);
    await expect(fetchNeuronpediaLabels(SRC, [5], opts())).rejects.toThrow(/asks for an API key .* give one in the key field/);
    expect(() => normaliseNeuronpediaEndpoint(`${np.url}/?key=${key}`)).toThrow(/give an API key in the key field/);
  });

  it('offline (the connection fails): says to use an export file', async () => {
    np.modes.set('*', 'drop');
    await expect(fetchNeuronpediaLabels(SRC, [1], opts({ retries: 1 }))).rejects.toThrow(
      /^offline: could not reach Neuronpedia at http:\/\/127\.0\.0\.1:\d+ .*use a Neuronpedia export file instead/,
    );
    expect(np.log).toHaveLength(2);
  });

  it('a cancel stops the requests in flight; the labels that came are kept', async () => {
    np.modes.set('gpt2-small/4-res-jb/7', 'slow');
    np.slowMs = 5_000;
    const ctl = new AbortController();
    const got = new Map<number, string>();
    const run = fetchNeuronpediaLabels(SRC, [6, 7], opts({ concurrency: 2, signal: ctl.signal, onLabel: (i, l) => got.set(i, l) }));
    await new Promise((r) => setTimeout(r, 150));
    ctl.abort(new Error('cancelled by the test'));
    const t0 = Date.now();
    await expect(run).rejects.toThrow('cancelled by the test');
    expect(Date.now() - t0).toBeLessThan(500);
    expect([...got.keys()]).toEqual([6]);
  });

  it('caches answers in IndexedDB per endpoint, model, source and index: a second ask makes no request', async () => {
    const cache = indexedDbLabelCache()!;
    const first = await fetchNeuronpediaLabels(SRC, [8, 9, 21], opts({ cache }));
    expect(first).toMatchObject({ requested: 3, fromCache: 0 });
    expect(np.log).toHaveLength(3);
    // A fresh cache object on the same database stands for a reload.
    const again = await fetchNeuronpediaLabels(SRC, [8, 9, 21], opts({ cache: indexedDbLabelCache() }));
    expect(again).toMatchObject({ requested: 0, fromCache: 3, unlabelled: [21] });
    expect(again.labels).toEqual(first.labels);
    expect(np.log).toHaveLength(3);
    // Another source is another key.
    np.put('gpt2-small', '5-res-jb', 8, ['layer five']);
    const other = await fetchNeuronpediaLabels({ modelId: 'gpt2-small', source: '5-res-jb' }, [8], opts({ cache }));
    expect(other.labels.get(8)).toBe('layer five');
    expect(np.log).toHaveLength(4);
  });

  it('refuses inputs that are not ids, endpoints or indices before asking anything', async () => {
    await expect(fetchNeuronpediaLabels({ modelId: 'gpt2 small', source: '4-res-jb' }, [1], opts())).rejects.toThrow(
      /model id "gpt2 small" is not one/,
    );
    await expect(fetchNeuronpediaLabels({ modelId: 'gpt2-small', source: '../x' }, [1], opts())).rejects.toThrow(
      /source "..\/x" is not one/,
    );
    await expect(fetchNeuronpediaLabels(SRC, [1], opts({ endpoint: 'ftp://x' }))).rejects.toThrow(/must be an http\(s\) URL/);
    await expect(fetchNeuronpediaLabels(SRC, [-1], opts())).rejects.toThrow(/-1 is not a feature index/);
    expect(np.log).toHaveLength(0);
  });
});
