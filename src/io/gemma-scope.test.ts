// Gemma Scope folders (params.npz + the folder's path) loaded through loadSaeFolder: the features and reconstruction
// against an independent float64 JumpReLU over the arrays, every storage variant (stored, deflated, w_ names,
// float16/float64, in place), and the errors a researcher meets, each naming the file and the problem.
import { describe, expect, it } from 'vitest';
import { tf } from '../core/tf.ts';
import { InputError } from '../core/errors.ts';
import { mulberry32, normals } from '../core/rng.ts';
import { type GemmaScopeArrays, gemmaScopeArrays, gemmaScopeNpz, npy } from './__fixtures__/gemma-scope.ts';
import { gemmaScopePathInfo } from './gemma-scope.ts';
import { parseNpz } from './npz.ts';
import { loadSaeFolder } from './sae-folder.ts';
import { loadSaeLens, writeSaeLensFolder } from './saelens.ts';

const D = 6;
const M = 12;
const PATH = 'saes/layer_7/width_12/average_l0_5';

/** JumpReLU by hand in float64: pre = h·W_enc + b_enc (no b_dec first), z = pre where pre > θ and pre > 0. */
function reference(a: GemmaScopeArrays, h: number[][], d: number, m: number): { z: number[][]; recon: number[][] } {
  const z = h.map((row) => {
    const out: number[] = [];
    for (let f = 0; f < m; f++) {
      let pre = a.b_enc[f];
      for (let j = 0; j < d; j++) pre += row[j] * a.W_enc[j * m + f];
      out.push(pre > a.threshold[f] && pre > 0 ? pre : 0);
    }
    return out;
  });
  const recon = z.map((zr) => {
    const out: number[] = [];
    for (let j = 0; j < d; j++) {
      let v = a.b_dec[j];
      for (let f = 0; f < m; f++) v += zr[f] * a.W_dec[f * d + j];
      out.push(v);
    }
    return out;
  });
  return { z, recon };
}

function inputs(n: number, seed = 7): number[][] {
  const flat = normals(mulberry32(seed), n * D);
  return Array.from({ length: n }, (_, i) => Array.from(flat.subarray(i * D, (i + 1) * D), (v) => 2 * v));
}

function expectClose(got: number[][], want: number[][], tol = 1e-4) {
  expect(got.length).toBe(want.length);
  got.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - want[i][j]), `[${i}][${j}] ${v} vs ${want[i][j]}`).toBeLessThan(tol)));
}

function run(a: GemmaScopeArrays, params: Uint8Array, path = PATH, d = D, m = M, opts = {}) {
  const loaded = loadSaeFolder({ layout: 'gemma-scope', params, path }, opts);
  const h = inputs(9);
  const [z, recon] = tf.tidy(() => {
    const x = tf.tensor2d(h);
    return [loaded.sae.encode(x).arraySync() as number[][], loaded.sae.reconstruct(x).arraySync() as number[][]];
  });
  loaded.sae.dispose();
  return { loaded, z, recon, want: reference(a, h, d, m) };
}

