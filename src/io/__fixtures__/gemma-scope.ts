// Gemma Scope params.npz files for tests, written here: a tiny .npy writer (numpy's v1 layout, header padded to 64
// bytes) and fflate's zipSync, stored by default as numpy's savez stores them.
import { type Zippable, zipSync } from 'fflate';
import { mulberry32, normals } from '../../core/rng.ts';

export type NpyDescr = '<f4' | '<f2' | '<f8' | string;

/** float → IEEE half (round to nearest, enough for test values). */
function toHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | Math.round(mant / 8192);
}

/** A C-order .npy of `data` with `shape`, stored as `descr` ('<f4', '<f2', '<f8'; anything else writes 4-byte words). */
export function npy(shape: number[], data: ArrayLike<number>, descr: NpyDescr = '<f4', header?: string): Uint8Array {
  let text = header ?? `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((10 + text.length + 1) % 64) text += ' ';
  text += '\n';
  const size = descr === '<f2' ? 2 : descr === '<f8' ? 8 : 4;
  const out = new Uint8Array(10 + text.length + size * data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const view = new DataView(out.buffer);
  view.setUint16(8, text.length, true);
  out.set(new TextEncoder().encode(text), 10);
  const at = 10 + text.length;
  for (let i = 0; i < data.length; i++) {
    if (size === 2) view.setUint16(at + 2 * i, toHalf(data[i]), true);
    else if (size === 8) view.setFloat64(at + 8 * i, data[i], true);
    else view.setFloat32(at + 4 * i, data[i], descr === '>f4' ? false : true);
  }
  return out;
}

export interface GemmaScopeArrays {
  W_enc: Float32Array; // [d, m]
  W_dec: Float32Array; // [m, d]
  b_enc: Float32Array;
  b_dec: Float32Array;
  threshold: Float32Array;
}

/** Random JumpReLU arrays: thresholds around the pre-activations' scale so some features fire and some do not. */
export function gemmaScopeArrays(d: number, m: number, seed = 1): GemmaScopeArrays {
  const rand = mulberry32(seed);
  const threshold = new Float32Array(m);
  for (let f = 0; f < m; f++) threshold[f] = f % 4 === 3 ? -0.2 : 0.2 + rand(); // a negative θ: the ReLU decides there
  return {
    W_enc: normals(rand, d * m),
    W_dec: normals(rand, m * d),
    b_enc: normals(rand, m).map((v) => 0.3 * v),
    b_dec: normals(rand, d).map((v) => 0.5 * v),
    threshold,
  };
}

export interface NpzOptions {
  /** 0: stored (numpy's savez), 6: deflated (savez_compressed). */
  level?: 0 | 6;
  /** Name W_enc/W_dec w_enc/w_dec. */
  lower?: boolean;
  /** The dtype each array is written in. */
  descr?: NpyDescr;
  /** Arrays to leave out, or replace with these entries (name → .npy bytes). */
  omit?: string[];
  extra?: Record<string, Uint8Array>;
}

/** params.npz of arrays for a d × m SAE. */
export function gemmaScopeNpz(a: GemmaScopeArrays, d: number, m: number, opts: NpzOptions = {}): Uint8Array {
  const shapes: Record<keyof GemmaScopeArrays, number[]> = { W_enc: [d, m], W_dec: [m, d], b_enc: [m], b_dec: [d], threshold: [m] };
  const files: Zippable = {};
  for (const k of Object.keys(shapes) as (keyof GemmaScopeArrays)[]) {
    if (opts.omit?.includes(k)) continue;
    const name = opts.lower && k.startsWith('W_') ? `w_${k.slice(2)}` : k;
    files[`${name}.npy`] = [npy(shapes[k], a[k], opts.descr), { level: opts.level ?? 0 }];
  }
  for (const [name, bytes] of Object.entries(opts.extra ?? {})) files[name] = [bytes, { level: opts.level ?? 0 }];
  return zipSync(files);
}
