// config.json and checkpoint reading for GPT-NeoX: the fields and their defaults, the q | k | v reordering, the
// buffers ignored by name, tied and bias-free variants, and a clear refusal for everything else.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tf } from '../../../core/tf.ts';
import { writeSafetensors } from '../../../io/safetensors.ts';
import { Checkpoint } from '../../checkpoint.ts';
import { parseConfigJson } from '../../config.ts';
import { familyOf, loadModelSync } from '../../registry.ts';
import { gptNeoxFamily } from './index.ts';
import { gptNeoxConfig, qkvColumn } from './load.ts';
import { NEOX_DIRS, neoxFolder, neoxIds, neoxTensors } from './testing.ts';

const PYTHIA_70M = {
  architectures: ['GPTNeoXForCausalLM'],
  bos_token_id: 0,
  eos_token_id: 0,
  hidden_act: 'gelu',
  hidden_size: 512,
  initializer_range: 0.02,
  intermediate_size: 2048,
  layer_norm_eps: 1e-5,
  max_position_embeddings: 2048,
  model_type: 'gpt_neox',
  num_attention_heads: 8,
  num_hidden_layers: 6,
  rotary_emb_base: 10000,
  rotary_pct: 0.25,
  tie_word_embeddings: false,
  torch_dtype: 'float16',
  transformers_version: '4.24.0',
  use_cache: true,
  use_parallel_residual: true,
  vocab_size: 50304,
};
const cfg = (edit: Record<string, unknown>) => gptNeoxConfig({ ...PYTHIA_70M, ...edit }, 'pythia/config.json');

