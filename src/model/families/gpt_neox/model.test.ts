// GPT-NeoX against an independent float64 PyTorch forward (scripts/fixtures/family_ref.py) on the tiny-neox
// fixtures (parallel and sequential residual, F16 weights, rotary on a quarter of each head), and its hooks, the
// hook-onward path, gradients and tokenizer.
import { afterAll, describe, expect, it } from 'vitest';
import { maxRelErr } from '../../../core/compare.ts';
import { Sae } from '../../../core/sae.ts';
import { tf, type Tensor, type Tensor3D } from '../../../core/tf.ts';
import { HookOnward } from '../../hook-onward.ts';
import { geluErf } from '../../layers.ts';
import { randomGptNeox } from './load.ts';
import { type GptNeox, hookNames, withTrainableWeights } from './model.ts';
import { loadNeoxFixture, NEOX_DIRS, NEOX_SAE_DIR, neoxIds, neoxReference, tinyConfig } from './testing.ts';
import { parseSafetensors } from '../../../io/safetensors.ts';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const arr = (t: Tensor) => Array.from(t.dataSync());
const diff = (a: Tensor, b: Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Values at padded positions set to 0 (the reference stores them so): x [B, T, ...] and mask [B][T]. */
function realOnly(x: Tensor, mask: number[][]): number[] {
  const d = x.dataSync();
  const flat = mask.flat();
  const per = d.length / flat.length;
  return Array.from(d, (v, i) => (flat[Math.floor(i / per)] ? v : 0));
}

describe.each([
  ['tiny-neox (parallel residual)', NEOX_DIRS.parallel],
  ['tiny-neox-sequential', NEOX_DIRS.sequential],
])('%s against the float64 PyTorch reference', (_, dir) => {
  const { model, tokenizer } = loadNeoxFixture(dir);
  const ref = neoxReference(dir);
  const spec = neoxIds(dir);
  afterAll(() => model.dispose());
  const hooks = [...ref.keys()].filter((k) => k.startsWith('blocks.'));

  it.each([
    ['with the attention mask', true],
    ['without it', false],
  ])('every residual hook and the logits agree to 1e-4 relative, batched with right padding (%s)', (_, masked) => {
    expect(hooks.length).toBe(model.config.nLayer * ((model as GptNeox).config.parallel ? 2 : 3));
    const cache = new Map<string, Tensor>(hooks.map((n) => [n, null as unknown as Tensor]));
    const errs: Record<string, number> = {};
    tf.tidy(() => {
      const attentionMask = masked ? tf.tensor2d(spec.attention_mask) : undefined;
      const logits = model.forward(spec.ids, { cache, attentionMask });
      errs.logits = maxRelErr(realOnly(logits, spec.attention_mask), ref.get('logits')!.data);
      for (const n of hooks) errs[n] = maxRelErr(realOnly(cache.get(n)!, spec.attention_mask), ref.get(n)!.data);
    });
    tf.dispose([...cache.values()]);
    for (const [n, e] of Object.entries(errs)) expect(e, n).toBeLessThan(1e-4);
    expect(maxAbs(ref.get('logits')!.data)).toBeGreaterThan(1);
    // The padded rows are padded: the comparison covers right padding.
    expect(spec.attention_mask.some((row) => row.includes(0))).toBe(true);
  });

  it('the SAELens SAE’s features at blocks.1.hook_resid_pre agree with the reference', () => {
    const w = parseSafetensors(readFileSync(path.join(NEOX_SAE_DIR, 'sae_weights.safetensors'))).tensors;
    const cfg = JSON.parse(readFileSync(path.join(NEOX_SAE_DIR, 'cfg.json'), 'utf8'));
    const sae = Sae.create(
      {
        architecture: 'standard',
        dIn: cfg.d_in,
        dSae: cfg.d_sae,
        applyBDecToInput: true,
        normalizeActivations: 'none',
        centerInput: false,
      },
      { W_enc: w.get('W_enc')!.data, b_enc: w.get('b_enc')!.data, W_dec: w.get('W_dec')!.data, b_dec: w.get('b_dec')!.data },
    );
    const want = ref.get('sae.blocks.1.hook_resid_pre')!.data;
    const got = tf.tidy(() => realOnly(sae.encode(model.runToHook(spec.ids, 'blocks.1.hook_resid_pre')), spec.attention_mask));
    sae.dispose();
    expect(maxRelErr(got, want)).toBeLessThan(1e-4);
    expect(want.filter((v) => v > 0).length).toBeGreaterThan(10);
  });

  it('processed as TransformerLens does: hooks are the reference minus its mean over d_model, logits minus their mean over the vocabulary', () => {
    const { model: processed } = loadNeoxFixture(dir, 'transformer-lens');
    const cache = new Map<string, Tensor>(hooks.map((n) => [n, null as unknown as Tensor]));
    const centred = (data: Float32Array, n: number) => {
      const out = Float32Array.from(data);
      for (let r = 0; r < data.length / n; r++) {
        let m = 0;
        for (let j = 0; j < n; j++) m += data[r * n + j];
        for (let j = 0; j < n; j++) out[r * n + j] -= m / n;
      }
      return out;
    };
    const errs: Record<string, number> = {};
    tf.tidy(() => {
      const logits = processed.forward(spec.ids, { cache });
      const V = processed.config.vocabSize;
      errs.logits = maxRelErr(realOnly(logits, spec.attention_mask), centred(ref.get('logits')!.data, V));
      for (const n of hooks)
        errs[n] = maxRelErr(realOnly(cache.get(n)!, spec.attention_mask), centred(ref.get(n)!.data, model.config.dModel));
    });
    tf.dispose([...cache.values()]);
    processed.dispose();
    for (const [n, e] of Object.entries(errs)) expect(e, n).toBeLessThan(1e-4);
  });

  it('the tokenizer reproduces the independent BPE’s ids (tokenizer_cases.json, ids.json); vocab_size may exceed its size', () => {
    const cases = JSON.parse(readFileSync(path.join(dir, 'tokenizer_cases.json'), 'utf8')) as { text: string; ids: number[] }[];
    expect(cases.length).toBeGreaterThan(5);
    for (const c of cases) {
      expect(tokenizer.encode(c.text), JSON.stringify(c.text)).toEqual(c.ids);
      // The normaliser is NFC (as Pythia's): decoding gives the composed text back.
      // (@huggingface/tokenizers refuses to decode no ids: the empty case is not decoded.)
      if (c.ids.length) expect(tokenizer.decode(c.ids)).toBe(c.text.normalize('NFC'));
    }
    spec.texts.forEach((text, b) => {
      const n = spec.attention_mask[b].reduce((a, v) => a + v, 0);
      expect(tokenizer.encode(text)).toEqual(spec.ids[b].slice(0, n));
    });
    expect(tokenizer.vocabSize).toBeLessThan(model.config.vocabSize);
    expect(tokenizer.wantsBos).toBe(false);
  });

  it.each(
    (NEOX_DIRS.parallel === dir
      ? [
          ['blocks.1.hook_resid_pre', 5],
          ['blocks.0.hook_resid_post', 3],
          ['blocks.2.hook_resid_pre', 11],
          ['blocks.1.hook_resid_pre', 0],
        ]
      : [
          ['blocks.1.hook_resid_pre', 4],
          ['blocks.0.hook_resid_mid', 7],
          ['blocks.1.hook_resid_post', 2],
        ]) as [string, number][],
  )('from %s at position %i onward over cached rotary keys: the full forward’s residual', (hook, from) => {
    const [full, onward] = tf.tidy(() => {
      const h = model.runToHook(spec.ids, hook);
      const [N, T, d] = h.shape;
      const want = tf.slice(model.residualFrom(hook, h), [0, from, 0], [N, T - from, d]);
      const rest = HookOnward.create(model, hook, tf.slice(h, [0, 0, 0], [N, from, d]));
      const got = rest.residual(tf.slice(h, [0, from, 0], [N, T - from, d]));
      const out = [arr(want), arr(got)];
      rest.dispose();
      return out;
    });
    expect(maxRelErr(onward, full)).toBeLessThan(1e-5);
  });
});

describe('hooks, forwardFrom and gradients (the parallel fixture)', () => {
  const { model } = loadNeoxFixture(NEOX_DIRS.parallel);
  const neox = model as GptNeox;
  const { ids } = neoxIds(NEOX_DIRS.parallel);
  const [B, T] = [ids.length, ids[0].length];
  const { dModel: d, nLayer, vocabSize: V } = neox.config;
  afterAll(() => model.dispose());

  it('records every hook with TransformerLens names and shapes; a parallel block has no hook_resid_mid', () => {
    const names = model.hookNames();
    expect(names).toEqual(hookNames(nLayer, true));
    expect(names).toHaveLength(1 + 16 * nLayer + 1);
    expect(names.some((n) => n.includes('resid_mid'))).toBe(false);
    expect(hookNames(nLayer, false)).toHaveLength(1 + 17 * nLayer + 1);
    expect(() => model.residHook('blocks.0.hook_resid_mid')).toThrow(
      /not a residual hook of this model \(blocks\.\{i\}\.hook_resid_pre\|hook_resid_post\)/,
    );
    const cache = new Map<string, Tensor>(names.map((n) => [n, null as unknown as Tensor]));
    tf.tidy(() => void model.forward(ids, { cache }));
    const hs = d / neox.config.nHead;
    const shapes: Record<string, number[]> = {
      hook_embed: [B, T, d],
      'blocks.1.hook_resid_pre': [B, T, d],
      'blocks.1.ln1.hook_normalized': [B, T, d],
      'blocks.1.attn.hook_q': [B, T, 4, hs],
      'blocks.1.attn.hook_rot_k': [B, T, 4, hs],
      'blocks.1.attn.hook_attn_scores': [B, 4, T, T],
      'blocks.1.attn.hook_pattern': [B, 4, T, T],
      'blocks.1.attn.hook_z': [B, T, 4, hs],
      'blocks.1.hook_attn_out': [B, T, d],
      'blocks.1.ln2.hook_normalized': [B, T, d],
      'blocks.1.mlp.hook_pre': [B, T, neox.config.dMlp],
      'blocks.1.mlp.hook_post': [B, T, neox.config.dMlp],
      'blocks.1.hook_mlp_out': [B, T, d],
      'blocks.1.hook_resid_post': [B, T, d],
      'ln_final.hook_normalized': [B, T, d],
    };
    for (const [n, s] of Object.entries(shapes)) expect(cache.get(n)!.shape, n).toEqual(s);
    const c = (n: string) => cache.get(n)!;
    expect(diff(c('hook_embed'), c('blocks.0.hook_resid_pre'))).toBe(0);
    expect(diff(c('blocks.0.hook_resid_post'), c('blocks.1.hook_resid_pre'))).toBe(0);
    // Parallel: resid_post = resid_pre + attn_out + mlp_out, and both LayerNorms read resid_pre.
    const sum = tf.add(tf.add(c('blocks.1.hook_resid_pre'), c('blocks.1.hook_attn_out')), c('blocks.1.hook_mlp_out'));
    expect(diff(sum, c('blocks.1.hook_resid_post'))).toBeLessThan(1e-5);
    // Rotary: position 0 is not rotated, the dims past rotaryDims never are, later positions' leading dims are.
    const rd = neox.config.rotaryDims;
    const q = c('blocks.1.attn.hook_q');
    const rq = c('blocks.1.attn.hook_rot_q');
    expect(diff(tf.slice(q, [0, 0, 0, 0], [B, 1, 4, hs]), tf.slice(rq, [0, 0, 0, 0], [B, 1, 4, hs]))).toBeLessThan(1e-6);
    expect(diff(tf.slice(q, [0, 0, 0, rd], [B, T, 4, hs - rd]), tf.slice(rq, [0, 0, 0, rd], [B, T, 4, hs - rd]))).toBe(0);
    expect(diff(tf.slice(q, [0, 1, 0, 0], [B, T - 1, 4, rd]), tf.slice(rq, [0, 1, 0, 0], [B, T - 1, 4, rd]))).toBeGreaterThan(1e-2);
    // mlp.hook_post is the exact GELU of mlp.hook_pre.
    const pre = c('blocks.1.mlp.hook_pre');
    const exact = tf.mul(tf.mul(0.5, pre), tf.add(1, tf.erf(tf.mul(pre, Math.SQRT1_2))));
    expect(diff(exact, c('blocks.1.mlp.hook_post'))).toBeLessThan(1e-5);
    const pattern = c('blocks.1.attn.hook_pattern').arraySync() as number[][][][];
    expect(pattern[0][0][1][3]).toBe(0);
    expect(pattern[0][2][6].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    tf.dispose([...cache.values(), sum, exact]);
  });

  it('an add-zero hook changes nothing; forwardFrom equals the full forward at every residual hook; replace hooks apply', () => {
    tf.tidy(() => {
      const base = model.forward(ids);
      expect(diff(base, model.forward(ids, { hooks: { 'blocks.1.attn.hook_rot_k': (x) => tf.add(x, 0) } }))).toBe(0);
      for (const name of ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_post', 'blocks.2.hook_resid_pre', 'blocks.2.hook_resid_post']) {
        expect(diff(base, model.forwardFrom(name, model.runToHook(ids, name))), name).toBeLessThan(1e-4);
      }
      const h = tf.randomNormal([B, T, d], 0, 1, 'float32', 3) as Tensor3D;
      const replaced = model.forward(ids, { hooks: { 'blocks.2.hook_resid_pre': () => h } });
      expect(diff(replaced, model.forwardFrom('blocks.2.hook_resid_pre', h))).toBeLessThan(1e-4);
      expect(diff(replaced, base)).toBeGreaterThan(1e-2);
      // A hook on the rotated keys changes the output; on q before rotary too.
      expect(diff(model.forward(ids, { hooks: { 'blocks.2.attn.hook_rot_k': (x) => tf.mul(x, 0.5) } }), base)).toBeGreaterThan(1e-3);
    });
  });

  it('logitsAt and logitColumns give the full logits at those positions and tokens', () => {
    tf.tidy(() => {
      const full = model.forward(ids).arraySync() as number[][][];
      const at = [3, 11, 0, 4];
      const sel = model.forward(ids, { logitsAt: at }).arraySync() as number[][][];
      const tokens = [0, 7, V - 1, 300];
      const cols = model.logitColumns(tokens);
      const h = model.runToHook(ids, 'blocks.2.hook_resid_post');
      const rows = tf.reshape(h, [B * T, d]) as tf.Tensor2D;
      const got = cols.logits(rows).arraySync() as number[][];
      cols.dispose();
      for (let b = 0; b < B; b++) {
        expect(maxRelErr(sel[b][0], full[b][at[b]])).toBeLessThan(1e-5);
        for (let t = 0; t < T; t++)
          expect(
            maxRelErr(
              got[b * T + t],
              tokens.map((k) => full[b][t][k]),
            ),
          ).toBeLessThan(1e-5);
      }
      expect(() => model.logitColumns([V])).toThrow(`token ${V} is outside the vocabulary 0..${V - 1}`);
    });
  });

  it('the gradient w.r.t. the residual matches central finite differences along random directions (GELU, rotary, attention)', () => {
    const hook = 'blocks.1.hook_resid_pre';
    const h = tf.tidy(() => model.runToHook(ids, hook));
    // A weighted sum of logits at several positions (rotary moves q and k everywhere but position 0).
    const w = tf.randomNormal([B, T, V], 0, 1, 'float32', 11);
    const f = (x: Tensor) => tf.sum(tf.mul(model.forwardFrom(hook, x as Tensor3D), w));
    const g = tf.tidy(() => tf.grad(f)(h));
    for (const seed of [1, 2, 3]) {
      const [analytic, numeric] = tf.tidy(() => {
        const u = tf.randomNormal(h.shape, 0, 1, 'float32', seed);
        const eps = 3e-3;
        const fd = (f(tf.add(h, tf.mul(u, eps))).dataSync()[0] - f(tf.sub(h, tf.mul(u, eps))).dataSync()[0]) / (2 * eps);
        return [tf.sum(tf.mul(g, u)).dataSync()[0], fd];
      });
      expect(Math.abs(analytic - numeric) / Math.abs(analytic), `seed ${seed}: ${analytic} vs ${numeric}`).toBeLessThan(2e-3);
    }
    // Per coordinate at a few positions, against the logits at a later position.
    const f2 = (x: Tensor) => tf.sum(tf.slice(model.forwardFrom(hook, x as Tensor3D), [1, 9, 0], [1, 1, 40]));
    const g2 = tf.tidy(() => tf.grad(f2)(h).dataSync());
    expect(maxAbs(g2.slice(0, T * d))).toBe(0); // row 0 does not reach row 1's logits
    expect(maxAbs(g2.slice((T + 10) * d, 2 * T * d))).toBe(0); // causal: positions after 9 do not either
    for (const k of [(T + 2) * d + 5, (T + 9) * d + 17, (T + 0) * d + 3]) {
      const fd = tf.tidy(() => {
        const e = tf.buffer(h.shape);
        e.values[k] = 1e-2;
        return (f2(tf.add(h, e.toTensor())).dataSync()[0] - f2(tf.sub(h, e.toTensor())).dataSync()[0]) / 2e-2;
      });
      expect(Math.abs(g2[k] - fd), `coordinate ${k}`).toBeLessThan(2e-3 * maxAbs(g2) + 1e-4);
    }
    tf.dispose([h, w, g]);
  });

  it('the written-out backward passes of frozen weights equal automatic differentiation (trainable weights), padded and at one query', () => {
    const trainable = withTrainableWeights(neox);
    const hook = 'blocks.0.hook_resid_post';
    const h = tf.tidy(() => model.runToHook(ids, hook));
    const readout = tf.randomNormal([B, 1, V], 0, 1, 'float32', 5);
    const mask = tf.tensor2d(neoxIds(NEOX_DIRS.parallel).attention_mask);
    for (const opts of [{ logitsAt: [11, 11, 9, 4] }, { logitsAt: [2, 5, 7, 3], attentionMask: mask }]) {
      const grad = (m: GptNeox) =>
        tf.tidy(() => tf.grad((x: Tensor) => tf.sum(tf.mul(m.forwardFrom(hook, x as Tensor3D, opts), readout)))(h));
      const [mine, auto] = [grad(neox), grad(trainable)];
      expect(maxAbs(auto.dataSync())).toBeGreaterThan(1e-3);
      expect(diff(mine, auto) / maxAbs(auto.dataSync())).toBeLessThan(1e-5);
      tf.dispose([mine, auto]);
    }
    tf.dispose([h, readout, mask, ...(trainable.parameters() as Tensor[])]);
  });

  it('leaves no tensors behind (forward, gradient through forwardFrom, hook-onward, logit columns)', () => {
    const cycle = () => {
      tf.tidy(() => void model.forward(ids));
      tf.tidy(
        () =>
          void tf.grad((x: Tensor) => tf.sum(model.forwardFrom('blocks.1.hook_resid_pre', x as Tensor3D)))(
            model.runToHook(ids, 'blocks.1.hook_resid_pre'),
          ),
      );
      const h = tf.tidy(() => model.runToHook(ids, 'blocks.1.hook_resid_pre'));
      const prefix = tf.slice(h, [0, 0, 0], [B, 5, d]);
      const rest = HookOnward.create(model, 'blocks.1.hook_resid_pre', prefix);
      tf.tidy(() => void rest.residual(tf.slice(h, [0, 5, 0], [B, T - 5, d])));
      rest.dispose();
      tf.dispose([h, prefix]);
      model.logitColumns([1, 2]).dispose();
    };
    cycle();
    const before = tf.memory().numTensors;
    cycle();
    cycle();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad input with clear messages', () => {
    expect(() => model.forward([[1, V]])).toThrow(`token id ${V} is outside the vocabulary 0..${V - 1}`);
    expect(() => model.forward([[1, 2], [3]])).toThrow(/rectangular/);
    expect(() => model.forward([Array(65).fill(1)])).toThrow(/exceeds the context of 64/);
    expect(() => model.forwardFrom('blocks.3.hook_resid_pre', tf.zeros([1, 1, d]) as Tensor3D)).toThrow(/layers 0\.\.2/);
    expect(() => model.forwardFrom('blocks.1.hook_resid_mid', tf.zeros([1, 1, d]) as Tensor3D)).toThrow(
      /not a residual hook of this model/,
    );
    expect(() => tf.tidy(() => model.forwardFrom('blocks.0.hook_resid_pre', tf.zeros([1, 1, 8]) as Tensor3D))).toThrow(
      `must be [batch, pos, ${d}]`,
    );
    expect(() => model.forward(ids, { hooks: { 'blocks.1.hook_resid_mid': (x) => x } })).toThrow(
      /unknown hook point "blocks\.1\.hook_resid_mid"/,
    );
    expect(() => model.forward(ids, { hooks: { 'blocks.1.attn.hook_rot_v': (x) => x } })).toThrow(/unknown hook point/);
  });
});

describe('random models: settings the fixtures do not cover', () => {
  const ids = [
    [1, 5, 7, 9, 2, 33],
    [3, 3, 8, 1, 0, 49],
  ];

  it('rotary over none or all of each head; the tanh GELU; sequential from hook_resid_mid', () => {
    for (const over of [{ rotaryDims: 0 }, { rotaryDims: 8 }, { act: 'tanh' as const }, { parallel: false }]) {
      const m = randomGptNeox(tinyConfig(over), 4, 0.3);
      const cache = new Map<string, Tensor>(
        ['blocks.1.attn.hook_q', 'blocks.1.attn.hook_rot_q', 'blocks.1.mlp.hook_pre', 'blocks.1.mlp.hook_post'].map((n) => [
          n,
          null as unknown as Tensor,
        ]),
      );
      tf.tidy(() => {
        const logits = m.forward(ids, { cache });
        expect(arr(logits).every(Number.isFinite)).toBe(true);
        const q = cache.get('blocks.1.attn.hook_q')!;
        const rq = cache.get('blocks.1.attn.hook_rot_q')!;
        if (over.rotaryDims === 0) expect(diff(q, rq)).toBe(0);
        else expect(diff(q, rq)).toBeGreaterThan(1e-3);
        const pre = cache.get('blocks.1.mlp.hook_pre')!;
        const want =
          over.act === 'tanh'
            ? tf.mul(tf.mul(0.5, pre), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(pre, tf.mul(0.044715, tf.pow(pre, 3)))))))
            : tf.mul(tf.mul(0.5, pre), tf.add(1, tf.erf(tf.mul(pre, Math.SQRT1_2))));
        expect(diff(want, cache.get('blocks.1.mlp.hook_post')!)).toBeLessThan(1e-5);
        if (over.parallel === false) {
          const mid = m.runToHook(ids, 'blocks.1.hook_resid_mid');
          expect(diff(logits, m.forwardFrom('blocks.1.hook_resid_mid', mid))).toBeLessThan(1e-5);
        }
      });
      tf.dispose([...cache.values()]);
      m.dispose();
    }
  });

  it('tied embeddings unembed with embed_inᵀ (a kept transpose on wasm; transposeB here)', () => {
    const m = randomGptNeox(tinyConfig({ tiedEmbeddings: true }), 5, 0.3);
    expect(m.weights.W_U).toBeUndefined();
    tf.tidy(() => {
      const x = m.runToHook(ids, 'blocks.1.hook_resid_post');
      const want = tf.matMul(tf.reshape(m.finalNorm(x), [12, 32]), m.weights.W_E, false, true);
      expect(diff(tf.reshape(m.forward(ids), [12, 50]), want)).toBeLessThan(1e-5);
      const cols = m.logitColumns([4, 9]);
      expect(diff(cols.logits(tf.reshape(x, [12, 32]) as tf.Tensor2D), tf.gather(want, [4, 9], 1))).toBeLessThan(1e-5);
      cols.dispose();
    });
    m.dispose();
  });
});

