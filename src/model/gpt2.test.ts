import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { tf, type Tensor, type Tensor3D } from '../core/tf.ts';
import { parseSafetensors } from '../io/safetensors.ts';
import { loadGpt2, parseGpt2Config, randomGpt2 } from './load.ts';
import { GPT2 } from './gpt2.ts';
import { loadTokenizer, WordTokenizer } from './tokenizers/index.ts';

const fixtures = path.resolve(import.meta.dirname, '__fixtures__');

/** Load a model folder and compare our logits with the PyTorch reference stored beside it. */
export function compareWithReference(dir: string): { maxAbsErr: number; maxRef: number } {
  const { model } = loadGpt2(readFileSync(path.join(dir, 'config.json'), 'utf8'), readFileSync(path.join(dir, 'model.safetensors')), dir);
  const ids: number[] = JSON.parse(readFileSync(path.join(dir, 'ids.json'), 'utf8'));
  const ref = parseSafetensors(readFileSync(path.join(dir, 'reference_logits.safetensors'))).tensors.get('logits')!.data;
  const got = tf.tidy(() => model.forward([ids]).dataSync());
  model.dispose();
  let maxAbsErr = 0, maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    maxAbsErr = Math.max(maxAbsErr, Math.abs(got[i] - ref[i]));
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  return { maxAbsErr, maxRef };
}

describe('GPT-2 forward against the PyTorch reference (bench/reference/gpt2_ref.py)', () => {
  it.each(['tiny-word', 'tiny-bpe'])('%s: logits agree to 1e-4 relative (max |Δ| / max |ref|)', (name) => {
    const { maxAbsErr, maxRef } = compareWithReference(path.join(fixtures, name));
    expect(maxRef).toBeGreaterThan(1); // the fixture's logits are not trivially small
    expect(maxAbsErr / maxRef).toBeLessThan(1e-4);
  });
});

