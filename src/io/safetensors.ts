// safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
// then the raw little-endian data. We read F32/F16/BF16 (converted to F32) and write F32, F16 or BF16 (rounded to
// nearest, ties to even, as torch's casts do).
// Every malformed case gets its own message naming the file and the tensor, because researchers feed
// files exported from their own notebooks and need to know which one is wrong and why.
import { InputError } from '../core/errors.ts';
import { previewValue } from '../core/format.ts';

export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export type SafetensorsDType = 'F32' | 'F16' | 'BF16';
const DTYPE_BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2 };
/** Sizes of dtypes we recognise but do not read, so the error can say "unsupported" rather than "unknown". */
const OTHER_DTYPES = new Set(['F64', 'I64', 'I32', 'I16', 'I8', 'U8', 'U16', 'U32', 'U64', 'BOOL', 'F8_E4M3', 'F8_E5M2']);

export class SafetensorsError extends InputError {
  override name = 'SafetensorsError';
}

export interface LoadedTensor {
  dtype: SafetensorsDType;
  shape: number[];
  /** Always float32, whatever the stored dtype; F32 data aligned in the file is a view of its bytes (see decode). */
  data: Float32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, LoadedTensor>;
  metadata: Record<string, string>;
}

function fail(source: string, msg: string): never {
  throw new SafetensorsError(`${source}: ${msg}`);
}

const preview = (value: unknown) => previewValue(value, 80);

/** IEEE 754 half precision → number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * float32 values of a span. F32 data that lies 4-byte aligned in its buffer is a view of the bytes, not a copy (a
 * checkpoint's tensors pass through on their way to the backend without a second copy of the file): it shares their
 * memory, so the caller must not mutate the bytes while it uses the values, nor the values (copy first, e.g.
 * .slice()). Unaligned F32 data is copied; F16 and BF16 are widened into a new array.
 */
function decode(bytes: Uint8Array, dtype: SafetensorsDType, count: number): Float32Array {
  if (dtype === 'F32' && LITTLE_ENDIAN) {
    if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 4 * count) as ArrayBuffer);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  if (dtype === 'F32') {
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
  } else if (dtype === 'F16') {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  } else {
    // bfloat16 is the top half of a float32.
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) u32[i] = view.getUint16(2 * i, true) << 16;
  }
  return out;
}

/** Where a tensor lies in a safetensors file: its dtype as stored, shape, and byte range from the start of the file. */
export interface TensorSpan {
  dtype: string;
  shape: number[];
  count: number;
  begin: number;
  end: number;
}

/** A safetensors file's header: every tensor's span, and the metadata. */
export interface SafetensorsLayout {
  tensors: Map<string, TensorSpan>;
  metadata: Record<string, string>;
}

/** Byte sizes of the dtypes that are not floats we read: kept in a layout (a checkpoint's buffers), never decoded. */
const OTHER_DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  U16: 2,
  U32: 4,
  U64: 8,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

/** The header's length from the file's first 8 bytes, checked against the file's size. */
export function headerLength(first8: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8) fail(source, `file is ${fileSize} bytes, too short for the 8-byte header length`);
  const headerLen = Number(new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES) fail(source, `header length ${headerLen} exceeds the 100 MB limit (not a safetensors file?)`);
  if (headerLen > fileSize - 8) {
    fail(source, `header length ${headerLen} is larger than the file (${fileSize} bytes); the file is truncated or not safetensors`);
  }
  return headerLen;
}

/**
 * The layout a header describes, every entry checked: dtype, shape, offsets in range and of the size the shape needs,
 * no two tensors overlapping. `readableOnly`: refuse tensors of a dtype we do not decode (a file whose every tensor is
 * read); otherwise they are kept, to be refused only if something reads them (a checkpoint's U8 mask buffers).
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number, source: string, readableOnly = true): SafetensorsLayout {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    fail(source, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(source, 'header must be a JSON object');
  const dataStart = 8 + headerBytes.byteLength;
  const dataLen = fileSize - dataStart;
  const tensors = new Map<string, TensorSpan>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(source, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(source, `__metadata__.${k} must be a string`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    if (typeof raw !== 'object' || raw === null) fail(source, `tensor "${name}": entry must be an object`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string') fail(source, `tensor "${name}": missing dtype`);
    const readable = Object.hasOwn(DTYPE_BYTES, dtype);
    if (!readable && (readableOnly || !Object.hasOwn(OTHER_DTYPE_BYTES, dtype))) {
      const what = OTHER_DTYPES.has(dtype) ? 'unsupported' : 'unknown';
      fail(source, `tensor "${name}": ${what} dtype ${dtype} (supported: F32, F16, BF16)`);
    }
    // Safe integers only: a dimension past 2^53 cannot be held exactly (it would be rounded, silently).
    if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0)) {
      fail(source, `tensor "${name}": shape must be an array of non-negative integers, got ${preview(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(source, `tensor "${name}": data_offsets must be [begin, end], got ${preview(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLen) {
      fail(source, `tensor "${name}": data_offsets [${begin}, ${end}] out of range (data section is ${dataLen} bytes)`);
    }
    const size = readable ? DTYPE_BYTES[dtype as SafetensorsDType] : OTHER_DTYPE_BYTES[dtype];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== count * size) {
      fail(
        source,
        `tensor "${name}": ${end - begin} bytes stored but shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${count * size}`,
      );
    }
    tensors.set(name, { dtype, shape: shape as number[], count, begin: dataStart + begin, end: dataStart + end });
  }
  // Overlaps are refused before anything is decoded: a header of many entries that all point at one region
  // would otherwise make us copy the file once per entry.
  const byOffset = [...tensors].sort(([, a], [, b]) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byOffset.length; i++) {
    const [prevName, prev] = byOffset[i - 1];
    const [curName, cur] = byOffset[i];
    if (cur.begin < prev.end) fail(source, `tensors "${prevName}" and "${curName}" overlap in the data section`);
  }
  return { tensors, metadata };
}

/** A span's bytes as float32 values (F16 and BF16 widened: exact), or an error for a dtype we do not decode. */
export function decodeSpan(bytes: Uint8Array, span: TensorSpan, name: string, source: string): Float32Array {
  if (!Object.hasOwn(DTYPE_BYTES, span.dtype)) fail(source, `tensor "${name}": dtype ${span.dtype} is not read (F32, F16 or BF16 only)`);
  return decode(bytes, span.dtype as SafetensorsDType, span.count);
}