describe('geluErf (the exact GELU)', () => {
  it('its value and written-out derivative equal the erf formula and its automatic derivative, from −8 to 8', () => {
    const [got, want, value] = tf.tidy(() => {
      const x = tf.linspace(-8, 8, 401);
      const formula = (z: Tensor) => tf.mul(tf.mul(0.5, z), tf.add(1, tf.erf(tf.mul(z, Math.SQRT1_2))));
      return [tf.grad(geluErf)(x).dataSync(), tf.grad(formula)(x).dataSync(), tf.sub(geluErf(x), formula(x)).dataSync()];
    });
    expect(Math.max(...Array.from(got, (g, i) => Math.abs(g - want[i])))).toBeLessThan(1e-5);
    expect(maxAbs(value)).toBeLessThan(1e-6);
    expect(Math.max(...got)).toBeGreaterThan(1.05);
    // Against values of Φ computed in float64: gelu(1) = Φ(1) = 0.8413447460685429, gelu(−2) = −2·Φ(−2).
    const [g1, gm2] = tf.tidy(() => arr(geluErf(tf.tensor1d([1, -2]))));
    expect(g1).toBeCloseTo(0.8413447460685429, 6);
    expect(gm2).toBeCloseTo(-2 * 0.022750131948179195, 6);
  });
});
