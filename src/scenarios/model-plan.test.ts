// A real-model scenario on Gemma-2 (the tiny-gemma2 fixture with a Gemma Scope SAE at blocks.1.hook_resid_post) loads
// only what its run reads by default — the layers after the hook, the residual at the hook streamed layer by layer —
// and optionally only the prompts' and the read-out's token rows; the run's numbers are the whole model's.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tf } from '../core/tf.ts';
import type { Gemma2 } from '../model/families/gemma2/model.ts';
import { loadScenario } from './load.ts';
import type { ModelScenarioSpec } from './model.ts';
import { runScenario } from './run.ts';

const fixtures = path.resolve(import.meta.dirname, '../model/__fixtures__');
const read = (f: string) => readFileSync(path.join(fixtures, 'tiny-gemma2', f));
const PROMPTS = [
  ['The cat sat on the', ' mat', ' cat'],
  ['The dog sat on the', ' mat', ' dog'],
  ['When Mary and John went to the store, John gave', ' Mary', ' John'],
];

const spec = (over: Partial<ModelScenarioSpec>): ModelScenarioSpec => ({
  kind: 'model',
  model: {
    name: 'tiny-gemma2',
    configJson: read('config.json').toString('utf8'),
    weights: [{ name: 'model.safetensors', bytes: read('model.safetensors') }],
    tokenizerJson: read('tokenizer.json').toString('utf8'),
    tokenizerConfigJson: read('tokenizer_config.json').toString('utf8'),
  },
  sae: {
    layout: 'gemma-scope',
    params: readFileSync(path.join(fixtures, 'tiny-gemma2-saes/layer_1/width_16/average_l0_5/params.npz')),
    path: 'tiny-gemma2-saes/layer_1/width_16/average_l0_5',
    name: 'average_l0_5',
  },
  prompts: { text: PROMPTS.map(([prompt, target, contrast]) => `${JSON.stringify({ prompt, target, contrast })}\n`).join(''), name: 'set' },
  ...over,
});

const noRead = () => Promise.reject(new Error('no public files here'));

async function run(over: Partial<ModelScenarioSpec>) {
  const sc = await loadScenario(spec(over), noRead);
  try {
    const model = sc.lm?.model as Gemma2;
    const kept = model.weights.blocks.map((b) => b !== null);
    const out = await runScenario(sc, { settings: { steps: 4, delta: 'per-sample' } });
    return { kept, whole: model.wholeVocabulary, saeCheck: sc.saeCheck, samples: out.result.samples, h: await sc.h.data() };
  } finally {
    sc.dispose();
  }
}

describe('a Gemma-2 prompt-set scenario keeps what its run reads', () => {
  it('the layers after the hook by default, and the read tokens on request: the numbers of the whole model', async () => {
    const before = tf.memory().numTensors;
    const whole = await run({ load: { firstLayer: 0 } });
    const lean = await run({});
    const leanest = await run({ readTokensOnly: true });
    expect(whole.kept).toEqual([true, true, true]);
    expect(lean.kept).toEqual([false, false, true]);
    expect(leanest.whole).toBe(false);
    for (const other of [lean, leanest]) {
      expect(Array.from(other.h)).toEqual(Array.from(whole.h));
      expect(other.samples).toEqual(whole.samples);
      expect(other.saeCheck?.explainedVariance).toBe(whole.saeCheck?.explainedVariance);
    }
    expect(lean.saeCheck?.lossClean).toBe(whole.saeCheck?.lossClean);
    // Without the whole unembedding the SAE check's loss is not computed, and it says so.
    expect(leanest.saeCheck?.lossClean).toBeNull();
    expect(leanest.saeCheck?.warnings.some((w) => /loss .* is not computed/.test(w))).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });
});
