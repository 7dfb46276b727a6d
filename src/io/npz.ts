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
  if (major < 1 || major > 3) throw new NpzError(`${name}: .npy format version ${major} is not supported (1 to 3)`);
  const start = major === 1 ? 10 : 12;
  if (bytes.length < start) throw new NpzError(`${name}: file is ${bytes.length} bytes, too short for a version ${major} .npy header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (start + headerLen > bytes.length) {
    throw new NpzError(`${name}: header length ${headerLen} runs past the end of the file (${bytes.length} bytes); truncated?`);
  }
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new NpzError(`${name}: unreadable .npy header`);
  if (fortran === 'True') throw new NpzError(`${name}: Fortran-ordered arrays are not supported`);
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  // Number('') and Number('0x10') are numbers too: only plain decimal digits make a dimension.
  if (!dims.every((d) => /^\d+$/.test(d) && Number.isSafeInteger(Number(d)))) {
    throw new NpzError(`${name}: shape (${shapeText.slice(0, 80)}) is not a tuple of non-negative integers`);
  }
  const shape = dims.map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + headerLen;
  const sizes: Record<string, number> = { '<f4': 4, '<f2': 2, '<f8': 8 };
  const size = Object.hasOwn(sizes, descr) ? sizes[descr] : undefined;
  if (!size) throw new NpzError(`${name}: dtype ${descr.slice(0, 40)} is not supported (little-endian float16/32/64 only)`);
  // Checked against the file's length before anything is allocated: a header may claim any shape.
  if (bytes.length - dataStart !== count * size) {
    throw new NpzError(
      `${name}: ${bytes.length - dataStart} data bytes, but shape (${shape.join(', ')}) of ${descr} needs ${count * size} (truncated, or not this array)`,
    );
  }
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const o = dataStart + i * size;
    out[i] = size === 4 ? view.getFloat32(o, true) : size === 8 ? view.getFloat64(o, true) : halfToFloat(view.getUint16(o, true));
  }
  return { shape, data: out };
}

/** Deflate cannot expand a byte into more than about 1032, so a larger claimed size is a lie (or a zip bomb). */
const MAX_DEFLATE_RATIO = 1032;

export function parseNpz(bytes: Uint8Array, source = 'params.npz'): Map<string, NpyArray> {
  let files: Record<string, Uint8Array>;
  // fflate walks as many directory entries as the end record claims, and allocates each entry's claimed
  // uncompressed size before inflating it: both claims are checked against the archive's length first.
  const maxEntries = Math.floor(bytes.length / 46); // a central directory entry takes at least 46 bytes
  let entries = 0;
  let stored = 0;
  const seen = new Set<string>();
  try {
    files = unzipSync(bytes, {
      filter: (f) => {
        if (++entries > maxEntries)
          throw new NpzError(`${source}: the zip directory claims more entries than a ${bytes.length}-byte file can hold`);
        if (!f.name.endsWith('.npy')) return false;
        const key = npyKey(f.name);
        if (seen.has(key)) throw new NpzError(`${source}: ${f.name} appears twice (or next to its w_/W_ twin)`);
        seen.add(key);
        // Entries cannot share bytes, so what they store adds up to at most the archive.
        stored += f.size;
        if (stored > bytes.length) {
          throw new NpzError(
            `${source}/${f.name}: entries claim ${stored} compressed bytes in all, more than the ${bytes.length}-byte archive (corrupt zip?)`,
          );
        }
        if (f.compression === 8 && f.originalSize > MAX_DEFLATE_RATIO * f.size + 1024) {
          throw new NpzError(
            `${source}/${f.name}: claims ${f.originalSize} bytes uncompressed from ${f.size} compressed, more than deflate can produce (corrupt zip?)`,
          );
        }
        return true;
      },
    });
  } catch (e) {
    if (e instanceof NpzError) throw e;
    throw new NpzError(`${source}: not a zip archive (${(e as Error).message})`);
  }
  const out = new Map<string, NpyArray>();
  for (const [name, data] of Object.entries(files)) out.set(npyKey(name), parseNpy(data, `${source}/${name}`));
  return out;
}

const npyKey = (name: string) => name.slice(0, -4).replace(/^w_/, 'W_');

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
  if (!(dIn > 0 && dSae > 0)) throw new NpzError(`${source}: W_enc has shape (${dIn}, ${dSae}); d_in and d_sae must be positive`);
  // Every other array's shape follows from W_enc's: a transposed W_dec has the right size and would load as noise.
  const shaped = (k: string, shape: number[]) => {
    const a = need(k);
    if (a.shape.length !== shape.length || a.shape.some((s, i) => s !== shape[i])) {
      throw new NpzError(
        `${source}: ${k} has shape (${a.shape.join(', ')}), expected (${shape.join(', ')}) (d_in=${dIn}, d_sae=${dSae} from W_enc)`,
      );
    }
    return a.data;
  };
  return {
    config: { architecture: 'jumprelu', dIn, dSae, applyBDecToInput: false, normalizeActivations: 'none', centerInput: false, ...meta },
    arrays: {
      W_enc: W_enc.data,
      W_dec: shaped('W_dec', [dSae, dIn]),
      b_enc: shaped('b_enc', [dSae]),
      b_dec: shaped('b_dec', [dIn]),
      threshold: shaped('threshold', [dSae]),
    },
  };
}
