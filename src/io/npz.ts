// Gemma Scope's params.npz: a zip of .npy arrays (W_enc, W_dec, b_enc, b_dec, threshold), JumpReLU,
// apply_b_dec_to_input false. We read little-endian float32/float16/float64 C-order arrays.
import { InputError } from '../core/errors.ts';
import { unzipSync } from 'fflate';
import type { SaeArrays, SaeConfig } from '../core/sae.ts';
import { halfToFloat } from './safetensors.ts';

export class NpzError extends InputError {
  override name = 'NpzInputError';
}

export interface NpyArray {
  shape: number[];
  data: Float32Array;
}

export function parseNpy(bytes: Uint8Array, name = 'array'): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || !magic.every((b, i) => bytes[i] === b)) throw new NpzError(`${name}: not a .npy array (bad magic)`);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new NpzError(`${name}: unreadable .npy header`);
  if (fortran === 'True') throw new NpzError(`${name}: Fortran-ordered arrays are not supported`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + headerLen;
  const sizes: Record<string, number> = { '<f4': 4, '<f2': 2, '<f8': 8 };
  const size = sizes[descr];
  if (!size) throw new NpzError(`${name}: dtype ${descr} is not supported (little-endian float16/32/64 only)`);
  if (bytes.length - dataStart !== count * size)
    throw new NpzError(`${name}: ${bytes.length - dataStart} data bytes for shape (${shape.join(', ')}) of ${descr}`);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const o = dataStart + i * size;
    out[i] = size === 4 ? view.getFloat32(o, true) : size === 8 ? view.getFloat64(o, true) : halfToFloat(view.getUint16(o, true));
  }
  return { shape, data: out };
}

export function parseNpz(bytes: Uint8Array, source = 'params.npz'): Map<string, NpyArray> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new NpzError(`${source}: not a zip archive (${(e as Error).message})`);
  }
  const out = new Map<string, NpyArray>();
  for (const [name, data] of Object.entries(files)) {
    if (!name.endsWith('.npy')) continue;
    const key = name.slice(0, -4).replace(/^w_/, 'W_');
    out.set(key, parseNpy(data, `${source}/${name}`));
  }
  return out;
}

/** A Gemma Scope JumpReLU SAE from params.npz. */
export function gemmaScopeSae(
  bytes: Uint8Array,
  meta: { hookName?: string; modelName?: string } = {},
  source = 'params.npz',
): { config: SaeConfig; arrays: SaeArrays } {
  const arrays = parseNpz(bytes, source);
  const need = (k: string) => {
    const a = arrays.get(k);
    if (!a) throw new NpzError(`${source}: missing ${k}.npy (found: ${[...arrays.keys()].join(', ') || 'nothing'})`);
    return a;
  };
  const W_enc = need('W_enc');
  if (W_enc.shape.length !== 2) throw new NpzError(`${source}: W_enc must be 2-D, got (${W_enc.shape.join(', ')})`);
  const [dIn, dSae] = W_enc.shape;
  return {
    config: { architecture: 'jumprelu', dIn, dSae, applyBDecToInput: false, normalizeActivations: 'none', centerInput: false, ...meta },
    arrays: {
      W_enc: W_enc.data,
      W_dec: need('W_dec').data,
      b_enc: need('b_enc').data,
      b_dec: need('b_dec').data,
      threshold: need('threshold').data,
    },
  };
}
