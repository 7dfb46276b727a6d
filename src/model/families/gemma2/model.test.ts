// Gemma-2 against an independent float64 PyTorch forward (scripts/fixtures/family_ref.py) on the tiny-gemma2
// fixture, whose sliding window (4) is shorter than its prompts and whose soft-caps bite; then hooks, padding,
// logitsAt, the column readout, leaks, and the refusals of bad configs and weights.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { maxRelErr } from '../../../core/compare.ts';
import { tf, type Tensor, type Tensor2D, type Tensor3D } from '../../../core/tf.ts';
import { parseSafetensors, writeSafetensors, type TensorToWrite } from '../../../io/safetensors.ts';
import { Checkpoint } from '../../checkpoint.ts';
import { parseConfigJson } from '../../config.ts';
import type { WeightProcessing } from '../../family.ts';
import { loadModel } from '../../registry.ts';
import { softcap } from '../../layers.ts';
import { gemma2Family } from './index.ts';
import { gemma2Config, randomGemma2 } from './load.ts';
import { Gemma2, type Gemma2Config, hookNames } from './model.ts';

const dir = path.resolve(import.meta.dirname, '../../__fixtures__/tiny-gemma2');
const read = (f: string) => readFileSync(path.join(dir, f));
const configJson = read('config.json').toString('utf8');
const weights = read('model.safetensors');
const { ids, attention_mask: mask } = JSON.parse(read('ids.json').toString('utf8')) as { ids: number[][]; attention_mask: number[][] };
const reference = parseSafetensors(read('reference.safetensors')).tensors;
const [B, T] = [ids.length, ids[0].length];

async function load(processing: WeightProcessing = 'none', config = configJson, bytes: Uint8Array = weights): Promise<Gemma2> {
  return (
    await loadModel(
      {
        name: 'tiny-gemma2',
        configJson: config,
        weights: [{ name: 'model.safetensors', bytes }],
        tokenizerJson: read('tokenizer.json').toString('utf8'),
      },
      processing,
    )
  ).model as Gemma2;
}

/** max |ours − ref| / max |ref| over the real (unpadded) positions of [B, T, width] arrays. */
function realRelErr(got: ArrayLike<number>, want: ArrayLike<number>, width: number): number {
  expect(got.length).toBe(want.length);
  const real = mask.flat();
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    if (!real[Math.floor(i / width)]) continue;
    num = Math.max(num, Math.abs(got[i] - want[i]));
    den = Math.max(den, Math.abs(want[i]));
  }
  return num / den;
}

const residNames = (L: number) =>
  Array.from({ length: L }, (_, i) => ['hook_resid_pre', 'hook_resid_mid', 'hook_resid_post'].map((p) => `blocks.${i}.${p}`)).flat();

/** Every residual hook and the logits of a model on the fixture's batch (right-padded, with its attention mask). */
function run(model: Gemma2): { resid: Map<string, Float32Array>; logits: Float32Array } {
  const cache = new Map<string, Tensor>(residNames(model.config.nLayer).map((n) => [n, null as unknown as Tensor]));
  const logits = tf.tidy(() => model.forward(ids, { cache, attentionMask: tf.tensor2d(mask) }).dataSync() as Float32Array);
  const resid = new Map([...cache].map(([n, t]) => [n, t.dataSync() as Float32Array]));
  tf.dispose([...cache.values()]);
  return { resid, logits };
}

