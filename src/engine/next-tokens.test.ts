// The next-token view through the engine session, as the worker serves it: on the built-in IOI scenario and on
// real-model scenarios ('prompts', 'paper-ioi' on the tiny-bpe fixture). Each column is checked against logits
// computed independently: the model's whole forward pass from the token ids (base), the same with the defended
// state written out in full, D(clamp(E(h))) + e(h), replacing the residual at the hook (defended); softmax in
// float64 here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { tf, type Tensor } from '../core/tf.ts';
import { InputError } from '../core/errors.ts';
import { DefendedSet, defendedStateFull } from '../core/intervention.ts';
import type { ClampRule } from '../core/clamp.ts';
import type { GPT2 } from '../model/families/gpt2/model.ts';
import { loadGpt2 } from '../model/families/gpt2/load.ts';
import { processWeights } from '../model/families/gpt2/process.ts';
import { Gpt2BpeTokenizer } from '../model/tokenizers/bpe.ts';
import type { Sae } from '../core/sae.ts';
import { loadSaeFolder } from '../io/sae-folder.ts';
import { tinyBpeSae } from '../model/__fixtures__/tiny-bpe-sae.ts';
import { SCENARIOS } from '../scenarios/catalog.ts';
import { loadBuiltinModel, loadBuiltinSae } from '../scenarios/builtin/assets.ts';
import type { ModelScenarioSpec } from '../scenarios/model.ts';
import { EngineSession } from './session.ts';
import { nodeSessionHost } from './node-host.ts';
import type { DefenceInfo, NextTokenColumn, RunConfig, ScenarioInfo } from './protocol.ts';

const read = async (p: string) => new Uint8Array(readFileSync(path.resolve(import.meta.dirname, '../../public', p)));

/** Softmax of one row of logits in float64. */
function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i] - max);
  return out.map((v) => v / sum);
}

/** The logits after the last of `ids`, from the whole model, with the defended state at `hook` when a defence is given. */
function independentLogits(
  model: GPT2,
  ids: number[],
  hook: string,
  defence?: { sae: Sae; features: number[]; clamp: ClampRule },
): Float32Array {
  const set = defence ? new DefendedSet(defence.sae, defence.features) : null;
  try {
    return tf.tidy(() => {
      const hooks = set && defence ? { [hook]: (act: Tensor) => defendedStateFull(set, defence.clamp, act) } : undefined;
      const logits = model.forward([ids], { hooks });
      return tf.slice(logits, [0, ids.length - 1, 0], [1, 1, -1]).dataSync() as Float32Array;
    });
  } finally {
    set?.dispose();
  }
}

/** The column is the top-k of softmax(logits), in order, with B's readout from the same logits. */
function expectColumn(col: NextTokenColumn, logits: Float32Array, terms: { id: number; weight: number }[] | null, k: number) {
  const probs = softmax(logits);
  const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]);
  expect(col.tokens).toHaveLength(k);
  const total = col.tokens.reduce((s, t) => s + t.prob, 0);
  expect(total).toBeLessThanOrEqual(1 + 1e-5);
  col.tokens.forEach((t, i) => {
    expect(t.prob).toBeCloseTo(probs[t.id], 5);
    expect(t.logit).toBeCloseTo(logits[t.id], 3);
    // The same tokens in the same order, up to ties within float32 noise.
    expect(Math.abs(probs[order[i]] - t.prob)).toBeLessThan(1e-5);
    if (i) expect(t.prob).toBeLessThanOrEqual(col.tokens[i - 1].prob);
  });
  if (terms) {
    expect(col.readout!).toBeCloseTo(
      terms.reduce((s, { id, weight }) => s + weight * logits[id], 0),
      3,
    );
    // B's own tokens wherever they rank: probability and rank from the independent logits.
    expect(col.terms!.map((t) => t.id)).toEqual(terms.map((t) => t.id));
    col.terms!.forEach((t) => {
      expect(t.prob).toBeCloseTo(probs[t.id], 5);
      expect(t.logit).toBeCloseTo(logits[t.id], 3);
      expect(t.rank).toBe(1 + order.findIndex((id) => id === t.id || logits[id] <= logits[t.id]));
    });
  } else {
    expect(col.readout).toBeNull();
    expect(col.terms).toBeNull();
  }
}

const sameColumn = (a: NextTokenColumn, b: NextTokenColumn) => {
  expect(a.tokens.map((t) => t.id)).toEqual(b.tokens.map((t) => t.id));
  a.tokens.forEach((t, i) => expect(t.prob).toBeCloseTo(b.tokens[i].prob, 6));
  expect(a.readout ?? 0).toBeCloseTo(b.readout ?? 0, 5);
};

