import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { tf, type Tensor } from './tf.ts';
import { Sae, type SaeConfig } from './sae.ts';
import { DefendedSet, defendedStateFull } from './intervention.ts';
import { clampedState } from './defence.ts';
import { parseClampRule, type ClampRule } from './clamp.ts';
import { parseSafetensors } from '../io/safetensors.ts';

// Reference values from scripts/fixtures/make_sae_fixtures.py (PyTorch, float64).
const dir = new URL('./__fixtures__/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('sae_reference.json', dir), 'utf8'));
const ref = parseSafetensors(readFileSync(new URL('sae_reference.safetensors', dir)), 'sae_reference');
const get = (name: string) => ref.tensors.get(name)!;
const rules: Record<string, ClampRule> = {
  zero: parseClampRule('zero'),
  'set_active_-5': parseClampRule('set:-5', true),
  multiply_3: parseClampRule('multiply:3'),
};

function maxRelErr(a: Tensor, expected: Float32Array): number {
  const got = a.dataSync();
  let scale = 1e-6,
    err = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    err = Math.max(err, Math.abs(got[i] - expected[i]));
  }
  return err / scale;
}

describe.each(manifest.cases as Array<Record<string, unknown>>)('SAE $name against the PyTorch reference', (c) => {
  const p = `${c.name}.`;
  const cfg: SaeConfig = {
    architecture: c.arch as SaeConfig['architecture'],
    dIn: manifest.d_in,
    dSae: manifest.d_sae,
    applyBDecToInput: c.apply_b_dec as boolean,
    normalizeActivations: c.norm as SaeConfig['normalizeActivations'],
    centerInput: c.center as boolean,
    k: c.k as number | undefined,
  };
  const sae = Sae.create(cfg, {
    W_enc: get(`${p}W_enc`).data,
    b_enc: get(`${p}b_enc`).data,
    W_dec: get(`${p}W_dec`).data,
    b_dec: get(`${p}b_dec`).data,
    threshold: get(`${p}threshold`).data,
  });
  const h = tf.tensor3d(get(`${p}h`).data, [manifest.n, manifest.t, manifest.d_in]);

  it('encodes, decodes and splits off the error term', () => {
    tf.tidy(() => {
      expect(maxRelErr(sae.preActivations(h), get(`${p}pre`).data)).toBeLessThan(1e-5);
      expect(maxRelErr(sae.encode(h), get(`${p}z`).data)).toBeLessThan(1e-5);
      expect(maxRelErr(sae.reconstruct(h), get(`${p}recon`).data)).toBeLessThan(1e-5);
      expect(maxRelErr(sae.error(h), get(`${p}error`).data)).toBeLessThan(1e-5);
    });
  });

  it.each(Object.keys(rules))('builds the defended state for clamp %s', (rule) => {
    const set = new DefendedSet(sae, manifest.features);
    tf.tidy(() => {
      const expected = get(`${p}hdef.${rule}`).data;
      // The S-columns-only path used by the optimiser and the written-out D(z') + e(h) agree with torch.
      expect(maxRelErr(clampedState(set, rules[rule], h), expected)).toBeLessThan(1e-5);
      expect(maxRelErr(defendedStateFull(set, rules[rule], h), expected)).toBeLessThan(1e-5);
      // z_S from the S columns equals the full encode's S columns.
      const zFull = tf.gather(sae.encode(h), manifest.features, 2);
      expect(maxRelErr(set.acts(h), zFull.dataSync() as Float32Array)).toBeLessThan(1e-5);
    });
    set.dispose();
  });
});

describe('clamp rules', () => {
  it('parses the CLI forms and rejects nonsense', () => {
    expect(parseClampRule('zero')).toEqual({ kind: 'set', value: 0, onlyActive: false });
    expect(parseClampRule('set:-5', true)).toEqual({ kind: 'set', value: -5, onlyActive: true });
    expect(parseClampRule('multiply:3')).toEqual({ kind: 'multiply', factor: 3 });
    expect(() => parseClampRule('set:abc')).toThrow(/finite number/);
    expect(() => parseClampRule('set:NaN')).toThrow(/finite number/);
    expect(() => parseClampRule('clip:3')).toThrow(/not one of/);
    expect(() => parseClampRule('multiply:3', true)).toThrow(/positive-only/);
  });
});

describe('SAE validation', () => {
  const base: SaeConfig = {
    architecture: 'standard',
    dIn: 2,
    dSae: 3,
    applyBDecToInput: true,
    normalizeActivations: 'none',
    centerInput: false,
  };
  const arrays = { W_enc: new Float32Array(6), b_enc: new Float32Array(3), W_dec: new Float32Array(6), b_dec: new Float32Array(2) };
  it('names the weight with the wrong size', () => {
    expect(() => Sae.create(base, { ...arrays, W_dec: new Float32Array(5) })).toThrow(/W_dec has 5 values, expected \[3, 2\]/);
  });
  it('rejects NaN weights', () => {
    expect(() => Sae.create(base, { ...arrays, b_enc: new Float32Array([0, NaN, 0]) })).toThrow(/b_enc has a non-finite value/);
  });
  it('needs a threshold for JumpReLU and k for TopK', () => {
    expect(() => Sae.create({ ...base, architecture: 'jumprelu' }, arrays)).toThrow(/threshold is missing/);
    expect(() => Sae.create({ ...base, architecture: 'topk', k: 9 }, arrays)).toThrow(/k in \[1, 3\]/);
  });
  it('rejects out-of-range and duplicate defended features', () => {
    const sae = Sae.create(base, arrays);
    expect(() => new DefendedSet(sae, [0, 3])).toThrow(/feature index 3 is out of range: this SAE has features 0..2/);
    expect(() => new DefendedSet(sae, [1, 1])).toThrow(/listed twice/);
    expect(() => new DefendedSet(sae, [])).toThrow(/empty/);
    sae.dispose();
  });
});