/** Parse a safetensors buffer. `source` names the file in error messages. */
export function parseSafetensors(input: ArrayBuffer | Uint8Array, source = 'safetensors file'): SafetensorsFile {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  const headerLen = headerLength(bytes, bytes.byteLength, source);
  const layout = parseSafetensorsHeader(bytes.subarray(8, 8 + headerLen), bytes.byteLength, source);
  const tensors = new Map<string, LoadedTensor>();
  for (const [name, span] of layout.tensors) {
    const dtype = span.dtype as SafetensorsDType;
    tensors.set(name, { dtype, shape: span.shape, data: decode(bytes.subarray(span.begin, span.end), dtype, span.count) });
  }
  return { tensors, metadata: layout.metadata };
}

export interface TensorToWrite {
  shape: number[];
  data: Float32Array | number[];
  /** Stored dtype (default F32); F16 and BF16 values are rounded to nearest, ties to even. */
  dtype?: SafetensorsDType;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** number → IEEE 754 half precision bits, rounded to nearest (ties to even) from the float32 value; overflow → ±inf. */
export function floatToHalf(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf, or a quiet NaN
  const e = exp - 127 + 15; // the half's biased exponent
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): in units of 2^-24 the value is m · 2^(e - 14), m the 24-bit significand; rounded.
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    const m = mant | 0x800000; // 24 significant bits
    const shift = 14 - e;
    const q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    return sign | (q + (rem > halfway || (rem === halfway && q & 1) ? 1 : 0));
  }
  const q = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to inf).
  return sign | (q + (rem > 0x1000 || (rem === 0x1000 && q & 1) ? 1 : 0));
}

/** number → bfloat16 bits (the top half of the float32), rounded to nearest, ties to even; NaN stays NaN. */
export function floatToBfloat16(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0];
  if ((u & 0x7f800000) === 0x7f800000 && u & 0x7fffff) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * Serialise tensors as safetensors (header padded with spaces to 8 bytes, as the reference writer does). Each
 * tensor is stored as F32 unless its `dtype` says F16 or BF16.
 */
export function writeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new SafetensorsError(`tensor "${name}": shape [${t.shape.join(', ')}] holds ${count} values but data has ${t.data.length}`);
    }
    const dtype = t.dtype ?? 'F32';
    if (!Object.hasOwn(DTYPE_BYTES, dtype)) throw new SafetensorsError(`tensor "${name}": cannot write dtype ${dtype} (F32, F16 or BF16)`);
    const size = count * DTYPE_BYTES[dtype];
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  while (enc.encode(json).byteLength % 8 !== 0) json += ' ';
  const headerBytes = enc.encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.byteLength;
  for (const [, t] of entries) {
    const dtype = t.dtype ?? 'F32';
    if (dtype === 'F16' || dtype === 'BF16') {
      const encode = dtype === 'F16' ? floatToHalf : floatToBfloat16;
      for (let i = 0; i < t.data.length; i++, pos += 2) view.setUint16(pos, encode(t.data[i]), true);
    } else if (LITTLE_ENDIAN) {
      const f32 = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
      out.set(new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength), pos);
      pos += f32.byteLength;
    } else {
      for (let i = 0; i < t.data.length; i++, pos += 4) view.setFloat32(pos, t.data[i], true);
    }
  }
  return out;
}

/** Fetch a tensor by name with an expected rank, with a message that names what is missing. */
export function requireTensor(file: SafetensorsFile, name: string, source: string, rank?: number[]): LoadedTensor {
  const t = file.tensors.get(name);
  if (!t) {
    const have = [...file.tensors.keys()].slice(0, 12).join(', ') || '(none)';
    throw new SafetensorsError(`${source}: missing tensor "${name}" (found: ${have})`);
  }
  if (rank && !rank.includes(t.shape.length)) {
    throw new SafetensorsError(`${source}: tensor "${name}" has shape [${t.shape.join(', ')}], expected rank ${rank.join(' or ')}`);
  }
  return t;
}

/** Index of the first non-finite value, or -1. */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}