describe('next tokens on the built-in IOI scenario', () => {
  const session = new EngineSession(nodeSessionHost(() => undefined));
  let info: ScenarioInfo;
  let defence: DefenceInfo;
  let model: GPT2;
  let sae: Sae;
  let tokenId: (w: string) => number;
  let hook: string;
  beforeAll(async () => {
    info = await session.handle({ type: 'loadScenario', scenario: { kind: 'builtin', scenario: 'ioi' } });
    defence = await session.handle({ type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp });
    const builtin = await loadBuiltinModel(read);
    model = builtin.model;
    tokenId = (w) => builtin.tokenizer.id(w);
    const s = await loadBuiltinSae(read, builtin.entry, SCENARIOS.ioi.defaults.sae ?? undefined);
    sae = s.loaded.sae;
    hook = s.entry.hook;
  });
  afterAll(async () => {
    await session.dispose();
    model.dispose();
    sae.dispose();
  });

  it('gives the base, defended and recovered top-k at the answer position, each equal to an independent forward', async () => {
    const i = defence.valid.indexOf(true);
    expect(i).toBeGreaterThanOrEqual(0);
    const before = tf.memory().numTensors;
    const view = await session.handle({ type: 'nextTokens', sample: i, topK: 8 });
    expect(tf.memory().numTensors).toBe(before);
    const tokens = info.samples[i].tokens!;
    expect(view.position).toBe(tokens.length - 1);
    expect(view.prompt).toEqual(tokens);
    expect(view.step).toBeNull();
    // B = logit[IO] − logit[S]: +1 on one name, −1 on the other.
    expect(view.terms!.map((t) => t.weight)).toEqual([1, -1]);
    const ids = tokens.map(tokenId);
    const terms = view.terms!.map(({ id, weight }) => ({ id, weight }));
    expectColumn(view.base, independentLogits(model, ids, hook), terms, 8);
    expectColumn(view.defended, independentLogits(model, ids, hook, { sae, features: defence.features, clamp: defence.clamp }), terms, 8);
    // The readouts are the scenario's own B: what the defence reported for this prompt.
    expect(view.base.readout!).toBeCloseTo(defence.base[i], 3);
    expect(view.defended.readout!).toBeCloseTo(defence.defended[i], 3);
    // A valid flip: the clamp turns B from positive to non-positive, so the defended model reads differently.
    expect(view.base.readout!).toBeGreaterThan(0);
    expect(view.defended.readout!).toBeLessThanOrEqual(0);
    expect(view.defended.tokens.map((t) => t.prob)).not.toEqual(view.base.tokens.map((t) => t.prob));
    // No run: δ = 0, and the recovered model is the defended one.
    sameColumn(view.recovered, view.defended);
  });

  it('follows the run: after some steps the recovered column reads the run’s δ and moves B back up', async () => {
    const i = defence.valid.indexOf(true);
    const config: RunConfig = { settings: { steps: 60 }, metricsEvery: 10, stepDelayMs: 0 };
    await session.handle({ type: 'step', count: 30, config });
    const view = await session.handle({ type: 'nextTokens', sample: i, topK: 5 });
    expect(view.step).toBe(30);
    sameColumn(view.defended, (await session.handle({ type: 'nextTokens', sample: i, topK: 5 })).defended);
    expect(view.recovered.readout!).toBeGreaterThan(view.defended.readout!);
    await session.handle({ type: 'reset' });
    const after = await session.handle({ type: 'nextTokens', sample: i, topK: 5 });
    expect(after.step).toBeNull();
    sameColumn(after.recovered, after.defended);
  });

  it.each([
    [{ sample: -1 }, 'prompt -1 does not exist: this scenario has prompts 0..'],
    [{ sample: 0.5 }, 'prompt 0.5 does not exist'],
    [{ sample: 0, topK: 0 }, 'top-k must be a whole number in 1..50, got 0'],
    [{ sample: 0, topK: 51 }, 'top-k must be a whole number in 1..50, got 51'],
  ])('refuses %j as an input error', async (req, message) => {
    const p = session.handle({ type: 'nextTokens', ...req });
    await expect(p).rejects.toThrow(message);
    await expect(p).rejects.toBeInstanceOf(InputError);
  });
});

