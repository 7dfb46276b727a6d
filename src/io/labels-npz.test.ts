import { describe, expect, it } from 'vitest';
import { zipSync } from 'fflate';
import { parseFeatureLabels } from './labels.ts';
import { gemmaScopeSae, parseNpy } from './npz.ts';
import { Sae } from '../core/sae.ts';
import { tf } from '../core/tf.ts';

function npy(shape: number[], data: number[]): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((10 + header.length + 1) % 64) header += ' ';
  header += '\n';
  const out = new Uint8Array(10 + header.length + 4 * data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const dv = new DataView(out.buffer);
  data.forEach((v, i) => dv.setFloat32(10 + header.length + 4 * i, v, true));
  return out;
}

describe('feature labels', () => {
  it('reads a Neuronpedia export and a plain map', () => {
    const labels = parseFeatureLabels(
      JSON.stringify([
        { index: '3', description: 'names of people' },
        { index: 3, description: 'IO name' },
        { index: 7, description: 'refusal' },
      ]),
    );
    expect(labels.get(3)).toBe('names of people; IO name');
    expect(labels.get(7)).toBe('refusal');
    expect(parseFeatureLabels('{"12": "Paris"}').get(12)).toBe('Paris');
  });
  it('reports what is wrong', () => {
    expect(() => parseFeatureLabels('[{"description": "x"}]')).toThrow(/entry 0 has no valid feature index/);
    expect(() => parseFeatureLabels('[{"index": 99, "description": "x"}]', 10)).toThrow(/out of range/);
    expect(() => parseFeatureLabels('nope')).toThrow(/not valid JSON/);
  });
});

describe('Gemma Scope npz', () => {
  it('loads a JumpReLU SAE from params.npz', () => {
    const d = 2,
      m = 3;
    const zip = zipSync({
      'W_enc.npy': npy([d, m], [1, 0, 1, 0, 1, 1]),
      'W_dec.npy': npy([m, d], [1, 0, 0, 1, 0.5, 0.5]),
      'b_enc.npy': npy([m], [0, 0, 0]),
      'b_dec.npy': npy([d], [0, 0]),
      'threshold.npy': npy([m], [0.5, 0.5, 3]),
    });
    const { config, arrays } = gemmaScopeSae(zip, { hookName: 'blocks.3.hook_resid_post' });
    expect(config).toMatchObject({ architecture: 'jumprelu', dIn: 2, dSae: 3, applyBDecToInput: false });
    const sae = Sae.create(config, arrays);
    // h = [1, 2]: pre = [1, 2, 3]; thresholds 0.5, 0.5, 3 → z = [1, 2, 0].
    const z = tf.tidy(() => Array.from(sae.encode(tf.tensor2d([[1, 2]])).dataSync()));
    expect(z).toEqual([1, 2, 0]);
    sae.dispose();
  });
  it('rejects what it cannot read', () => {
    expect(() => parseNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))).toThrow(/bad magic/);
    expect(() => gemmaScopeSae(zipSync({ 'W_enc.npy': npy([1, 1], [1]) }))).toThrow(/missing W_dec\.npy/);
  });
});
