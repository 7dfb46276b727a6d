// TransformerLens's weight processing changes the hooks exactly as its algebra says: every residual hook loses
// its mean over d_model, the logits lose their mean over the vocabulary, and nothing else moves — with a parallel
// residual (both LayerNorms read the block input) and a sequential one, untied and tied.
import { afterAll, describe, expect, it } from 'vitest';
import { maxRelErr } from '../../../core/compare.ts';
import { tf, type Tensor, type Tensor1D, type Tensor2D } from '../../../core/tf.ts';
import { ReadoutHead } from '../../hook-onward.ts';
import { randomGptNeox } from './load.ts';
import { GptNeox, type GptNeoxConfig } from './model.ts';
import { processWeights } from './process.ts';
import { tinyConfig } from './testing.ts';

/** A random model whose LayerNorms and biases are not the identity and zero (what processing folds). */
function richModel(config: GptNeoxConfig): GptNeox {
  const base = randomGptNeox(config, 5, 0.3);
  let seed = 100;
  const noisy = (t: Tensor1D, mean: number, std: number) => tf.add(tf.randomNormal(t.shape, 0, std, 'float32', seed++), mean) as Tensor1D;
  const w = base.weights;
  const blocks = w.blocks.map((b) => ({
    ...b,
    ln1_w: noisy(b.ln1_w, 1, 0.3),
    ln1_b: noisy(b.ln1_b, 0, 0.2),
    b_qkv: noisy(b.b_qkv, 0, 0.2),
    b_O: noisy(b.b_O, 0, 0.2),
    ln2_w: noisy(b.ln2_w, 1, 0.3),
    ln2_b: noisy(b.ln2_b, 0, 0.2),
    b_in: noisy(b.b_in, 0, 0.2),
    b_out: noisy(b.b_out, 0, 0.2),
  }));
  return new GptNeox(config, { ...w, blocks, lnf_w: noisy(w.lnf_w, 1, 0.3), lnf_b: noisy(w.lnf_b, 0, 0.2) });
}

const ids = [
  [1, 7, 3, 22, 9, 30, 41],
  [4, 4, 18, 2, 49, 0, 11],
];
const arr = (t: Tensor) => Array.from(t.dataSync());