describe('Gemma-2 against the float64 PyTorch reference (tiny-gemma2: window 4 < 12 tokens, soft-caps biting)', () => {
  it.each(['none', 'transformer-lens'] as const)(
    'processing %s: every hook_resid_pre/mid/post and the logits agree to 1e-4 relative, batched with right padding',
    async (processing) => {
      const model = await load(processing);
      const { resid, logits } = run(model);
      const { dModel, vocabSize, nLayer } = model.config;
      expect(resid.size).toBe(3 * nLayer);
      for (const [name, got] of resid) expect(realRelErr(got, reference.get(name)!.data, dModel), name).toBeLessThan(1e-4);
      const want = reference.get('logits')!.data;
      expect(realRelErr(logits, want, vocabSize)).toBeLessThan(1e-4);
      // The final soft-cap (8) bites: the largest logits sit close to it.
      expect(Math.max(...Array.from(want, Math.abs))).toBeGreaterThan(7.5);
      model.dispose();
    },
  );

  it('the fixture exercises the window, the attention soft-cap, the final soft-cap and the embedding scale', async () => {
    // Each changed config moves the logits far from the reference: none of them passes the test above by accident.
    const raw = JSON.parse(configJson);
    const variants: Record<string, object> = {
      'no sliding window': { sliding_window: null },
      'the odd layers slide': { layer_types: ['full_attention', 'sliding_attention', 'full_attention'] },
      'no attention soft-cap': { attn_logit_softcapping: null },
      'no final soft-cap': { final_logit_softcapping: null },
      'scores over √head_dim': { query_pre_attn_scalar: raw.head_dim },
      'another rotary base': { rope_theta: 100 },
    };
    for (const [what, change] of Object.entries(variants)) {
      const model = await load('none', JSON.stringify({ ...raw, ...change }));
      expect(realRelErr(run(model).logits, reference.get('logits')!.data, 603), what).toBeGreaterThan(1e-2);
      model.dispose();
    }
  });

  it('the reference tensors are the shapes the test reads, and the mask is the one in ids.json', () => {
    expect(reference.get('logits')!.shape).toEqual([B, T, 603]);
    expect(Array.from(reference.get('attention_mask')!.data)).toEqual(mask.flat());
    expect(mask.some((row) => row.includes(0))).toBe(true);
  });
});

const shared = await load('none');
const plainModel = await load('none');