describe('hooks and forwardFrom', () => {
  const config = { nLayer: 3, nHead: 2, dModel: 16, nCtx: 12, vocabSize: 30, lnEps: 1e-5 };
  const model = randomGpt2(config, 1, 0.3);
  const ids = [[1, 5, 7, 9, 2], [3, 3, 8, 1, 0]];

  it('caches activations with TransformerLens names and shapes', () => {
    const names = ['hook_embed', 'blocks.1.hook_resid_pre', 'blocks.1.attn.hook_pattern', 'blocks.1.attn.hook_q', 'blocks.1.mlp.hook_post', 'blocks.2.hook_resid_post', 'ln_final.hook_normalized'];
    const cache = new Map<string, Tensor>(names.map((n) => [n, null as unknown as Tensor]));
    tf.tidy(() => model.forward(ids, { cache }));
    expect(cache.get('blocks.1.hook_resid_pre')!.shape).toEqual([2, 5, 16]);
    expect(cache.get('blocks.1.attn.hook_pattern')!.shape).toEqual([2, 2, 5, 5]);
    expect(cache.get('blocks.1.attn.hook_q')!.shape).toEqual([2, 5, 2, 8]);
    expect(cache.get('blocks.1.mlp.hook_post')!.shape).toEqual([2, 5, 64]);
    // Causal: no attention to later positions.
    const pattern = cache.get('blocks.1.attn.hook_pattern')!.arraySync() as number[][][][];
    expect(pattern[0][0][1][3]).toBe(0);
    expect(pattern[0][0][4].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    tf.dispose([...cache.values()]);
  });

  it('an add-zero hook changes nothing; forwardFrom equals the full forward at every residual hook', () => {
    tf.tidy(() => {
      const base = model.forward(ids);
      const hooked = model.forward(ids, { hooks: { 'blocks.1.hook_resid_mid': (x) => tf.add(x, 0) } });
      expect(tf.max(tf.abs(tf.sub(base, hooked))).dataSync()[0]).toBe(0);
      for (const name of ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_mid', 'blocks.2.hook_resid_post']) {
        const h = model.runToHook(ids, name);
        const from = model.forwardFrom(name, h);
        expect(tf.max(tf.abs(tf.sub(base, from))).dataSync()[0]).toBeLessThan(1e-5);
      }
    });
  });

  it('a replace hook at resid_pre equals forwardFrom with that residual', () => {
    tf.tidy(() => {
      const h = tf.randomNormal([2, 5, 16], 0, 1, 'float32', 3) as Tensor3D;
      const replaced = model.forward(ids, { hooks: { 'blocks.2.hook_resid_pre': () => h } });
      const from = model.forwardFrom('blocks.2.hook_resid_pre', h);
      expect(tf.max(tf.abs(tf.sub(replaced, from))).dataSync()[0]).toBeLessThan(1e-5);
    });
  });

  it('the gradient w.r.t. a residual perturbation matches a finite difference', () => {
    tf.tidy(() => {
      const h = model.runToHook(ids, 'blocks.1.hook_resid_pre');
      const f = (d: Tensor) => tf.sum(tf.slice(model.forwardFrom('blocks.1.hook_resid_pre', tf.add(h, d) as Tensor3D), [0, 4, 3], [1, 1, 1]));
      const zero = tf.zeros(h.shape);
      const g = tf.grad(f)(zero).dataSync();
      const eps = 1e-2;
      for (const k of [4 * 16 + 2, 2 * 16 + 7]) {
        const e = tf.buffer(h.shape);
        e.values[k] = eps;
        const fd = (f(e.toTensor()).dataSync()[0] - f(tf.mul(e.toTensor(), -1)).dataSync()[0]) / (2 * eps);
        expect(g[k]).toBeCloseTo(fd, 2);
      }
    });
  });

  it('right padding does not change the real tokens; one-hot embedding equals gather', () => {
    tf.tidy(() => {
      const short = model.forward([[1, 5, 7]]);
      const padded = model.forward([[1, 5, 7, 0, 0]]);
      expect(tf.max(tf.abs(tf.sub(short, tf.slice(padded, [0, 0, 0], [1, 3, 30])))).dataSync()[0]).toBeLessThan(1e-5);
      const oh = model.forward(ids, { embedding: 'onehot' });
      expect(tf.max(tf.abs(tf.sub(oh, model.forward(ids)))).dataSync()[0]).toBeLessThan(1e-5);
    });
  });

  it('leaves no tensors behind', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => void model.forward(ids));
    tf.tidy(() => void tf.grad((d: Tensor) => tf.sum(model.forwardFrom('blocks.0.hook_resid_pre', tf.add(model.runToHook(ids, 'blocks.0.hook_resid_pre'), d) as Tensor3D)))(tf.zeros([2, 5, 16])));
    tf.tidy(() => void model.runToHook(ids, 'blocks.1.hook_resid_mid'));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad input with clear messages', () => {
    expect(() => model.forward([[1, 99]])).toThrow(/token id 99 is outside the vocabulary 0\.\.29/);
    expect(() => model.forward([Array(13).fill(1)])).toThrow(/exceeds the context of 12/);
    expect(() => model.forwardFrom('blocks.7.hook_resid_pre', tf.zeros([1, 1, 16]) as Tensor3D)).toThrow(/layers 0\.\.2/);
    expect(() => parseGpt2Config('{"n_embd": 10, "n_layer": 1, "n_head": 3, "n_positions": 4, "vocab_size": 5}')).toThrow(/not divisible/);
    expect(() => parseGpt2Config('{"n_embd": 8, "n_layer": 1, "n_head": 2, "vocab_size": 5}')).toThrow(/n_positions must be a positive integer/);
    expect(() => parseGpt2Config('{"model_type": "llama", "n_embd": 8}')).toThrow(/not supported/);
    const dir = path.join(fixtures, 'tiny-word');
    const cfg = readFileSync(path.join(dir, 'config.json'), 'utf8').replace('"n_embd": 32', '"n_embd": 16');
    expect(() => loadGpt2(cfg, readFileSync(path.join(dir, 'model.safetensors')), 'tiny')).toThrow(/tiny\/model\.safetensors: wte\.weight has shape \[20, 32\], config\.json implies \[20, 16\]/);
  });
});

describe('tokenizers', () => {
  it('word-level: splits words and punctuation, maps unknown words to <unk>, round-trips', () => {
    const tok = WordTokenizer.fromJSON(readFileSync(path.join(fixtures, 'tiny-word/tokenizer.json'), 'utf8'));
    const ids = tok.encode('Mary and John went to the store.');
    expect(tok.tokenStrings(ids)).toEqual(['Mary', 'and', 'John', 'went', 'to', 'the', 'store', '.']);
    expect(tok.encode('the zebra')).toEqual([tok.id('the'), tok.id('<unk>')]);
    expect(tok.unknownWords('the zebra')).toEqual(['zebra']);
    expect(WordTokenizer.fromJSON(JSON.stringify(tok.toJSON())).encode('the cat')).toEqual(tok.encode('the cat'));
  });

  it('GPT-2 BPE works offline for a GPT-2 checkpoint with no tokenizer file', () => {
    const tok = loadTokenizer(undefined, { model_type: 'gpt2', vocab_size: 50257, n_embd: 4, n_layer: 1, n_head: 1 });
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.encode(' to')).toEqual([284]);
    expect(tok.tokenStrings(tok.encode('When Mary and John'))).toEqual(['When', ' Mary', ' and', ' John']);
    expect(() => loadTokenizer(undefined, { vocab_size: 99, n_embd: 4, n_layer: 1, n_head: 1 })).toThrow(/no tokenizer/);
  });
});

// Keep GPT2 referenced for readers looking for the class under test.
void GPT2;
