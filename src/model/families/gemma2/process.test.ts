// TransformerLens's processing of Gemma-2 folds the pre-norms' scales and nothing else: every activation but the
// two pre-norms' outputs, and the logits, equal the unprocessed model's to float rounding.
import { afterAll, describe, expect, it } from 'vitest';
import { maxRelErr } from '../../../core/compare.ts';
import { tf, type Tensor, type Tensor2D } from '../../../core/tf.ts';
import { randomGemma2 } from './load.ts';
import type { Gemma2Config } from './model.ts';
import { processWeights } from './process.ts';

// Soft-caps that bite, a window shorter than the prompts, grouped-query heads, RMSNorm scales well away from one.
const config: Gemma2Config = {
  nLayer: 3,
  dModel: 24,
  dMlp: 40,
  nHead: 4,
  nKvHead: 2,
  headDim: 8,
  nCtx: 16,
  vocabSize: 50,
  rmsEps: 1e-6,
  ropeTheta: 10000,
  queryPreAttnScalar: 12,
  slidingWindow: 3,
  sliding: [true, false, true],
  attnSoftcap: 2,
  finalSoftcap: 3,
  tieWordEmbeddings: true,
};
const model = randomGemma2(config, 5, 0.4, 0.5);
const processed = processWeights(model);
afterAll(() => {
  model.dispose();
  processed.dispose();
});
const ids = [
  [2, 7, 3, 22, 9, 30, 41, 5],
  [2, 4, 18, 2, 39, 11, 0, 0],
];
const mask = [
  [1, 1, 1, 1, 1, 1, 1, 1],
  [1, 1, 1, 1, 1, 1, 0, 0],
];

function everyHook(m: typeof model): { acts: Map<string, Float32Array>; logits: Float32Array } {
  const cache = new Map<string, Tensor>(m.hookNames().map((n) => [n, null as unknown as Tensor]));
  const logits = tf.tidy(() => m.forward(ids, { cache, attentionMask: tf.tensor2d(mask) }).dataSync() as Float32Array);
  const acts = new Map([...cache].map(([n, t]) => [n, t.dataSync() as Float32Array]));
  tf.dispose([...cache.values()]);
  return { acts, logits };
}

describe('Gemma-2 TransformerLens processing', () => {
  const before = everyHook(model);
  const after = everyHook(processed);

  it('every activation (residuals, q/k/v, rotated, scores, patterns, z, MLP, outputs) and the logits are unchanged', () => {
    let checked = 0;
    for (const [name, want] of before.acts) {
      if (/ln[12]\.hook_normalized$/.test(name)) continue;
      expect(maxRelErr(after.acts.get(name)!, want), name).toBeLessThan(1e-5);
      checked++;
    }
    expect(checked).toBe(1 + 3 * 16 + 1);
    expect(maxRelErr(after.logits, before.logits)).toBeLessThan(1e-5);
    // The caps bite: the largest logit sits near the final cap of 3.
    expect(Math.max(...Array.from(before.logits, Math.abs))).toBeGreaterThan(2.5);
  });

  it('the pre-norms become the bare normalisation: ln1/ln2.hook_normalized lose their scale (1 + w)', () => {
    for (let i = 0; i < 3; i++) {
      for (const [hook, scale] of [
        ['ln1', model.weights.blocks[i]!.ln1!],
        ['ln2', model.weights.blocks[i]!.ln2!],
      ] as const) {
        const name = `blocks.${i}.${hook}.hook_normalized`;
        const want = tf.tidy(() => tf.div(tf.tensor3d(before.acts.get(name)!, [2, 8, 24]), scale).dataSync());
        expect(maxRelErr(after.acts.get(name)!, want), name).toBeLessThan(1e-5);
        expect(maxRelErr(after.acts.get(name)!, before.acts.get(name)!), name).toBeGreaterThan(0.1);
      }
    }
  });

  it('folds the pre-norm scales into W_qkv and W_gateUp, keeps the rest, leaves the original untouched', () => {
    const w = processed.weights;
    for (const [i, folded] of w.blocks.entries()) {
      const b = folded!;
      const o = model.weights.blocks[i]!;
      expect(b.ln1).toBeNull();
      expect(b.ln2).toBeNull();
      const want = tf.tidy(() => tf.mul(tf.reshape(o.ln1!, [-1, 1]), o.W_qkv as Tensor2D).dataSync());
      expect(maxRelErr((b.W_qkv as Tensor2D).dataSync(), want)).toBe(0);
      expect(maxRelErr(b.lnPostMlp.dataSync(), o.lnPostMlp.dataSync())).toBe(0);
      expect(o.ln1).not.toBeNull();
    }
    expect(maxRelErr(w.lnFinal.dataSync(), model.weights.lnFinal.dataSync())).toBe(0);
    expect(w.unembedding).toBe(w.embedding);
  });

  it('shares the unchanged weights (no copy of the embedding) and each model disposes on its own', () => {
    const start = tf.memory();
    const p = processWeights(model);
    const made = tf.memory();
    expect(made.numTensors - start.numTensors).toBe(p.parameters().length);
    // New data: only the two folded matrices per block (the other tensors are clones: the same data, counted).
    expect(made.numDataBuffers - start.numDataBuffers).toBe(2 * 3);
    p.dispose();
    expect(tf.memory().numTensors).toBe(start.numTensors);
    expect(tf.memory().numDataBuffers).toBe(start.numDataBuffers);
    // The original still runs after its processed copy is gone.
    expect(tf.tidy(() => maxRelErr(model.forward(ids, { attentionMask: tf.tensor2d(mask) }).dataSync(), before.logits))).toBe(0);
  });

  it('an untied model keeps its own unembedding', () => {
    const untied = randomGemma2({ ...config, tieWordEmbeddings: false }, 9, 0.4, 0.5);
    const p = processWeights(untied);
    const [a, b] = tf.tidy(() => [untied.forward(ids).dataSync(), p.forward(ids).dataSync()]);
    expect(maxRelErr(b, a)).toBeLessThan(1e-5);
    expect(p.weights.unembedding).not.toBe(p.weights.embedding);
    expect(p.weights.unembedding.keptTokens).toBe(50);
    untied.dispose();
    p.dispose();
  });
});