describe('hooks, forwardFrom, padding, logitsAt, the column readout', () => {
  const model = shared;
  afterAll(() => model.dispose());
  const diff = (a: Tensor, b: Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
  const short = ids.map((r) => r.slice(0, 6));

  it('caches every hook point with TransformerLens names and shapes, in forward order', () => {
    const names = model.hookNames();
    expect(names).toEqual(hookNames(3));
    expect(names).toHaveLength(1 + 3 * 18 + 1);
    expect(names.slice(0, 3)).toEqual(['hook_embed', 'blocks.0.hook_resid_pre', 'blocks.0.ln1.hook_normalized']);
    const cache = new Map<string, Tensor>(names.map((n) => [n, null as unknown as Tensor]));
    tf.tidy(() => void model.forward(short, { cache }));
    const shapes: Record<string, number[]> = {
      hook_embed: [4, 6, 32],
      'blocks.1.hook_resid_pre': [4, 6, 32],
      'blocks.1.ln1.hook_normalized': [4, 6, 32],
      'blocks.1.attn.hook_q': [4, 6, 4, 16],
      'blocks.1.attn.hook_k': [4, 6, 2, 16],
      'blocks.1.attn.hook_v': [4, 6, 2, 16],
      'blocks.1.attn.hook_rot_q': [4, 6, 4, 16],
      'blocks.1.attn.hook_rot_k': [4, 6, 2, 16],
      'blocks.1.attn.hook_attn_scores': [4, 4, 6, 6],
      'blocks.1.attn.hook_pattern': [4, 4, 6, 6],
      'blocks.1.attn.hook_z': [4, 6, 4, 16],
      'blocks.1.hook_attn_out': [4, 6, 32],
      'blocks.1.hook_resid_mid': [4, 6, 32],
      'blocks.1.ln2.hook_normalized': [4, 6, 32],
      'blocks.1.mlp.hook_pre': [4, 6, 64],
      'blocks.1.mlp.hook_pre_linear': [4, 6, 64],
      'blocks.1.mlp.hook_post': [4, 6, 64],
      'blocks.1.hook_mlp_out': [4, 6, 32],
      'blocks.2.hook_resid_post': [4, 6, 32],
      'ln_final.hook_normalized': [4, 6, 32],
    };
    for (const [n, s] of Object.entries(shapes)) expect(cache.get(n)!.shape, n).toEqual(s);
    const c = (n: string) => cache.get(n)!;
    // hook_embed is the scaled embedding, and is resid_pre of block 0; resid_mid = resid_pre + attn_out.
    expect(diff(c('hook_embed'), c('blocks.0.hook_resid_pre'))).toBe(0);
    expect(diff(c('blocks.0.hook_resid_post'), c('blocks.1.hook_resid_pre'))).toBe(0);
    expect(diff(tf.add(c('blocks.1.hook_resid_pre'), c('blocks.1.hook_attn_out')), c('blocks.1.hook_resid_mid'))).toBeLessThan(1e-5);
    expect(diff(tf.add(c('blocks.1.hook_resid_mid'), c('blocks.1.hook_mlp_out')), c('blocks.1.hook_resid_post'))).toBeLessThan(1e-5);
    const scaled = tf.tidy(() => tf.mul(tf.reshape(model.weights.embedding.lookup(short.flat()), [4, 6, 32]), Math.sqrt(32)));
    expect(diff(scaled, c('hook_embed'))).toBeLessThan(1e-6);
    // mlp.hook_post = gelu_tanh(gate) · up.
    const gelu = (x: Tensor) =>
      tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))));
    expect(diff(tf.mul(gelu(c('blocks.1.mlp.hook_pre')), c('blocks.1.mlp.hook_pre_linear')), c('blocks.1.mlp.hook_post'))).toBeLessThan(
      1e-5,
    );
    // Rotary leaves position 0 alone and keeps each head's norm.
    const at0 = (n: string) => tf.slice(c(n), [0, 0, 0, 0], [4, 1, 4, 16]);
    expect(diff(at0('blocks.1.attn.hook_q'), at0('blocks.1.attn.hook_rot_q'))).toBe(0);
    const norms = (n: string) => tf.sqrt(tf.sum(tf.square(c(n)), -1));
    expect(diff(norms('blocks.1.attn.hook_k'), norms('blocks.1.attn.hook_rot_k'))).toBeLessThan(1e-5);
    // Layer 0 slides (window 4): query 5 reads keys 2..5 only; layer 1 reads every earlier key. Scores are seen
    // soft-capped (|s| < 10) and then masked, as in TransformerLens.
    const pattern = (l: number) => c(`blocks.${l}.attn.hook_pattern`).arraySync() as number[][][][];
    expect(pattern(0)[0][0][5].slice(0, 2)).toEqual([0, 0]);
    expect(Math.min(...pattern(0)[0][0][5].slice(2))).toBeGreaterThan(0);
    expect(Math.min(...pattern(1)[0][0][5])).toBeGreaterThan(0);
    expect(pattern(1)[0][0][5].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    const scores = c('blocks.0.attn.hook_attn_scores').arraySync() as number[][][][];
    expect(scores[0][0][5][1]).toBeLessThan(-1e8);
    expect(Math.max(...scores[0][0][5].slice(2).map(Math.abs))).toBeLessThan(10);
    tf.dispose([...cache.values()]);
  });

  it('an add-zero hook changes nothing; forwardFrom equals the full forward at every residual hook', () => {
    tf.tidy(() => {
      const base = model.forward(ids);
      expect(diff(base, model.forward(ids, { hooks: { 'blocks.1.hook_resid_mid': (x) => tf.add(x, 0) } }))).toBe(0);
      for (const name of residNames(3)) {
        const h = model.runToHook(ids, name);
        expect(diff(base, model.forwardFrom(name, h)), name).toBeLessThan(1e-5);
      }
    });
  });

  it('a replace hook at resid_pre equals forwardFrom with that residual; hooks downstream of forwardFrom still apply', () => {
    tf.tidy(() => {
      const h = tf.randomNormal([4, 12, 32], 0, 3, 'float32', 3) as Tensor3D;
      expect(
        diff(model.forward(ids, { hooks: { 'blocks.2.hook_resid_pre': () => h } }), model.forwardFrom('blocks.2.hook_resid_pre', h)),
      ).toBeLessThan(1e-5);
      const d = tf.randomNormal([4, 12, 32], 0, 1, 'float32', 4);
      const add = { hooks: { 'blocks.1.hook_resid_mid': (x: Tensor) => tf.add(x, d) } };
      const start = model.runToHook(ids, 'blocks.1.hook_resid_pre');
      expect(diff(model.forward(ids, add), model.forwardFrom('blocks.1.hook_resid_pre', start, add))).toBeLessThan(1e-5);
      expect(diff(model.forward(ids, add), model.forward(ids))).toBeGreaterThan(1e-3);
    });
  });

  it('right padding with the attention mask leaves the real tokens as alone; one-hot embedding equals gather', () => {
    tf.tidy(() => {
      const padded = model.forward(ids, { attentionMask: tf.tensor2d(mask) });
      ids.forEach((row, b) => {
        const n = mask[b].reduce((a, x) => a + x, 0);
        const alone = model.forward([row.slice(0, n)]);
        expect(diff(alone, tf.slice(padded, [b, 0, 0], [1, n, 603])), `row ${b}`).toBeLessThan(1e-5);
      });
      expect(diff(model.forward(ids, { embedding: 'onehot' }), model.forward(ids))).toBeLessThan(1e-5);
    });
  });

  it('logitsAt computes logits at one position per row, equal to the full logits there', () => {
    tf.tidy(() => {
      const full = model.forward(ids);
      const at = [11, 4, 9, 0];
      const got = model.forward(ids, { logitsAt: at });
      expect(got.shape).toEqual([4, 1, 603]);
      at.forEach((p, b) => expect(diff(tf.slice(full, [b, p, 0], [1, 1, 603]), tf.slice(got, [b, 0, 0], [1, 1, 603]))).toBeLessThan(1e-5));
      expect(() => model.forward(ids, { logitsAt: [12, 0, 0, 0] })).toThrow(
        /logitsAt must hold one position in 0\.\.11 per batch row \(4\)/,
      );
    });
  });

  it('the column readout (final norm, the read columns, the soft-cap) equals the full logits at those tokens', () => {
    const tokens = [5, 17, 400, 602];
    const cols = model.logitColumns(tokens);
    const [got, want] = tf.tidy(() => {
      const x = model.residualFrom('blocks.0.hook_resid_pre', model.runToHook(ids, 'blocks.0.hook_resid_pre'));
      const rows = tf.reshape(x, [B * T, 32]) as Tensor2D;
      const logits = tf.reshape(model.unembed(x), [B * T, 603]);
      return [cols.logits(rows).dataSync(), tf.gather(logits, tf.tensor1d(tokens, 'int32'), 1).dataSync()];
    });
    cols.dispose();
    expect(maxRelErr(got, want)).toBeLessThan(1e-5);
    expect(() => model.logitColumns([603])).toThrow(/token 603 is outside the vocabulary 0\.\.602/);
  });

  it('leaves no tensors behind (forward, gradient through forwardFrom, runToHook, hooks, the column readout)', () => {
    const run = () => {
      tf.tidy(() => void model.forward(short));
      tf.tidy(
        () =>
          void tf.grad((d: Tensor) =>
            tf.sum(model.forwardFrom('blocks.1.hook_resid_pre', tf.add(model.runToHook(short, 'blocks.1.hook_resid_pre'), d) as Tensor3D)),
          )(tf.zeros([4, 6, 32])),
      );
      tf.tidy(() => void model.runToHook(short, 'blocks.1.hook_resid_mid'));
      tf.tidy(() => void model.forward(short, { hooks: { 'blocks.1.attn.hook_pattern': (p) => tf.mul(p, 1) } }));
      const cols = model.logitColumns([1, 2]);
      tf.tidy(() => void cols.logits(tf.ones([2, 32]) as Tensor2D));
      cols.dispose();
    };
    run();
    const before = tf.memory().numTensors;
    run();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad input with clear messages', () => {
    expect(() => model.forward([[1, 603]])).toThrow(/token id 603 is outside the vocabulary 0\.\.602/);
    expect(() => model.forward([[1, 2], [3]])).toThrow(/rectangular/);
    expect(() => model.forward([Array(65).fill(1)])).toThrow(/exceeds the context of 64/);
    expect(() => model.forwardFrom('blocks.3.hook_resid_pre', tf.zeros([1, 1, 32]) as Tensor3D)).toThrow(/layers 0\.\.2/);
    expect(() => tf.tidy(() => model.forwardFrom('blocks.0.hook_resid_pre', tf.zeros([1, 1, 8]) as Tensor3D))).toThrow(
      /must be \[batch, pos, 32\]/,
    );
    expect(() => model.forward(ids, { hooks: { 'blocks.1.attn.hook_rot_v': (x) => x } })).toThrow(
      /unknown hook point "blocks\.1\.attn\.hook_rot_v"/,
    );
    expect(() => model.residHook('blocks.0.attn.hook_z')).toThrow(/not a residual hook/);
  });
});

