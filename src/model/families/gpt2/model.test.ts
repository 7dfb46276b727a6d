import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { tf, type Tensor, type Tensor3D } from '../../../core/tf.ts';
import { parseSafetensors, writeSafetensors } from '../../../io/safetensors.ts';
import { loadGpt2, parseGpt2Config, randomGpt2 } from './load.ts';
import { gelu, hookNames, withTrainableWeights } from './model.ts';
import { HookOnward } from '../../hook-onward.ts';

const fixtures = path.resolve(import.meta.dirname, '../../__fixtures__');

/** Model folders with a PyTorch reference (ids.json + reference_logits.safetensors, see __fixtures__/README.md). */
const MODEL_DIRS = [path.join(fixtures, 'tiny-word'), path.join(fixtures, 'tiny-bpe')];

const maxAbs = (a: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
};
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/**
 * Run every sequence of a model folder's ids.json as one right-padded batch and compare each sequence's logits
 * and residual stream with the PyTorch reference. Returns the worst max |Δ| / max |ref| over sequences.
 */
function compareWithReference(modelDir: string, refDir = modelDir): { logitsRelErr: number; residRelErr: number; maxRef: number } {
  const { model } = loadGpt2(
    readFileSync(path.join(modelDir, 'config.json'), 'utf8'),
    readFileSync(path.join(modelDir, 'model.safetensors')),
    modelDir,
  );
  const raw = JSON.parse(readFileSync(path.join(refDir, 'ids.json'), 'utf8'));
  const seqs: number[][] = typeof raw[0] === 'number' ? [raw] : raw;
  const ref = parseSafetensors(readFileSync(path.join(refDir, 'reference_logits.safetensors'))).tensors;
  const T = Math.max(...seqs.map((s) => s.length));
  const ids = seqs.map((s) => [...s, ...Array(T - s.length).fill(0)]);
  const L = model.config.nLayer;
  const residNames = [...Array.from({ length: L }, (_, i) => `blocks.${i}.hook_resid_pre`), `blocks.${L - 1}.hook_resid_post`];
  const cache = new Map<string, Tensor>(residNames.map((n) => [n, null as unknown as Tensor]));
  const logits = tf.tidy(() => model.forward(ids, { cache }));
  let logitsRelErr = 0,
    residRelErr = 0,
    maxRef = 0;
  seqs.forEach((s, b) => {
    const refLogits = (ref.get(`logits.${b}`) ?? ref.get('logits'))!.data;
    const got = tf.tidy(() => tf.slice(logits, [b, 0, 0], [1, s.length, -1]).dataSync());
    maxRef = Math.max(maxRef, maxAbs(refLogits));
    logitsRelErr = Math.max(logitsRelErr, maxDiff(got, refLogits) / maxAbs(refLogits));
    const refResid = ref.get(`resid.${b}`);
    if (refResid) {
      const gotResid = tf.tidy(() =>
        tf.stack(residNames.map((n) => tf.slice(cache.get(n)!, [b, 0, 0], [1, s.length, -1]).squeeze([0]))).dataSync(),
      );
      residRelErr = Math.max(residRelErr, maxDiff(gotResid, refResid.data) / maxAbs(refResid.data));
    }
  });
  tf.dispose([logits, ...cache.values()]);
  model.dispose();
  return { logitsRelErr, residRelErr, maxRef };
}

describe('GPT-2 forward against the PyTorch reference (bench/reference/gpt2_ref.py)', () => {
  it.each(MODEL_DIRS.map((d) => [path.basename(d), d]))(
    '%s: logits and residual stream agree to 1e-4 relative (max |Δ| / max |ref|), batched with right padding',
    (_, dir) => {
      const { logitsRelErr, residRelErr, maxRef } = compareWithReference(dir);
      expect(maxRef).toBeGreaterThan(1); // the fixture's logits are not trivially small
      expect(logitsRelErr).toBeLessThan(1e-4);
      expect(residRelErr).toBeLessThan(1e-4);
    },
  );
});

