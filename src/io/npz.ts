// .npy arrays and .npz archives (a zip of .npy files), as Gemma Scope ships its SAEs: params.npz with W_enc, W_dec,
// b_enc, b_dec and threshold (JumpReLU, apply_b_dec_to_input false). We read little-endian float32/float16/float64
// C-order arrays into float32.
//
// Memory: Gemma Scope's params.npz at width 65k is 1.2 GB, so nothing is copied that need not be. The zip directory is
// read here (not by fflate's unzipSync, which copies every stored entry out of the archive): a stored entry is a view
// of the archive's bytes, and a little-endian float32 array whose data sits at a 4-byte-aligned address is a
// Float32Array view of them too. Only a misaligned float32 array (the usual case inside a zip, whose local headers
// shift every entry by its name's length) needs a copy, unless the caller gives the bytes up (`inPlace`): the array's
// bytes are then moved down by 1–3 bytes inside the archive, over the end of their own .npy header, and viewed there.
// Deflated entries and float16/float64 arrays are converted into new memory, as they must be.
import { inflateSync } from 'fflate';
import { InputError } from '../core/errors.ts';
import type { SaeArrays, SaeConfig } from '../core/sae.ts';
import { halfToFloat } from './safetensors.ts';

export class NpzError extends InputError {
  override name = 'NpzInputError';
}

export interface NpyArray {
  shape: number[];
  /**
   * The values as float32. May be a view of the bytes that were parsed (no copy): do not change or transfer those
   * bytes while the array is in use.
   */
  data: Float32Array;
}