describe('config.json', () => {
  const raw = JSON.parse(configJson);
  const parse = (change: object, drop: string[] = []) => {
    const c = { ...raw, ...change };
    for (const k of drop) delete c[k];
    return gemma2Config(c, 'm/config.json');
  };

  it('reads the fixture as Hugging Face does, with its defaults where a field is absent', () => {
    const c = parse({});
    expect(c).toMatchObject({ dModel: 32, dMlp: 64, nLayer: 3, nHead: 4, nKvHead: 2, headDim: 16, nCtx: 64, vocabSize: 603 });
    expect(c).toMatchObject({ rmsEps: 1e-6, ropeTheta: 10000, queryPreAttnScalar: 24, slidingWindow: 4, attnSoftcap: 10, finalSoftcap: 8 });
    expect(c.sliding).toEqual([true, false, true]);
    expect(c.tieWordEmbeddings).toBe(true);
    const d = parse({}, [
      'hidden_activation',
      'hidden_act',
      'rms_norm_eps',
      'rope_theta',
      'query_pre_attn_scalar',
      'sliding_window',
      'attn_logit_softcapping',
      'final_logit_softcapping',
      'tie_word_embeddings',
      'max_position_embeddings',
    ]);
    expect(d).toMatchObject({
      rmsEps: 1e-6,
      ropeTheta: 10000,
      queryPreAttnScalar: 256,
      slidingWindow: 4096,
      attnSoftcap: 50,
      finalSoftcap: 30,
    });
    expect(d).toMatchObject({ nCtx: 8192, tieWordEmbeddings: true });
    expect(parse({ final_logit_softcapping: null, attn_logit_softcapping: null, sliding_window: null })).toMatchObject({
      finalSoftcap: null,
      attnSoftcap: null,
      slidingWindow: null,
    });
    expect(parse({ layer_types: ['full_attention', 'sliding_attention', 'sliding_attention'] }).sliding).toEqual([false, true, true]);
    expect(parse({ hidden_act: 'gelu_pytorch_tanh' }, ['hidden_activation']).dModel).toBe(32);
    expect(parse({ rope_parameters: { rope_type: 'default', rope_theta: 500 } }, ['rope_theta']).ropeTheta).toBe(500);
    // Through the registry: model_type picks this family.
    expect(gemma2Family.parseConfig(parseConfigJson(configJson), 'm').nLayer).toBe(3);
  });

  it.each([
    [
      { hidden_activation: 'gelu' },
      [],
      /hidden_activation "gelu" is not supported \(Gemma-2's MLP uses the tanh GELU: gelu_pytorch_tanh\)/,
    ],
    [{ hidden_act: 'relu' }, ['hidden_activation'], /hidden_act "relu" is not supported/],
    [{ attention_bias: true }, [], /attention_bias=true is not supported/],
    [{ rope_scaling: { rope_type: 'linear', factor: 2 } }, [], /rope_scaling .* is not supported/],
    [{ rope_parameters: { rope_type: 'yarn', rope_theta: 1 } }, [], /rope_parameters\.rope_type "yarn" is not supported/],
    [{ use_bidirectional_attention: true }, [], /use_bidirectional_attention=true is not supported/],
    [{ num_attention_heads: 3 }, [], /num_attention_heads 3 is not a multiple of num_key_value_heads 2/],
    [{ head_dim: 15 }, [], /head_dim 15 must be even/],
    [{ layer_types: ['sliding_attention'] }, [], /layer_types must list 3 entries/],
    [{ layer_types: ['sliding_attention', 'full_attention', 'chunked_attention'] }, [], /layer_types must list 3 entries/],
    [{ sliding_window: 2.5 }, [], /sliding_window must be a positive integer or null/],
    [{ final_logit_softcapping: -1 }, [], /final_logit_softcapping must be a positive number/],
    [{ tie_word_embeddings: 'yes' }, [], /tie_word_embeddings must be true or false/],
    [{ model_type: 'gemma' }, [], /model_type "gemma" is not Gemma-2/],
    [{}, ['vocab_size'], /vocab_size must be a positive integer, got undefined/],
    [{}, ['num_key_value_heads'], /num_key_value_heads must be a positive integer/],
  ] as [object, string[], RegExp][])('refuses %j (without %j)', (change, drop, message) => {
    expect(() => parse(change, drop)).toThrow(message);
  });
});

describe('weights', () => {
  const file = parseSafetensors(weights);
  const tensors = (): Record<string, TensorToWrite> =>
    Object.fromEntries([...file.tensors].map(([n, t]) => [n, { shape: t.shape, data: t.data }]));
  const plain = plainModel;
  afterAll(() => plain.dispose());
  const logitsOf = (m: Gemma2) => tf.tidy(() => m.forward(ids).dataSync());

  it('names the tensor whose shape disagrees with config.json, and refuses layers config.json does not count', async () => {
    await expect(load('none', configJson.replace('"intermediate_size": 64', '"intermediate_size": 48'))).rejects.toThrow(
      /tiny-gemma2\/model\.safetensors: model\.layers\.0\.mlp\.gate_proj\.weight has shape \[64, 32\], config\.json implies \[48, 32\]/,
    );
    await expect(load('none', configJson.replace('"num_hidden_layers": 3', '"num_hidden_layers": 2'))).rejects.toThrow(
      /unexpected tensor model\.layers\.2\.\S+ .*num_hidden_layers=2/,
    );
    const missing = tensors();
    delete missing['model.layers.1.mlp.up_proj.weight'];
    await expect(load('none', configJson, writeSafetensors(missing))).rejects.toThrow(
      /tiny-gemma2: missing model\.layers\.1\.mlp\.up_proj\.weight/,
    );
    const nan = { ...tensors(), 'model.norm.weight': { shape: [32], data: new Float32Array(32).fill(Number.NaN) } };
    await expect(load('none', configJson, writeSafetensors(nan))).rejects.toThrow(/model\.norm\.weight has a non-finite value/);
    const gpt2 = readFileSync(path.resolve(dir, '../tiny-word/model.safetensors'));
    await expect(load('none', configJson, gpt2)).rejects.toThrow(/no model\.embed_tokens\.weight \(is this a Gemma-2 checkpoint\?\)/);
  });

  it('a tied checkpoint with an lm_head copy ignores it; an untied one reads lm_head.weight and needs it', async () => {
    const E = file.tensors.get('model.embed_tokens.weight')!;
    const withCopy = writeSafetensors({ ...tensors(), 'lm_head.weight': { shape: E.shape, data: E.data } });
    const copy = await load('none', configJson, withCopy);
    expect(maxRelErr(logitsOf(copy), logitsOf(plain))).toBe(0);
    copy.dispose();
    const untied = configJson.replace('"tie_word_embeddings": true', '"tie_word_embeddings": false');
    await expect(load('none', untied)).rejects.toThrow(/missing lm_head\.weight/);
    const same = await load('none', untied, withCopy);
    expect(same.weights.unembedding).not.toBe(same.weights.embedding);
    expect(same.weights.unembedding.keptTokens).toBe(603);
    expect(maxRelErr(logitsOf(same), logitsOf(plain))).toBeLessThan(1e-6);
    same.dispose();
    // Another head: logits = softcap(ln_final(x) · lm_headᵀ).
    const head = Float32Array.from({ length: 603 * 32 }, (_, i) => Math.sin(i * 0.7) * 0.3);
    for (const processing of ['none', 'transformer-lens'] as const) {
      const other = await load(processing, untied, writeSafetensors({ ...tensors(), 'lm_head.weight': { shape: [603, 32], data: head } }));
      const cache = new Map<string, Tensor>([['ln_final.hook_normalized', null as unknown as Tensor]]);
      const [got, want] = tf.tidy(() => {
        const logits = other.forward(ids, { cache });
        const normed = tf.reshape(cache.get('ln_final.hook_normalized')!, [B * T, 32]);
        return [logits.dataSync(), softcap(tf.matMul(normed, tf.tensor2d(head, [603, 32]), false, true), 8).dataSync()];
      });
      tf.dispose([...cache.values()]);
      expect(maxRelErr(got, want)).toBeLessThan(1e-5);
      expect(maxRelErr(got, logitsOf(plain))).toBeGreaterThan(0.1);
      // The column readout reads lm_head's columns.
      const cols = other.logitColumns([3, 500]);
      const [colLogits, fullAt] = tf.tidy(() => {
        const x = tf.reshape(other.residualFrom('blocks.2.hook_resid_post', other.runToHook(ids, 'blocks.2.hook_resid_post')), [B * T, 32]);
        return [
          cols.logits(x as Tensor2D).dataSync(),
          tf.gather(tf.tensor2d(got, [B * T, 603]), tf.tensor1d([3, 500], 'int32'), 1).dataSync(),
        ];
      });
      cols.dispose();
      expect(maxRelErr(colLogits, fullAt)).toBeLessThan(1e-5);
      other.dispose();
    }
  });

  it('loads through the family with a checkpoint directly, and the RMSNorm weights are applied as 1 + w', async () => {
    const config = gemma2Family.parseConfig(parseConfigJson(configJson), 'm');
    const model = (await gemma2Family.load(config, new Checkpoint([{ name: 'model.safetensors', bytes: weights }], 'm'), 'none')) as Gemma2;
    const w = file.tensors.get('model.layers.1.post_feedforward_layernorm.weight')!.data;
    expect(Array.from(model.weights.blocks[1]!.lnPostMlp.dataSync())).toEqual(Array.from(w, (x) => Math.fround(x + 1)));
    // q_proj [out, in] is read as x · W: W_qkv[i, o] = q_proj[o, i].
    const q = file.tensors.get('model.layers.0.self_attn.q_proj.weight')!.data;
    const Wqkv = (model.weights.blocks[0]!.W_qkv as Tensor2D).arraySync() as number[][];
    expect(Wqkv[3][5]).toBe(q[5 * 32 + 3]);
    expect(Wqkv[31][63]).toBe(q[63 * 32 + 31]);
    expect(file.tensors.get('model.layers.0.self_attn.q_proj.weight')!.data).toBe(q); // the checkpoint is left as read
    model.dispose();
  });

  it('refuses weights whose blocks do not match the config, and a tied config given its own unembedding', () => {
    const c = gemma2Config(JSON.parse(configJson), 'm');
    const r = randomGemma2(c, 1);
    const wrong: Gemma2Config = { ...c, dMlp: 48 };
    expect(() => new Gemma2(wrong, r.weights)).toThrow(/do not match the config/);
    expect(() => new Gemma2({ ...c, tieWordEmbeddings: false }, r.weights)).toThrow(/untied model needs/);
    r.dispose();
  });
});