describe('hooks and forwardFrom', () => {
  const config = { nLayer: 3, nHead: 2, dModel: 16, nCtx: 12, vocabSize: 30, lnEps: 1e-5 };
  const model = randomGpt2(config, 1, 0.3);
  const ids = [
    [1, 5, 7, 9, 2],
    [3, 3, 8, 1, 0],
  ];
  const diff = (a: Tensor, b: Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

  it('caches every hook point with TransformerLens names and shapes', () => {
    const names = model.hookNames();
    expect(names).toEqual(hookNames(3));
    expect(names).toHaveLength(2 + 3 * 15 + 1);
    const cache = new Map<string, Tensor>(names.map((n) => [n, null as unknown as Tensor]));
    tf.tidy(() => void model.forward(ids, { cache }));
    const shapes: Record<string, number[]> = {
      hook_embed: [2, 5, 16],
      hook_pos_embed: [2, 5, 16],
      'blocks.1.hook_resid_pre': [2, 5, 16],
      'blocks.1.ln1.hook_normalized': [2, 5, 16],
      'blocks.1.attn.hook_q': [2, 5, 2, 8],
      'blocks.1.attn.hook_k': [2, 5, 2, 8],
      'blocks.1.attn.hook_v': [2, 5, 2, 8],
      'blocks.1.attn.hook_attn_scores': [2, 2, 5, 5],
      'blocks.1.attn.hook_pattern': [2, 2, 5, 5],
      'blocks.1.attn.hook_z': [2, 5, 2, 8],
      'blocks.1.hook_attn_out': [2, 5, 16],
      'blocks.1.hook_resid_mid': [2, 5, 16],
      'blocks.1.ln2.hook_normalized': [2, 5, 16],
      'blocks.1.mlp.hook_pre': [2, 5, 64],
      'blocks.1.mlp.hook_post': [2, 5, 64],
      'blocks.1.hook_mlp_out': [2, 5, 16],
      'blocks.2.hook_resid_post': [2, 5, 16],
      'ln_final.hook_normalized': [2, 5, 16],
    };
    for (const [n, s] of Object.entries(shapes)) expect(cache.get(n)!.shape, n).toEqual(s);
    // resid_post of one block is resid_pre of the next; resid_mid = resid_pre + attn_out.
    expect(diff(cache.get('blocks.0.hook_resid_post')!, cache.get('blocks.1.hook_resid_pre')!)).toBe(0);
    expect(
      diff(tf.add(cache.get('blocks.1.hook_resid_pre')!, cache.get('blocks.1.hook_attn_out')!), cache.get('blocks.1.hook_resid_mid')!),
    ).toBeLessThan(1e-6);
    // Causal: no attention to later positions; scores are seen after masking, as in TransformerLens.
    const pattern = cache.get('blocks.1.attn.hook_pattern')!.arraySync() as number[][][][];
    expect(pattern[0][0][1][3]).toBe(0);
    expect(pattern[0][0][4].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect((cache.get('blocks.1.attn.hook_attn_scores')!.arraySync() as number[][][][])[0][0][1][3]).toBeLessThan(-1e8);
    tf.dispose([...cache.values()]);
  });

  it('an add-zero hook changes nothing; forwardFrom equals the full forward at every residual hook', () => {
    tf.tidy(() => {
      const base = model.forward(ids);
      const hooked = model.forward(ids, { hooks: { 'blocks.1.hook_resid_mid': (x) => tf.add(x, 0) } });
      expect(diff(base, hooked)).toBe(0);
      for (const name of ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_mid', 'blocks.2.hook_resid_post', 'blocks.0.hook_resid_post']) {
        const h = model.runToHook(ids, name);
        expect(diff(base, model.forwardFrom(name, h)), name).toBeLessThan(1e-5);
      }
    });
  });

  it('a replace hook at resid_pre equals forwardFrom with that residual; hooks downstream of forwardFrom still apply', () => {
    tf.tidy(() => {
      const h = tf.randomNormal([2, 5, 16], 0, 1, 'float32', 3) as Tensor3D;
      const replaced = model.forward(ids, { hooks: { 'blocks.2.hook_resid_pre': () => h } });
      expect(diff(replaced, model.forwardFrom('blocks.2.hook_resid_pre', h))).toBeLessThan(1e-5);
      const d = tf.randomNormal([2, 5, 16], 0, 1, 'float32', 4);
      const add = { hooks: { 'blocks.2.hook_resid_mid': (x: Tensor) => tf.add(x, d) } };
      const start = model.runToHook(ids, 'blocks.1.hook_resid_pre');
      expect(diff(model.forward(ids, add), model.forwardFrom('blocks.1.hook_resid_pre', start, add))).toBeLessThan(1e-5);
      expect(diff(model.forward(ids, add), model.forward(ids))).toBeGreaterThan(1e-3);
    });
  });

  it('the gradient w.r.t. a residual perturbation is finite and matches a central finite difference', () => {
    tf.tidy(() => {
      const h = model.runToHook(ids, 'blocks.1.hook_resid_pre');
      const f = (d: Tensor) =>
        tf.sum(tf.slice(model.forwardFrom('blocks.1.hook_resid_pre', tf.add(h, d) as Tensor3D), [0, 4, 3], [1, 1, 1]));
      const g = tf.grad(f)(tf.zeros(h.shape)).dataSync();
      expect(g.every(Number.isFinite)).toBe(true);
      // Causality: the logit at position 4 of row 0 depends on nothing in row 1.
      expect(maxAbs(g.slice(5 * 16))).toBe(0);
      const eps = 1e-2;
      for (const k of [4 * 16 + 2, 2 * 16 + 7, 0]) {
        const e = tf.buffer(h.shape);
        e.values[k] = eps;
        const fd = (f(e.toTensor()).dataSync()[0] - f(tf.mul(e.toTensor(), -1)).dataSync()[0]) / (2 * eps);
        expect(g[k]).toBeCloseTo(fd, 2);
      }
    });
  });

  it('right padding (with or without an attention mask) does not change the real tokens; one-hot embedding equals gather', () => {
    tf.tidy(() => {
      const short = model.forward([[1, 5, 7]]);
      const padded = model.forward([
        [1, 5, 7, 0, 0],
        [4, 4, 4, 4, 4],
      ]);
      const masked = model.forward(
        [
          [1, 5, 7, 0, 0],
          [4, 4, 4, 4, 4],
        ],
        {
          attentionMask: tf.tensor2d([
            [1, 1, 1, 0, 0],
            [1, 1, 1, 1, 1],
          ]),
        },
      );
      expect(diff(short, tf.slice(padded, [0, 0, 0], [1, 3, 30]))).toBeLessThan(1e-5);
      expect(diff(short, tf.slice(masked, [0, 0, 0], [1, 3, 30]))).toBeLessThan(1e-5);
      expect(diff(model.forward([[4, 4, 4, 4, 4]]), tf.slice(masked, [1, 0, 0], [1, 5, 30]))).toBeLessThan(1e-5);
      const oh = model.forward(ids, { embedding: 'onehot' });
      expect(diff(oh, model.forward(ids))).toBeLessThan(1e-5);
    });
  });

  it('logitsAt computes logits at one position per row, equal to the full logits there, differentiably', () => {
    tf.tidy(() => {
      const full = model.forward(ids);
      const at = model.forwardFrom('blocks.1.hook_resid_pre', model.runToHook(ids, 'blocks.1.hook_resid_pre'), { logitsAt: [4, 2] });
      expect(at.shape).toEqual([2, 1, 30]);
      expect(diff(tf.slice(full, [0, 4, 0], [1, 1, 30]), tf.slice(at, [0, 0, 0], [1, 1, 30]))).toBeLessThan(1e-5);
      expect(diff(tf.slice(full, [1, 2, 0], [1, 1, 30]), tf.slice(at, [1, 0, 0], [1, 1, 30]))).toBeLessThan(1e-5);
      const h = model.runToHook(ids, 'blocks.1.hook_resid_pre');
      const f = (sel: { logitsAt?: number[] }) => (d: Tensor) => {
        const l = model.forwardFrom('blocks.1.hook_resid_pre', tf.add(h, d) as Tensor3D, sel);
        return tf.sum(sel.logitsAt ? l : tf.slice(l, [0, 4, 0], [1, 1, 30]));
      };
      const rowMask = tf.concat([tf.ones([1, 5, 16]), tf.zeros([1, 5, 16])]);
      const gAt = tf.mul(tf.grad(f({ logitsAt: [4, 0] }))(tf.zeros(h.shape)), rowMask);
      expect(diff(gAt, tf.grad(f({}))(tf.zeros(h.shape)))).toBeLessThan(1e-5);
      expect(() => model.forward(ids, { logitsAt: [5, 0] })).toThrow(/logitsAt must hold one position in 0\.\.4 per batch row \(2\)/);
    });
  });

  it('gradients w.r.t. the weights reach every parameter through the one-hot embedding, without leaks', () => {
    const trainable = withTrainableWeights(model);
    const vars = trainable.parameters() as tf.Variable[];
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(trainable.forward(ids, { embedding: 'onehot' }))) as tf.Scalar, vars);
    expect(Object.keys(grads)).toHaveLength(2 + 3 * 12 + 2);
    for (const v of vars) expect(maxAbs(grads[v.name].dataSync()), v.name).toBeGreaterThan(0);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(vars);
  });

  it('the written-out LayerNorm and unmasked one-query attention give the automatic gradients (trainable weights take those), padded too', () => {
    // Frozen weights take the written-out LayerNorm backward and, at one query position, no attention mask;
    // the same model with Variable weights takes automatic differentiation of the plain formulas.
    const trainable = withTrainableWeights(model);
    const h = tf.tidy(() => tf.mul(model.runToHook(ids, 'blocks.1.hook_resid_pre'), 1.7)) as Tensor3D;
    const readout = tf.randomNormal([2, 1, 30], 0, 1, 'float32', 5);
    const padded = tf.tensor2d([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], [2, 5]);
    for (const at of [{}, { logitsAt: [4, 1] }, { attentionMask: padded }]) {
      const grad = (m: typeof model) =>
        tf.grad((d: Tensor) => tf.sum(tf.mul(m.forwardFrom('blocks.1.hook_resid_pre', tf.add(h, d) as Tensor3D, at), readout)))(
          tf.zeros(h.shape),
        );
      const [mine, auto] = [grad(model), grad(trainable)];
      expect(maxAbs(auto.dataSync())).toBeGreaterThan(1e-3);
      expect(diff(mine, auto)).toBeLessThan(1e-5);
      tf.dispose([mine, auto]);
    }
    const last = tf.slice(h, [0, 4, 0], [2, 1, 16]) as Tensor3D;
    const prefix = tf.slice(h, [0, 0, 0], [2, 4, 16]) as Tensor3D;
    const onward = HookOnward.create(model, 'blocks.1.hook_resid_pre', prefix);
    const full = tf.tidy(() => tf.slice(model.residualFrom('blocks.1.hook_resid_pre', h), [0, 4, 0], [2, 1, 16]));
    expect(diff(onward.residual(last), full)).toBeLessThan(1e-5);
    tf.dispose([h, readout, padded, last, prefix, full, ...(trainable.parameters() as Tensor[])]);
    onward.dispose();
  });

  it('leaves no tensors behind (forward, gradient through forwardFrom, runToHook, hooks)', () => {
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      tf.tidy(() => void model.forward(ids));
      tf.tidy(
        () =>
          void tf.grad((d: Tensor) =>
            tf.sum(model.forwardFrom('blocks.0.hook_resid_pre', tf.add(model.runToHook(ids, 'blocks.0.hook_resid_pre'), d) as Tensor3D)),
          )(tf.zeros([2, 5, 16])),
      );
      tf.tidy(() => void model.runToHook(ids, 'blocks.1.hook_resid_mid'));
      tf.tidy(() => void model.forward(ids, { hooks: { 'blocks.1.attn.hook_pattern': (p) => tf.mul(p, 1) } }));
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad input with clear messages', () => {
    expect(() => model.forward([[1, 99]])).toThrow(/token id 99 is outside the vocabulary 0\.\.29/);
    expect(() => model.forward([[1, 2], [3]])).toThrow(/rectangular/);
    expect(() => model.forward([Array(13).fill(1)])).toThrow(/exceeds the context of 12/);
    expect(() => model.forwardFrom('blocks.7.hook_resid_pre', tf.zeros([1, 1, 16]) as Tensor3D)).toThrow(/layers 0\.\.2/);
    expect(() => tf.tidy(() => model.forwardFrom('blocks.0.hook_resid_pre', tf.zeros([1, 1, 8]) as Tensor3D))).toThrow(
      /must be \[batch, pos, 16\]/,
    );
    expect(() => model.forward(ids, { hooks: { 'blocks.1.hook_resid_pr': (x) => x } })).toThrow(
      /unknown hook point "blocks\.1\.hook_resid_pr"/,
    );
    expect(() => model.forward(ids, { cache: new Map([['blocks.3.hook_resid_pre', null as unknown as Tensor]]) })).toThrow(
      /unknown hook point/,
    );
    expect(() => tf.tidy(() => model.forward(ids, { hooks: { 'blocks.0.hook_resid_mid': () => tf.zeros([2, 5, 8]) } }))).toThrow(
      /hook blocks\.0\.hook_resid_mid returned shape \[2, 5, 8\], expected \[2, 5, 16\]/,
    );
  });
});