describe('a Gemma Scope folder', () => {
  it('loads as JumpReLU at blocks.L.hook_resid_post: features and reconstruction equal a float64 JumpReLU by hand', () => {
    const a = gemmaScopeArrays(D, M);
    const { loaded, z, recon, want } = run(a, gemmaScopeNpz(a, D, M));
    expect(loaded.config).toMatchObject({
      architecture: 'jumprelu',
      dIn: D,
      dSae: M,
      applyBDecToInput: false,
      normalizeActivations: 'none',
      centerInput: false,
      hookName: 'blocks.7.hook_resid_post',
    });
    expect(loaded.logDensity).toBeUndefined();
    expect(loaded.notes).toEqual([
      'Gemma Scope params.npz (JumpReLU, b_dec not subtracted from the input); hook blocks.7.hook_resid_post, width 12, average L0 5 from the folder path',
    ]);
    // Some features fire and some do not (the test would pass on all zeros otherwise), a negative θ included.
    const active = want.z.flat().filter((v) => v > 0).length;
    expect(active).toBeGreaterThan(10);
    expect(active).toBeLessThan(9 * M - 10);
    expectClose(z, want.z);
    expectClose(recon, want.recon);
  });

  it.each([
    ['deflated (savez_compressed)', { level: 6 as const }],
    ['w_enc / w_dec names', { lower: true }],
    ['float64 arrays', { descr: '<f8' }],
  ])('reads %s to the same features', (_, opts) => {
    const a = gemmaScopeArrays(D, M, 3);
    const { z, want } = run(a, gemmaScopeNpz(a, D, M, opts));
    expectClose(z, want.z);
  });

  it('reads float16 arrays (to float16 precision)', () => {
    const a = gemmaScopeArrays(D, M, 4);
    const params = gemmaScopeNpz(a, D, M, { descr: '<f2' });
    const halved = Object.fromEntries([...parseNpz(params)].map(([k, v]) => [k, v.data])) as unknown as GemmaScopeArrays;
    const { z, want } = run(halved, params);
    expectClose(z, want.z);
    // And the float16 values are the arrays to about 3 significant digits.
    for (let i = 0; i < a.W_enc.length; i++)
      expect(Math.abs(halved.W_enc[i] - a.W_enc[i])).toBeLessThan(4e-3 * Math.max(1, Math.abs(a.W_enc[i])));
  });

  it('leaves params untouched by default; in place, every array is a view of params and a second load is refused', () => {
    const a = gemmaScopeArrays(D, M, 5);
    const params = gemmaScopeNpz(a, D, M);
    const before = params.slice();
    expectClose(run(a, params).z, run(a, params).want.z);
    expect(params).toEqual(before);
    const inPlace = gemmaScopeNpz(a, D, M);
    const arrays = parseNpz(inPlace, 'params.npz', { inPlace: true });
    for (const [k, v] of arrays) expect(v.data.buffer, k).toBe(inPlace.buffer);
    expect([...arrays.get('W_enc')!.data]).toEqual([...a.W_enc]);
    expect([...arrays.get('threshold')!.data]).toEqual([...a.threshold]);
    // At least one entry was misaligned and moved (W_enc.npy's data starts at an odd offset in a fresh zip).
    expect(inPlace).not.toEqual(gemmaScopeNpz(a, D, M));
    expect(() => loadSaeFolder({ layout: 'gemma-scope', params: inPlace, path: PATH })).toThrow(
      `${PATH}/params.npz/W_enc.npy: these bytes were already loaded in place (their arrays were moved); read the file again`,
    );
    const fresh = gemmaScopeNpz(a, D, M);
    const { z, want } = run(a, fresh, PATH, D, M, { inPlace: true });
    expectClose(z, want.z);
  });

  it('a stored float32 array is not copied: the largest allocation while parsing in place is far below the data', () => {
    const d = 64;
    const m = 256; // W_enc and W_dec 64 kB each
    const a = gemmaScopeArrays(d, m, 6);
    const params = gemmaScopeNpz(a, d, m);
    const saved = globalThis.Float32Array;
    let largest = 0;
    globalThis.Float32Array = new Proxy(saved, {
      construct(target, args, newTarget) {
        if (typeof args[0] === 'number') largest = Math.max(largest, args[0] * 4);
        return Reflect.construct(target, args, newTarget);
      },
    });
    try {
      parseNpz(params, 'params.npz', { inPlace: true });
      expect(largest).toBeLessThan(1024);
      parseNpz(gemmaScopeNpz(a, d, m), 'params.npz');
      // Without giving the bytes up, a misaligned array is copied into an array of its own size (no larger buffer).
      expect(largest).toBe(4 * d * m);
    } finally {
      globalThis.Float32Array = saved;
    }
  });
});

describe('what the folder path says', () => {
  it('reads the layer, width, average L0 and the model from a Hub reference or a local copy', () => {
    expect(gemmaScopePathInfo('hf:google/gemma-scope-2b-pt-res/layer_11/width_65k/average_l0_70')).toEqual({
      embedding: false,
      layer: 11,
      width: '65k',
      dSae: 65536,
      averageL0: 70,
      repoName: 'gemma-scope-2b-pt-res',
      site: 'res',
      modelName: 'gemma-2-2b',
      modelDIn: 2304,
    });
    expect(gemmaScopePathInfo('/data/gemma-scope-9b-it-res@v2/layer_20/width_16k/average_l0_91')).toMatchObject({
      layer: 20,
      dSae: 16384,
      modelName: 'gemma-2-9b-it',
      modelDIn: 3584,
    });
    expect(gemmaScopePathInfo('C:\\saes\\layer_0\\width_1m\\average_l0_9')).toMatchObject({ layer: 0, dSae: 1048576 });
    expect(gemmaScopePathInfo('hf:google/gemma-scope-27b-pt-res/layer_3/width_131k/average_l0_9')).toMatchObject({
      modelName: 'gemma-2-27b',
      dSae: 131072,
    });
  });
});