describe('next tokens where B is not a logit readout (TPP’s probe on the built-in model)', () => {
  it('reads each prompt after its last real token, with no readout, equal to an independent forward', async () => {
    const session = new EngineSession(nodeSessionHost(() => undefined));
    const builtin = await loadBuiltinModel(read);
    try {
      const info = await session.handle({ type: 'loadScenario', scenario: { kind: 'builtin', scenario: 'tpp', n: 8 } });
      await session.handle({ type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp });
      const hook = (await loadBuiltinSae(read, builtin.entry, SCENARIOS.tpp.defaults.sae ?? undefined)).entry.hook;
      // Prompts of different lengths: each is read after its own last token, not the padded batch's.
      const lengths = info.samples.map((s) => s.tokens!.length);
      expect(new Set(lengths).size).toBeGreaterThan(1);
      for (const i of [lengths.indexOf(Math.min(...lengths)), lengths.indexOf(Math.max(...lengths))]) {
        const view = await session.handle({ type: 'nextTokens', sample: i, topK: 4 });
        expect(view.position).toBe(lengths[i] - 1);
        expect(view.terms).toBeNull();
        expectColumn(
          view.base,
          independentLogits(
            builtin.model,
            info.samples[i].tokens!.map((w) => builtin.tokenizer.id(w)),
            hook,
          ),
          null,
          4,
        );
        sameColumn(view.recovered, view.defended);
      }
    } finally {
      await session.dispose();
      builtin.model.dispose();
    }
  });
});

describe('next tokens where there is no language model', () => {
  it('the probe example answers with an input error that says why', async () => {
    const session = new EngineSession(nodeSessionHost(() => undefined));
    try {
      const info = await session.handle({ type: 'loadScenario', scenario: { kind: 'probe-example' } });
      await session.handle({ type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp });
      const p = session.handle({ type: 'nextTokens', sample: 0 });
      await expect(p).rejects.toThrow(/needs a language model, and ".*" reads activations without one/);
      await expect(p).rejects.toBeInstanceOf(InputError);
    } finally {
      await session.dispose();
    }
  });
});

// A real-model scenario: the tiny-bpe fixture (random GPT-2-shaped weights, the real vocabulary), a random SAELens
// SAE at its first block, the user's prompts.
const modelDir = path.resolve(import.meta.dirname, '../model/__fixtures__/tiny-bpe');
const HOOK = 'blocks.1.hook_resid_pre';
const PROMPTS = [
  { prompt: 'When Mary and John went to the store, John gave a drink to', target: ' Mary', contrast: ' John' },
  { prompt: 'Then, Anna and Paul had a long talk. Paul passed the book to', target: ' Anna', contrast: ' Paul' },
  { prompt: 'Friends call him Tom', target: ' and', contrast: '.' },
];

function modelSpec(scenario: 'prompts' | 'paper-ioi'): ModelScenarioSpec {
  const sae = tinyBpeSae(4, HOOK);

  return {
    kind: 'model',
    scenario,
    model: {
      configJson: readFileSync(path.join(modelDir, 'config.json'), 'utf8'),
      weights: new Uint8Array(readFileSync(path.join(modelDir, 'model.safetensors'))),
      name: 'tiny-bpe',
    },
    sae: { ...sae, name: 'sae' },
    prompts: { text: PROMPTS.map((p) => JSON.stringify(p)).join('\n'), name: 'set.jsonl' },
  };
}

describe.each(['prompts', 'paper-ioi'] as const)('next tokens on a real-model scenario (%s)', (scenario) => {
  it('reads each prompt at its last token, with logit[target] − logit[contrast], equal to an independent forward', async () => {
    const spec = modelSpec(scenario);
    const session = new EngineSession(nodeSessionHost(() => undefined));
    const { model: raw } = loadGpt2(spec.model.configJson, spec.model.weights as Uint8Array);
    const model = processWeights(raw);
    raw.dispose();
    const { sae } = loadSaeFolder(spec.sae);
    const tok = new Gpt2BpeTokenizer();
    try {
      const info = await session.handle({ type: 'loadScenario', scenario: spec });
      expect(info.id).toBe(scenario);
      const defence = await session.handle({ type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp });
      for (const [i, p] of PROMPTS.entries()) {
        const view = await session.handle({ type: 'nextTokens', sample: i, topK: 6 });
        const ids = tok.encode(p.prompt);
        expect(view.position).toBe(ids.length - 1);
        expect(view.prompt.join('')).toBe(p.prompt);
        expect(view.terms).toEqual([
          { id: tok.tokenId(p.target), text: p.target, weight: 1 },
          { id: tok.tokenId(p.contrast), text: p.contrast, weight: -1 },
        ]);
        const terms = view.terms!.map(({ id, weight }) => ({ id, weight }));
        expectColumn(view.base, independentLogits(model, ids, HOOK), terms, 6);
        const def = { sae, features: defence.features, clamp: defence.clamp };
        expectColumn(view.defended, independentLogits(model, ids, HOOK, def), terms, 6);
        expect(view.defended.readout!).toBeCloseTo(defence.defended[i], 3);
        sameColumn(view.recovered, view.defended);
      }
    } finally {
      await session.dispose();
      model.dispose();
      sae.dispose();
    }
  });
});