describe('config.json', () => {
  it('reads Pythia-70m’s config; the registry finds the family by model_type', () => {
    expect(cfg({})).toEqual({
      nLayer: 6,
      dModel: 512,
      nHead: 8,
      dMlp: 2048,
      nCtx: 2048,
      vocabSize: 50304,
      rotaryDims: 16,
      rotaryBase: 10000,
      parallel: true,
      act: 'erf',
      lnEps: 1e-5,
      tiedEmbeddings: false,
      attentionBias: true,
    });
    expect(familyOf(parseConfigJson(JSON.stringify(PYTHIA_70M)), 'x')).toBe(gptNeoxFamily);
  });

  it('reads newer configs (rope_theta, rope_parameters) and the defaults of absent fields', () => {
    const { rotary_pct: _, rotary_emb_base: __, ...bare } = PYTHIA_70M;
    const newer = { ...bare, rope_parameters: { rope_type: 'default', rope_theta: 500, partial_rotary_factor: 0.5 } };
    expect(gptNeoxConfig(newer, 'c')).toMatchObject({ rotaryDims: 32, rotaryBase: 500 });
    expect(gptNeoxConfig({ ...bare, rope_theta: 20000 }, 'c')).toMatchObject({ rotaryDims: 16, rotaryBase: 20000 });
    const {
      max_position_embeddings: _m,
      layer_norm_eps: _e,
      use_parallel_residual: _u,
      hidden_act: _h,
      tie_word_embeddings: _t,
      ...minimal
    } = PYTHIA_70M;
    expect(gptNeoxConfig(minimal, 'c')).toMatchObject({ nCtx: 2048, lnEps: 1e-5, parallel: true, act: 'erf', tiedEmbeddings: false });
    expect(cfg({ hidden_act: 'gelu_new' }).act).toBe('tanh');
    expect(cfg({ use_parallel_residual: false, tie_word_embeddings: true, attention_bias: false, rope_scaling: null })).toMatchObject({
      parallel: false,
      tiedEmbeddings: true,
      attentionBias: false,
    });
  });

  it.each([
    [{ hidden_size: 500 }, /hidden_size 500 is not divisible by num_attention_heads 8/],
    [{ vocab_size: undefined }, /vocab_size must be a positive integer, got undefined/],
    [{ num_hidden_layers: 0 }, /num_hidden_layers must be a positive integer/],
    [{ hidden_act: 'relu' }, /hidden_act "relu" is not supported \(the exact GELU, or the tanh GELU: gelu or gelu_new/],
    [{ rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling \{"type":"linear","factor":2\} is not supported/],
    [{ rope_parameters: { rope_type: 'dynamic', factor: 2 } }, /rope_type "dynamic" is not supported/],
    [{ rope_theta: 500 }, /rotary base is given differently by rotary_emb_base \(10000\) and rope_theta \(500\)/],
    [{ rotary_pct: 1.5 }, /rotary_pct must be in 0\.\.1/],
    [{ rotary_pct: '1/4' }, /rotary_pct must be a number/],
    [{ use_parallel_residual: 'yes' }, /use_parallel_residual must be true or false/],
    [{ layer_norm_eps: -1 }, /layer_norm_eps must be a positive number/],
    [{ model_type: 'gpt2' }, /model_type "gpt2" is not gpt_neox/],
  ])('refuses %j', (edit, message) => {
    expect(() => cfg(edit)).toThrow(message);
  });

  it('an odd rotary dimension count is refused', () => {
    // head size 64 · 0.1 = 6.4 → 6 (even: accepted); 64 · 0.08 = 5.12 → 5 (odd).
    expect(cfg({ rotary_pct: 0.1 }).rotaryDims).toBe(6);
    expect(() => cfg({ rotary_pct: 0.08 })).toThrow(/rotary_pct 0\.08 of head size 64 gives 5 rotary dims; rotary needs an even number/);
  });
});

describe('weights', () => {
  const dir = NEOX_DIRS.parallel;
  const tensors = neoxTensors(dir);
  const toWrite = (m: Map<string, { shape: number[]; data: Float32Array }>) =>
    writeSafetensors(Object.fromEntries([...m].map(([k, t]) => [k, { shape: t.shape, data: t.data }])));
  const edited = (fn: (m: Map<string, { shape: number[]; data: Float32Array }>) => void) => {
    const m = new Map([...tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
    fn(m);
    return toWrite(m);
  };
  const { ids } = neoxIds(dir);
  const logitsOf = (weights: Uint8Array, config: Record<string, unknown> = {}) => {
    const { model } = loadModelSync(neoxFolder(dir, { weights, config }), 'none');
    const out = tf.tidy(() => model.forward(ids).dataSync().slice() as Float32Array);
    model.dispose();
    return out;
  };
  const maxDiff = (a: Float32Array, b: Float32Array) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
  const plain = logitsOf(toWrite(tensors));

  it('the q | k | v column order is a permutation of query_key_value’s [head][q | k | v][head_size] outputs', () => {
    const d = 64;
    const H = 4;
    const cols = Array.from({ length: 3 * d }, (_, o) => qkvColumn(o, d, H));
    expect(new Set(cols).size).toBe(3 * d);
    // Head 1's k (outputs 3·16 + 16 ..) lands in the k block (d ..) at head 1 (16 ..).
    expect(qkvColumn(3 * 16 + 16, d, H)).toBe(d + 16);
    expect(qkvColumn(3 * 16 * 3 + 2 * 16 + 5, d, H)).toBe(2 * d + 3 * 16 + 5);
  });

  it('reads model.safetensors as transformers saved it: U8 causal masks, an F16 −inf masked_bias, inv_freq', () => {
    const raw = readFileSync(path.join(dir, 'model.safetensors'));
    const ckpt = new Checkpoint([{ name: 'model.safetensors', bytes: raw }], 'raw');
    expect(ckpt.dtype('gpt_neox.layers.2.attention.bias')).toBe('U8');
    expect(ckpt.has('gpt_neox.layers.0.attention.masked_bias') && ckpt.has('gpt_neox.layers.0.attention.rotary_emb.inv_freq')).toBe(true);
    expect(maxDiff(logitsOf(raw), plain)).toBe(0);
  });

  it('ignores the buffers transformers saved (causal masks, masked_bias, rotary inv_freq) by name', () => {
    const withBuffers = edited((m) => {
      for (let i = 0; i < 3; i++) {
        m.set(`gpt_neox.layers.${i}.attention.bias`, { shape: [1, 1, 64, 64], data: new Float32Array(64 * 64).fill(1) });
        m.set(`gpt_neox.layers.${i}.attention.masked_bias`, { shape: [], data: new Float32Array([-1e9]) });
        m.set(`gpt_neox.layers.${i}.attention.rotary_emb.inv_freq`, { shape: [2], data: new Float32Array([1, 0.01]) });
      }
      m.set('gpt_neox.rotary_emb.inv_freq', { shape: [2], data: new Float32Array([1, 0.01]) });
    });
    expect(maxDiff(logitsOf(withBuffers), plain)).toBe(0);
  });

  it('tie_word_embeddings: the unembedding is embed_in (a stored embed_out copy is ignored)', () => {
    const E = tensors.get('gpt_neox.embed_in.weight')!;
    const untiedCopy = edited((m) => m.set('embed_out.weight', E));
    const tiedBare = edited((m) => m.delete('embed_out.weight'));
    const want = logitsOf(untiedCopy);
    expect(maxDiff(logitsOf(tiedBare, { tie_word_embeddings: true }), want)).toBeLessThan(1e-4);
    expect(maxDiff(logitsOf(toWrite(tensors), { tie_word_embeddings: true }), want)).toBeLessThan(1e-4);
    expect(maxDiff(want, plain)).toBeGreaterThan(1e-2);
  });

  it('attention_bias=false: no query_key_value or dense biases (the same as zero biases)', () => {
    const zero = edited((m) => {
      for (let i = 0; i < 3; i++)
        for (const n of ['query_key_value', 'dense']) {
          const t = m.get(`gpt_neox.layers.${i}.attention.${n}.bias`)!;
          m.set(`gpt_neox.layers.${i}.attention.${n}.bias`, { shape: t.shape, data: new Float32Array(t.data.length) });
        }
    });
    const none = edited((m) => {
      for (let i = 0; i < 3; i++) for (const n of ['query_key_value', 'dense']) m.delete(`gpt_neox.layers.${i}.attention.${n}.bias`);
    });
    expect(maxDiff(logitsOf(none, { attention_bias: false }), logitsOf(zero))).toBe(0);
    expect(() => logitsOf(toWrite(tensors), { attention_bias: false })).toThrow(
      /unexpected tensor gpt_neox\.layers\.0\.attention\.query_key_value\.bias.*attention_bias=false/,
    );
  });

  it.each([
    [
      'a tensor of the wrong shape',
      { hidden_size: 32 },
      null,
      /tiny-neox\/model\.safetensors: gpt_neox\.embed_in\.weight has shape \[512, 64\], config\.json implies \[512, 32\]/,
    ],
    ['more layers than config.json', { num_hidden_layers: 2 }, null, /unexpected tensor gpt_neox\.layers\.2\..* for num_hidden_layers=2/],
    ['fewer layers than config.json', { num_hidden_layers: 4 }, null, /tiny-neox: missing gpt_neox\.layers\.3\./],
    ['a missing unembedding', {}, (m: Map<string, unknown>) => m.delete('embed_out.weight'), /tiny-neox: missing embed_out\.weight/],
    [
      'a stray tensor',
      {},
      (m: Map<string, unknown>) => m.set('gpt_neox.layers.0.attention.extra', { shape: [1], data: new Float32Array(1) }),
      /unexpected tensor gpt_neox\.layers\.0\.attention\.extra/,
    ],
    [
      'a non-finite weight',
      {},
      (m: Map<string, { shape: number[]; data: Float32Array }>) => {
        const t = m.get('gpt_neox.layers.1.mlp.dense_4h_to_h.bias')!;
        m.set('gpt_neox.layers.1.mlp.dense_4h_to_h.bias', {
          shape: t.shape,
          data: Float32Array.from(t.data, (v, i) => (i === 3 ? Number.NaN : v)),
        });
      },
      /gpt_neox\.layers\.1\.mlp\.dense_4h_to_h\.bias has a non-finite value at 3/,
    ],
    [
      'a base GPTNeoXModel (no gpt_neox. prefix)',
      {},
      (m: Map<string, { shape: number[]; data: Float32Array }>) => {
        for (const [k, v] of [...m]) {
          m.delete(k);
          if (k.startsWith('gpt_neox.')) m.set(k.slice('gpt_neox.'.length), v);
        }
      },
      /no gpt_neox\.embed_in\.weight .*GPTNeoXModel without its language-model head/,
    ],
  ] as const)('refuses %s, naming the tensor', (_, config, edit, message) => {
    const weights = edit ? edited(edit as never) : toWrite(tensors);
    const before = tf.memory().numTensors;
    expect(() => loadModelSync(neoxFolder(dir, { weights, config }), 'none')).toThrow(message);
    expect(tf.memory().numTensors, 'the tensors made before the refusal are freed').toBe(before);
  });

  it('needs tokenizer.json; refuses a tokenizer larger than vocab_size', () => {
    const folder = neoxFolder(dir);
    expect(() => loadModelSync({ ...folder, tokenizerJson: undefined })).toThrow(/tiny-neox: no tokenizer\.json/);
    expect(() => loadModelSync(neoxFolder(dir, { config: { vocab_size: 256 } }))).toThrow(
      /has 497 tokens but config\.json says vocab_size 256/,
    );
  });
});
