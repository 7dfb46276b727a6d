// TransformerLens's weight processing changes the hooks exactly as its algebra says: every residual hook loses
// its mean over d_model, the logits lose their mean over the vocabulary, and nothing else moves.
import { afterAll, describe, expect, it } from 'vitest';
import { tf, type Tensor, type Tensor1D } from '../../../core/tf.ts';
import { maxRelErr } from '../../../core/compare.ts';
import { randomGpt2 } from './load.ts';
import { GPT2 } from './model.ts';
import { processWeights } from './process.ts';
import { ReadoutHead } from '../../hook-onward.ts';

const config = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 8, vocabSize: 40, lnEps: 1e-5 };

/** A random model whose LayerNorms and biases are not the identity and zero (what processing folds). */
function richModel(): GPT2 {
  const base = randomGpt2(config, 5, 0.3);
  let seed = 100;
  const noisy = (t: Tensor1D, mean: number, std: number) => tf.add(tf.randomNormal(t.shape, 0, std, 'float32', seed++), mean) as Tensor1D;
  const w = base.weights;
  const blocks = w.blocks.map((b) => ({
    ...b,
    ln1_w: noisy(b.ln1_w, 1, 0.3),
    ln1_b: noisy(b.ln1_b, 0, 0.2),
    b_attn: noisy(b.b_attn, 0, 0.2),
    b_O: noisy(b.b_O, 0, 0.2),
    ln2_w: noisy(b.ln2_w, 1, 0.3),
    ln2_b: noisy(b.ln2_b, 0, 0.2),
    b_in: noisy(b.b_in, 0, 0.2),
    b_out: noisy(b.b_out, 0, 0.2),
  }));
  return new GPT2(config, { ...w, blocks, lnf_w: noisy(w.lnf_w, 1, 0.3), lnf_b: noisy(w.lnf_b, 0, 0.2) });
}

const model = richModel();
const processed = processWeights(model);
afterAll(() => {
  model.dispose();
  processed.dispose();
});
const ids = [
  [1, 7, 3, 22, 9, 30],
  [4, 4, 18, 2, 39, 0],
];
const arr = (t: Tensor) => Array.from(t.dataSync());

describe('TransformerLens weight processing', () => {
  it.each(['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre', 'blocks.1.hook_resid_mid', 'blocks.1.hook_resid_post'])(
    '%s of the processed model = the unprocessed one minus its mean over d_model',
    (hook) => {
      const [got, want, mean] = tf.tidy(() => {
        const h = model.runToHook(ids, hook);
        return [arr(processed.runToHook(ids, hook)), arr(tf.sub(h, tf.mean(h, -1, true))), arr(tf.mean(h, -1))];
      });
      expect(maxRelErr(got, want)).toBeLessThan(1e-4);
      // The test would pass trivially if the unprocessed residual were already centred.
      expect(Math.max(...mean.map(Math.abs))).toBeGreaterThan(1e-3);
    },
  );

  it('logits of the processed model = the unprocessed ones minus their mean over the vocabulary', () => {
    const [got, want] = tf.tidy(() => {
      const l = model.forward(ids);
      return [arr(processed.forward(ids)), arr(tf.sub(l, tf.mean(l, -1, true)))];
    });
    expect(maxRelErr(got, want)).toBeLessThan(1e-4);
  });

  it('leaves bare LayerNorms, no value bias, centred writing weights, and the original model untouched', async () => {
    const p = processed.weights;
    const { dModel: d } = config;
    for (const b of p.blocks) {
      expect(arr(b.ln1_w).every((v) => v === 1) && arr(b.ln2_b).every((v) => v === 0)).toBe(true);
      expect(Math.max(...arr(tf.slice(b.b_attn, [2 * d], [d])).map(Math.abs))).toBe(0);
      expect(Math.max(...arr(tf.mean(b.W_out, 1)).map(Math.abs))).toBeLessThan(1e-6);
    }
    expect(Math.max(...arr(tf.mean(p.W_E, 1)).map(Math.abs))).toBeLessThan(1e-6);
    expect(Math.max(...arr(tf.mean(p.W_U!, 1)).map(Math.abs))).toBeLessThan(1e-6);
    expect(arr(model.weights.blocks[0].ln1_w).some((v) => v !== 1)).toBe(true);
    expect(model.weights.W_U).toBeUndefined();
  });

  it('a logit readout on the processed model reads W_U and b_U', () => {
    const readout = {
      at: [5, 3],
      terms: [
        [
          [3, 1],
          [8, -1],
        ],
        [[11, 2]],
      ] as [number, number][][],
    };
    const head = new ReadoutHead(processed, readout);
    const [got, want] = tf.tidy(() => {
      const h = processed.runToHook(ids, 'blocks.1.hook_resid_pre');
      const l = processed.forwardFrom('blocks.1.hook_resid_pre', h).arraySync() as number[][][];
      return [arr(head.apply(processed.residualFrom('blocks.1.hook_resid_pre', h))), [l[0][5][3] - l[0][5][8], 2 * l[1][3][11]]];
    });
    head.dispose();
    expect(maxRelErr(got, want)).toBeLessThan(1e-5);
  });

  it('disposes every tensor it made', () => {
    const before = tf.memory().numTensors;
    const p = processWeights(model);
    expect(tf.memory().numTensors - before).toBe(p.parameters().length);
    p.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