describe('errors name the file and the problem', () => {
  const a = gemmaScopeArrays(D, M, 9);
  const load =
    (params: Uint8Array, path = PATH) =>
    () =>
      loadSaeFolder({ layout: 'gemma-scope', params, path });

  it('a missing array', () => {
    expect(load(gemmaScopeNpz(a, D, M, { omit: ['threshold'] }))).toThrow(
      `${PATH}/params.npz: missing threshold.npy (found: W_enc, W_dec, b_enc, b_dec)`,
    );
    expect(load(gemmaScopeNpz(a, D, M, { omit: ['W_enc'] }))).toThrow(/params\.npz: missing W_enc\.npy/);
  });

  it('a wrong shape (a transposed decoder), a width the folder contradicts, a d_in the model contradicts', () => {
    const transposed = gemmaScopeNpz(a, D, M, { omit: ['W_dec'], extra: { 'W_dec.npy': npy([D, M], a.W_dec) } });
    expect(load(transposed)).toThrow(`${PATH}/params.npz: W_dec has shape (6, 12), expected (12, 6) (d_in=6, d_sae=12 from W_enc)`);
    expect(load(gemmaScopeNpz(a, D, M), 'x/layer_7/width_16k/average_l0_5')).toThrow(
      'x/layer_7/width_16k/average_l0_5/params.npz: W_enc has d_sae=12, but the folder says width_16k (d_sae=16384)',
    );
    const hub = 'hf:google/gemma-scope-2b-pt-res/layer_7/width_12/average_l0_5';
    expect(load(gemmaScopeNpz(a, D, M), hub)).toThrow(
      `${hub}/params.npz: W_enc has d_in=6, but gemma-2-2b's residual stream (from gemma-scope-2b-pt-res) is 2304 wide`,
    );
  });

  it('a NaN, an unsupported dtype, a truncated download, an unsupported scaling factor', () => {
    const nan = { ...a, W_dec: a.W_dec.map((v, i) => (i === 5 ? Number.NaN : v)) };
    expect(load(gemmaScopeNpz(nan, D, M))).toThrow(`${PATH}/params.npz: SAE weight W_dec has a non-finite value (NaN) at flat index 5`);
    expect(load(gemmaScopeNpz(a, D, M, { descr: '>f4' }))).toThrow(
      `${PATH}/params.npz/W_enc.npy: dtype >f4 is not supported (little-endian float16/32/64 only)`,
    );
    expect(load(gemmaScopeNpz(a, D, M, { descr: '<i4' }))).toThrow(/dtype <i4 is not supported/);
    const full = gemmaScopeNpz(a, D, M);
    expect(load(full.subarray(0, full.length - 100))).toThrow(
      `${PATH}/params.npz: not a zip archive (no end-of-central-directory record; truncated download?)`,
    );
    const ones = npy([M], new Float32Array(M).fill(1));
    expect(() => load(gemmaScopeNpz(a, D, M, { extra: { 'scaling_factor.npy': ones } }))()).not.toThrow();
    const scaled = npy([M], new Float32Array(M).fill(2));
    expect(load(gemmaScopeNpz(a, D, M, { extra: { 'scaling_factor.npy': scaled } }))).toThrow(
      /params\.npz: scaling_factor is not all ones \(feature 0: 2\); a fine-tuning scaling factor is not supported/,
    );
  });

  it('a path without layer_N, an embedding SAE, an MLP release: each refused, all InputErrors', () => {
    const params = gemmaScopeNpz(a, D, M);
    expect(load(params, 'my-sae')).toThrow(
      "my-sae: the folder path names no layer (layer_N), so the SAE's hook (blocks.N.hook_resid_post) is unknown",
    );
    expect(load(params, 'hf:google/gemma-scope-2b-pt-res/embedding/width_4k/average_l0_6')).toThrow(
      /an embedding SAE \(hook_embed\) is not supported/,
    );
    expect(load(params, 'hf:google/gemma-scope-2b-pt-mlp/layer_3/width_16k/average_l0_9')).toThrow(
      'gemma-scope-2b-pt-mlp holds MLP-output SAEs; only residual-stream SAEs (gemma-scope-…-res) are supported',
    );
    expect(load(params, 'my-sae')).toThrow(InputError);
  });
});

describe('loadSaeFolder', () => {
  it('loads a SAELens folder exactly as loadSaeLens does (layout left out or given)', () => {
    const rand = mulberry32(2);
    const files = writeSaeLensFolder(
      {
        architecture: 'standard',
        dIn: 4,
        dSae: 8,
        applyBDecToInput: true,
        normalizeActivations: 'none',
        centerInput: false,
        hookName: 'blocks.1.hook_resid_pre',
      },
      { W_enc: normals(rand, 32), b_enc: new Float32Array(8), W_dec: normals(rand, 32), b_dec: normals(rand, 4) },
      new Float32Array(8).fill(-2),
    );
    const a = loadSaeLens(files, { source: 'x' });
    for (const b of [loadSaeFolder(files, { source: 'x' }), loadSaeFolder({ ...files, layout: 'saelens' }, { source: 'x' })]) {
      expect(b.config).toEqual(a.config);
      expect(b.notes).toEqual(a.notes);
      expect([...b.logDensity!]).toEqual([...a.logDensity!]);
      expect(b.sae.W_enc.arraySync()).toEqual(a.sae.W_enc.arraySync());
      b.sae.dispose();
    }
    a.sae.dispose();
    expect(() => loadSaeFolder({ ...files, cfgJson: '{' }, { source: 'x' })).toThrow(/x\/cfg\.json: not valid JSON/);
  });
});
