// A real-model scenario's feature attribution runs its backward pass from the first δ position on, through the
// behaviour's onward form (core/attribution.ts featureAttributionOnward): the same figures as the attribution over
// the whole residual (to float32 rounding) and the same ranking, on each family's fixture and on prompt sets that
// place δ before the read-out and at several positions.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { featureAttribution } from '../core/attribution.ts';
import { maxRelErr } from '../core/compare.ts';
import { rankPositive } from '../core/select.ts';
import { tf } from '../core/tf.ts';
import { tinyBpeSae } from '../model/__fixtures__/tiny-bpe-sae.ts';
import { NEOX_DIRS, NEOX_SAE_DIR, neoxFolder } from '../model/families/gpt_neox/testing.ts';
import { loadScenario } from './load.ts';
import type { ModelScenarioSpec } from './model.ts';

const root = path.resolve(import.meta.dirname, '../..');
const fixtures = path.join(root, 'src/model/__fixtures__');
const jsonl = (rows: object[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;
const noRead = () => Promise.reject(new Error('no public files here'));

const IOI = [
  { prompt: 'When Mary and John went to the store, John gave a drink to', target: ' Mary', contrast: ' John' },
  { prompt: 'Then, Anna and Paul had a long talk. Paul passed the book to', target: ' Anna', contrast: ' Paul' },
  { prompt: 'After the meeting, Sarah and Tom walked home, and Tom waved at', target: ' Sarah', contrast: ' Tom' },
  { prompt: 'Friends call him Tom', target: ' and', contrast: '.' },
];
// δ at two positions of the first prompt, both before its read-out; at two positions of the last.
const PLACED = IOI.map((p, i) =>
  i === 0 ? { ...p, delta_positions: [3, 8], readout_position: 10 } : i === 3 ? { ...p, delta_positions: [1, -1] } : p,
);
// Prompts whose completions are one token for the NeoX and Gemma-2 fixtures' tokenizers (src/cli/families.test.ts),
// δ at two positions of the last, the first before its read-out.
const SHORT = [
  { prompt: 'The cat sat on the', target: ' mat', contrast: ' cat' },
  { prompt: 'The dog ran', target: ' home', contrast: ' away' },
  {
    prompt: 'When Mary and John went to the store, John gave',
    target: ' Mary',
    contrast: ' John',
    delta_positions: [2, 5],
    readout_position: 8,
  },
];

const gpt2 = (prompts: { text: string; name: string }, scenario?: 'paper-ioi'): ModelScenarioSpec => ({
  kind: 'model',
  ...(scenario ? { scenario } : {}),
  model: {
    configJson: readFileSync(path.join(fixtures, 'tiny-bpe/config.json'), 'utf8'),
    weights: new Uint8Array(readFileSync(path.join(fixtures, 'tiny-bpe/model.safetensors'))),
    name: 'tiny-bpe',
  },
  sae: { ...tinyBpeSae(4, 'blocks.1.hook_resid_pre'), name: 'sae' },
  prompts,
});

const neox = (): ModelScenarioSpec => ({
  kind: 'model',
  model: neoxFolder(NEOX_DIRS.parallel),
  sae: {
    cfgJson: readFileSync(path.join(NEOX_SAE_DIR, 'cfg.json'), 'utf8'),
    weights: readFileSync(path.join(NEOX_SAE_DIR, 'sae_weights.safetensors')),
    name: 'neox-sae',
  },
  prompts: { text: jsonl(SHORT), name: 'short.jsonl' },
});

const gemma2 = (): ModelScenarioSpec => {
  const read = (f: string) => readFileSync(path.join(fixtures, 'tiny-gemma2', f));
  return {
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
    prompts: {
      text: jsonl(SHORT.map((p) => (p.target === ' home' ? { ...p, target: ' mat', contrast: ' dog' } : p))),
      name: 'short.jsonl',
    },
  };
};

describe("a real-model scenario's attribution from the first δ position on", () => {
  it.each([
    ['GPT-2, δ at the last token', () => gpt2({ text: jsonl(IOI), name: 'ioi.jsonl' })],
    ['GPT-2, δ at two positions before the read-out', () => gpt2({ text: jsonl(PLACED), name: 'placed.jsonl' })],
    [
      'GPT-2, the paper’s IOI prompts (the first 8)',
      () => ({
        ...gpt2({ text: readFileSync(path.join(root, 'public/data/paper-ioi.jsonl'), 'utf8'), name: 'paper-ioi.jsonl' }, 'paper-ioi'),
        n: 8,
      }),
    ],
    ['GPT-NeoX', neox],
    ['Gemma-2', gemma2],
  ])(
    '%s: the figures and the ranking of the whole residual’s',
    async (_, spec) => {
      const before = tf.memory().numTensors;
      const sc = await loadScenario(spec(), noRead);
      try {
        const [n, t] = sc.h.shape;
        const weights = new Float32Array(n * t);
        sc.positions.default.forEach((row, i) => {
          for (const p of row) if (p >= 0) weights[i * t + p] = 1;
        });
        // The attribution over every position, as the scenario computed it before.
        const whole = await featureAttribution(sc.sae, sc.h, sc.behaviour, weights);
        const onward = sc.attribution as Float32Array;
        expect(Math.min(...sc.positions.default.flat().filter((p) => p >= 0))).toBeGreaterThan(0);
        expect(maxRelErr(onward, whole)).toBeLessThan(1e-5);
        expect(rankPositive(onward)).toEqual(rankPositive(whole));
      } finally {
        sc.dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
    },
    300_000,
  );
});