export interface NpyReadOptions {
  /**
   * The caller gives up the bytes: a misaligned float32 array is moved into alignment inside them instead of being
   * copied, and its .npy header is marked as taken (parsing the same bytes again is refused, not misread).
   */
  inPlace?: boolean;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** What an entry's magic becomes once its array was moved in place: \x93TAKEN. */
const TAKEN_MAGIC = [0x93, 0x54, 0x41, 0x4b, 0x45, 0x4e];

export function parseNpy(bytes: Uint8Array, name = 'array', opts: NpyReadOptions = {}): NpyArray {
  if (bytes.length >= 6 && TAKEN_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new NpzError(`${name}: these bytes were already loaded in place (their arrays were moved); read the file again`);
  }
  if (bytes.length < 10 || !NPY_MAGIC.every((b, i) => bytes[i] === b)) throw new NpzError(`${name}: not a .npy array (bad magic)`);
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
  return { shape, data: decodeNpyData(bytes, dataStart, size, count, opts) };
}

function decodeNpyData(bytes: Uint8Array, dataStart: number, size: number, count: number, opts: NpyReadOptions): Float32Array {
  if (count === 0) return new Float32Array(0);
  if (size === 4 && LITTLE_ENDIAN) {
    const at = bytes.byteOffset + dataStart;
    const misaligned = at % 4;
    if (misaligned === 0) return new Float32Array(bytes.buffer, at, count);
    if (opts.inPlace) {
      // The header is at least 10 bytes long and already read: its last 1–3 bytes take the first data bytes.
      bytes.copyWithin(dataStart - misaligned, dataStart, dataStart + 4 * count);
      bytes.set(TAKEN_MAGIC, 0);
      return new Float32Array(bytes.buffer, at - misaligned, count);
    }
    const out = new Float32Array(count);
    new Uint8Array(out.buffer).set(bytes.subarray(dataStart, dataStart + 4 * count));
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart, count * size);
  const out = new Float32Array(count);
  if (size === 4) for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
  else if (size === 8) for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
  else for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The zip container

/** Deflate cannot expand a byte into more than about 1032, so a larger claimed size is a lie (or a zip bomb). */
const MAX_DEFLATE_RATIO = 1032;
/** A central directory entry takes at least 46 bytes. */
const CENTRAL_ENTRY_BYTES = 46;
const SIG = { end: 0x06054b50, end64: 0x06064b50, locator64: 0x07064b50, central: 0x02014b50, local: 0x04034b50 };

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** Little-endian reads that refuse to leave the archive (a lying offset is an error, not a zero). */
function reader(bytes: Uint8Array, source: string) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const check = (at: number, n: number, what: string) => {
    if (!(Number.isSafeInteger(at) && at >= 0 && at + n <= bytes.length)) {
      throw new NpzError(`${source}: corrupt zip (${what} at offset ${at} lies outside the ${bytes.length}-byte archive)`);
    }
    return at;
  };
  return {
    u16: (at: number, what: string) => view.getUint16(check(at, 2, what), true),
    u32: (at: number, what: string) => view.getUint32(check(at, 4, what), true),
    u64: (at: number, what: string) => {
      const v = view.getBigUint64(check(at, 8, what), true);
      // Past 2^53 a number would be rounded; no archive we can hold is that large, so the claim is a lie.
      return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(v);
    },
  };
}

/** The central directory: every entry's name, method, sizes and local header offset (zip64 fields resolved). */
function zipDirectory(bytes: Uint8Array, source: string): ZipEntry[] {
  const r = reader(bytes, source);
  let end = -1;
  // The end record sits in the last 22 bytes plus at most a 65,535-byte comment.
  for (let e = bytes.length - 22; e >= 0 && bytes.length - e <= 22 + 0xffff; e--) {
    if (r.u32(e, 'end record') === SIG.end) {
      end = e;
      break;
    }
  }
  if (end < 0) throw new NpzError(`${source}: not a zip archive (no end-of-central-directory record; truncated download?)`);
  let count = r.u16(end + 10, 'entry count');
  let offset = r.u32(end + 16, 'directory offset');
  if (end >= 20 && r.u32(end - 20, 'zip64 locator') === SIG.locator64) {
    const at = r.u64(end - 12, 'zip64 end record offset');
    if (at + 56 <= end && r.u32(at, 'zip64 end record') === SIG.end64) {
      count = r.u64(at + 32, 'zip64 entry count');
      offset = r.u64(at + 48, 'zip64 directory offset');
    }
  }
  // Walking the directory costs what it claims, so the claim is checked against what the file can hold first.
  if (count > Math.floor(bytes.length / CENTRAL_ENTRY_BYTES)) {
    throw new NpzError(`${source}: the zip directory claims more entries than a ${bytes.length}-byte file can hold`);
  }
  const entries: ZipEntry[] = [];
  let o = offset;
  for (let i = 0; i < count; i++) {
    const what = `directory entry ${i + 1} of ${count}`;
    if (r.u32(o, what) !== SIG.central) throw new NpzError(`${source}: corrupt zip (${what} is not where the directory says)`);
    const flags = r.u16(o + 8, what);
    const method = r.u16(o + 10, what);
    let compressedSize = r.u32(o + 20, what);
    let size = r.u32(o + 24, what);
    const nameLen = r.u16(o + 28, what);
    const extraLen = r.u16(o + 30, what);
    const commentLen = r.u16(o + 32, what);
    let localOffset = r.u32(o + 42, what);
    const nameAt = o + CENTRAL_ENTRY_BYTES;
    if (nameAt + nameLen + extraLen > bytes.length) {
      throw new NpzError(`${source}: corrupt zip (${what}'s name and extra fields run past the end of the archive)`);
    }
    const name = new TextDecoder(flags & 0x800 ? 'utf-8' : 'latin1').decode(bytes.subarray(nameAt, nameAt + nameLen));
    // zip64 extended information: the 64-bit values of the fields saturated at 0xffffffff, in this order.
    const saturated = [size, compressedSize, localOffset].map((v) => v === 0xffffffff);
    if (saturated.some(Boolean)) {
      for (let x = nameAt + nameLen; x + 4 <= nameAt + nameLen + extraLen; ) {
        const id = r.u16(x, what);
        const len = r.u16(x + 2, what);
        if (id === 1) {
          let at = x + 4;
          const take = () => {
            if (at + 8 > x + 4 + len) throw new NpzError(`${source}: corrupt zip (${what}'s zip64 field is too short)`);
            const v = r.u64(at, what);
            at += 8;
            return v;
          };
          if (saturated[0]) size = take();
          if (saturated[1]) compressedSize = take();
          if (saturated[2]) localOffset = take();
          break;
        }
        x += 4 + len;
      }
    }
    entries.push({ name, method, flags, compressedSize, size, localOffset });
    o = nameAt + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** One entry's bytes: a view of the archive when stored, inflated into new memory when deflated. */
function entryBytes(bytes: Uint8Array, e: ZipEntry, source: string): Uint8Array {
  const r = reader(bytes, `${source}/${e.name}`);
  const what = 'local header';
  if (r.u32(e.localOffset, what) !== SIG.local) {
    throw new NpzError(`${source}/${e.name}: corrupt zip (no local header at offset ${e.localOffset})`);
  }
  const start = e.localOffset + 30 + r.u16(e.localOffset + 26, what) + r.u16(e.localOffset + 28, what);
  if (start + e.compressedSize > bytes.length) {
    throw new NpzError(
      `${source}/${e.name}: its ${e.compressedSize} bytes run past the end of the ${bytes.length}-byte archive (truncated download?)`,
    );
  }
  if (e.flags & 1) throw new NpzError(`${source}/${e.name}: encrypted zip entries are not supported`);
  const raw = bytes.subarray(start, start + e.compressedSize);
  if (e.method === 0) {
    if (e.size !== e.compressedSize) {
      throw new NpzError(`${source}/${e.name}: a stored entry of ${e.compressedSize} bytes claims ${e.size} uncompressed (corrupt zip?)`);
    }
    return raw;
  }
  if (e.method === 8) {
    try {
      return inflate(raw, e.size);
    } catch (err) {
      throw new NpzError(`${source}/${e.name}: cannot inflate (${(err as Error).message})`);
    }
  }
  throw new NpzError(`${source}/${e.name}: compression method ${e.method} is not supported (stored or deflate only)`);
}

/** Inflate raw deflate data into room for exactly `size` bytes (fflate never writes past a buffer it is given). */
function inflate(raw: Uint8Array, size: number): Uint8Array {
  return inflateSync(raw, { out: new Uint8Array(size) });
}

/**
 * The .npy arrays of an .npz archive by name (a `w_` prefix read as `W_`, as SAELens does). Entries that are not .npy
 * are skipped. Stored float32 arrays are views of `bytes` (see the top of this file).
 */
export function parseNpz(bytes: Uint8Array, source = 'params.npz', opts: NpyReadOptions = {}): Map<string, NpyArray> {
  const entries = zipDirectory(bytes, source);
  const chosen: ZipEntry[] = [];
  const seen = new Set<string>();
  let stored = 0;
  for (const e of entries) {
    if (!e.name.endsWith('.npy')) continue;
    const key = npyKey(e.name);
    if (seen.has(key)) throw new NpzError(`${source}: ${e.name} appears twice (or next to its w_/W_ twin)`);
    seen.add(key);
    // Entries cannot share bytes, so what they store adds up to at most the archive.
    stored += e.compressedSize;
    if (stored > bytes.length) {
      throw new NpzError(
        `${source}/${e.name}: entries claim ${stored} compressed bytes in all, more than the ${bytes.length}-byte archive (corrupt zip?)`,
      );
    }
    // Checked before anything is allocated: inflating allocates the claimed uncompressed size.
    if (e.method === 8 && e.size > MAX_DEFLATE_RATIO * e.compressedSize + 1024) {
      throw new NpzError(
        `${source}/${e.name}: claims ${e.size} bytes uncompressed from ${e.compressedSize} compressed, more than deflate can produce (corrupt zip?)`,
      );
    }
    chosen.push(e);
  }
  const out = new Map<string, NpyArray>();
  for (const e of chosen) {
    const data = entryBytes(bytes, e, source);
    // An inflated entry is ours already; a stored one is the caller's, moved only when they said so.
    out.set(npyKey(e.name), parseNpy(data, `${source}/${e.name}`, { inPlace: e.method === 8 || opts.inPlace }));
  }
  return out;
}

const npyKey = (name: string) => name.slice(0, -4).replace(/^w_/, 'W_');

/** A Gemma Scope JumpReLU SAE from params.npz: its config and arrays (shapes checked against W_enc's). */
export function gemmaScopeSae(
  bytes: Uint8Array,
  meta: { hookName?: string; modelName?: string } = {},
  source = 'params.npz',
  opts: NpyReadOptions = {},
): { config: SaeConfig; arrays: SaeArrays } {
  const arrays = parseNpz(bytes, source, opts);
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
  // SAELens drops an all-ones scaling_factor and refuses any other (a fine-tuning factor its Gemma loader does not apply).
  if (arrays.has('scaling_factor')) {
    const s = shaped('scaling_factor', [dSae]);
    const i = s.findIndex((v) => v !== 1);
    if (i >= 0) {
      throw new NpzError(
        `${source}: scaling_factor is not all ones (feature ${i}: ${s[i]}); a fine-tuning scaling factor is not supported (SAELens refuses it too)`,
      );
    }
  }
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