describe.each([
  ['parallel, untied', tinyConfig()],
  ['sequential, untied', tinyConfig({ parallel: false })],
  ['parallel, tied', tinyConfig({ tiedEmbeddings: true })],
])('TransformerLens weight processing (%s)', (_, config) => {
  const model = richModel(config);
  const processed = processWeights(model);
  afterAll(() => {
    model.dispose();
    processed.dispose();
  });
  const resid = config.parallel
    ? ['blocks.0.hook_resid_pre', 'blocks.0.hook_resid_post', 'blocks.1.hook_resid_pre', 'blocks.1.hook_resid_post']
    : ['blocks.0.hook_resid_pre', 'blocks.0.hook_resid_mid', 'blocks.1.hook_resid_mid', 'blocks.1.hook_resid_post'];

  it.each(resid)('%s of the processed model = the unprocessed one minus its mean over d_model', (hook) => {
    const [got, want, mean] = tf.tidy(() => {
      const h = model.runToHook(ids, hook);
      return [arr(processed.runToHook(ids, hook)), arr(tf.sub(h, tf.mean(h, -1, true))), arr(tf.mean(h, -1))];
    });
    expect(maxRelErr(got, want)).toBeLessThan(1e-4);
    // The test would pass trivially if the unprocessed residual were already centred.
    expect(Math.max(...mean.map(Math.abs))).toBeGreaterThan(1e-3);
  });

  it('logits of the processed model = the unprocessed ones minus their mean over the vocabulary; attention patterns unchanged', () => {
    const [got, want, pGot, pWant] = tf.tidy(() => {
      const c1 = new Map<string, Tensor>([['blocks.1.attn.hook_pattern', null as unknown as Tensor]]);
      const c2 = new Map<string, Tensor>([['blocks.1.attn.hook_pattern', null as unknown as Tensor]]);
      const l = model.forward(ids, { cache: c1 });
      const out = [arr(processed.forward(ids, { cache: c2 })), arr(tf.sub(l, tf.mean(l, -1, true)))];
      const pat = [arr(c2.get('blocks.1.attn.hook_pattern')!), arr(c1.get('blocks.1.attn.hook_pattern')!)];
      tf.dispose([...c1.values(), ...c2.values()]);
      return [...out, ...pat];
    });
    expect(maxRelErr(got, want)).toBeLessThan(1e-4);
    expect(maxRelErr(pGot, pWant)).toBeLessThan(1e-4);
  });

  it('leaves bare LayerNorms, no value bias, centred writing and reading weights, and the original untouched', () => {
    const p = processed.weights;
    const { dModel: d } = config;
    const maxMean = (t: Tensor, axis: number) => tf.tidy(() => Math.max(...arr(tf.mean(t, axis)).map(Math.abs)));
    for (const b of p.blocks) {
      expect(arr(b.ln1_w).every((v) => v === 1) && arr(b.ln2_w).every((v) => v === 1)).toBe(true);
      expect(arr(b.ln1_b).every((v) => v === 0) && arr(b.ln2_b).every((v) => v === 0)).toBe(true);
      expect(Math.max(...arr(tf.slice(b.b_qkv, [2 * d], [d])).map(Math.abs))).toBe(0);
      expect(maxMean(b.W_O, 1)).toBeLessThan(1e-6);
      expect(maxMean(b.W_out, 1)).toBeLessThan(1e-6);
      expect(maxMean(b.W_qkv, 0)).toBeLessThan(1e-6);
      expect(maxMean(b.W_in, 0)).toBeLessThan(1e-6);
    }
    expect(maxMean(p.W_E, 1)).toBeLessThan(1e-6);
    expect(maxMean(p.W_U!, 1)).toBeLessThan(1e-6);
    expect(maxMean(p.W_U!, 0)).toBeLessThan(1e-6);
    expect(arr(model.weights.blocks[0].ln1_w).some((v) => v !== 1)).toBe(true);
    expect(model.weights.W_U === undefined).toBe(config.tiedEmbeddings);
  });

  it('a logit readout on the processed model reads W_U and b_U', () => {
    const head = new ReadoutHead(processed, {
      at: [5, 3],
      terms: [
        [
          [3, 1],
          [8, -1],
        ],
        [[11, 2]],
      ],
    });
    const [got, want] = tf.tidy(() => {
      const h = processed.runToHook(ids, 'blocks.1.hook_resid_pre');
      const l = processed.forwardFrom('blocks.1.hook_resid_pre', h).arraySync() as number[][][];
      return [arr(head.apply(processed.residualFrom('blocks.1.hook_resid_pre', h))), [l[0][5][3] - l[0][5][8], 2 * l[1][3][11]]];
    });
    head.dispose();
    expect(maxRelErr(got, want)).toBeLessThan(1e-5);
  });

  it('makes exactly the processed model’s tensors, each freed by its dispose', () => {
    const before = tf.memory().numTensors;
    const p = processWeights(model);
    expect(tf.memory().numTensors - before).toBe(p.parameters().length);
    expect(new Set(p.parameters()).size).toBe(p.parameters().length);
    p.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

it('the qkv bias fold is exact when the LayerNorm shift is zero and its scale one (processing is then centring only)', () => {
  const m = randomGptNeox(tinyConfig(), 9, 0.3);
  const p = processWeights(m);
  tf.tidy(() => {
    const centredW = tf.sub(m.weights.blocks[0].W_qkv, tf.mean(m.weights.blocks[0].W_qkv, 0, true)) as Tensor2D;
    expect(tf.max(tf.abs(tf.sub(centredW, p.weights.blocks[0].W_qkv))).dataSync()[0]).toBeLessThan(1e-7);
  });
  m.dispose();
  p.dispose();
});