describe('config and weight validation', () => {
  const base = { n_embd: 8, n_layer: 1, n_head: 2, n_positions: 4, vocab_size: 5 };
  const cfg = (extra: object) => JSON.stringify({ ...base, ...extra });
  const dir = path.join(fixtures, 'tiny-word');
  const weights = readFileSync(path.join(dir, 'model.safetensors'));
  const configText = readFileSync(path.join(dir, 'config.json'), 'utf8');

  it.each([
    ['{"n_embd": 10, "n_layer": 1, "n_head": 3, "n_positions": 4, "vocab_size": 5}', /not divisible/],
    ['{"n_embd": 8, "n_layer": 1, "n_head": 2, "vocab_size": 5}', /n_positions must be a positive integer/],
    ['{"model_type": "llama", "n_embd": 8}', /model_type "llama" is not supported/],
    [cfg({ activation_function: 'relu' }), /activation_function "relu" is not supported/],
    [cfg({ layer_norm_epsilon: 'small' }), /layer_norm_epsilon must be a positive number/],
    [cfg({ n_inner: 20 }), /n_inner 20 is not supported/],
    [cfg({ scale_attn_by_inverse_layer_idx: true }), /not supported/],
    [cfg({ tie_word_embeddings: false }), /tie_word_embeddings=false/],
    ['{"n_embd": 8,', /config\.json: not valid JSON/],
    ['[1, 2]', /must be a JSON object/],
  ])('config %s', (text, message) => {
    expect(() => parseGpt2Config(text)).toThrow(message);
  });

  it('accepts n_ctx for n_positions, gelu_pytorch_tanh, n_inner = null or 4·d', () => {
    expect(
      parseGpt2Config(
        '{"n_embd": 8, "n_layer": 1, "n_head": 2, "n_ctx": 4, "vocab_size": 5, "n_inner": null, "activation_function": "gelu_pytorch_tanh"}',
      ).config.nCtx,
    ).toBe(4);
    expect(parseGpt2Config(cfg({ n_inner: 32 })).config.dModel).toBe(8);
  });

  it('names the tensor whose shape disagrees with config.json', () => {
    expect(() => loadGpt2(configText.replace('"n_embd": 32', '"n_embd": 16'), weights, 'tiny')).toThrow(
      /tiny\/model\.safetensors: wte\.weight has shape \[20, 32\], config\.json implies \[20, 16\]/,
    );
  });

  it('refuses weights with more layers than config.json (instead of running a truncated model)', () => {
    expect(() => loadGpt2(configText.replace('"n_layer": 2', '"n_layer": 1'), weights, 'tiny')).toThrow(
      /unexpected tensor h\.1\.ln_1\.weight.* n_layer=1/,
    );
  });

  it('reads the "transformer." prefix, drops attn.bias buffers and a tied lm_head copy, rejects non-finite weights', () => {
    const file = parseSafetensors(weights);
    const renamed: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [n, t] of file.tensors) renamed[`transformer.${n}`] = { shape: t.shape, data: t.data };
    renamed['transformer.h.0.attn.bias'] = { shape: [1, 1, 16, 16], data: new Float32Array(256) };
    renamed['lm_head.weight'] = renamed['transformer.wte.weight'];
    const { model } = loadGpt2(configText, writeSafetensors(renamed), 'prefixed');
    const { model: plain } = loadGpt2(configText, weights, 'plain');
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(model.forward([[1, 2, 3]]), plain.forward([[1, 2, 3]])))).dataSync()[0])).toBe(0);
    model.dispose();
    plain.dispose();
    const nan = { ...renamed, 'transformer.ln_f.bias': { shape: [32], data: new Float32Array(32).fill(NaN) } };
    expect(() => loadGpt2(configText, writeSafetensors(nan), 'nan')).toThrow(/ln_f\.bias has a non-finite value/);
    const missing = { ...renamed };
    delete missing['transformer.h.1.mlp.c_fc.bias'];
    expect(() => loadGpt2(configText, writeSafetensors(missing), 'gap')).toThrow(/missing transformer\.h\.1\.mlp\.c_fc\.bias/);
  });
});

describe('gelu_new', () => {
  it('its written-out derivative equals automatic differentiation of the formula, from −8 to 8', () => {
    const [got, want, value] = tf.tidy(() => {
      const x = tf.linspace(-8, 8, 401);
      const formula = (z: Tensor) =>
        tf.mul(tf.mul(0.5, z), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(z, tf.mul(0.044715, tf.pow(z, 3)))))));
      return [tf.grad(gelu)(x).dataSync(), tf.grad(formula)(x).dataSync(), tf.sub(gelu(x), formula(x)).dataSync()];
    });
    expect(Math.max(...Array.from(got, (g, i) => Math.abs(g - want[i])))).toBeLessThan(1e-5);
    expect(Math.max(...Array.from(value, Math.abs))).toBeLessThan(1e-5);
    // The derivative is not trivial over this range (≈ 0 far left, ≈ 1 far right, > 1 just right of 0).
    expect(Math.max(...got)).toBeGreaterThan(1.05);
  });
});
