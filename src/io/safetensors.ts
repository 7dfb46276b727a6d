// safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
// then the raw little-endian data. We read F32/F16/BF16 (converted to F32) and write F32.
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
  /** Always float32, whatever the stored dtype. */
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

function decode(bytes: Uint8Array, dtype: SafetensorsDType, count: number): Float32Array {
  if (dtype === 'F32' && LITTLE_ENDIAN) {
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

/** Parse a safetensors buffer. `source` names the file in error messages. */
export function parseSafetensors(input: ArrayBuffer | Uint8Array, source = 'safetensors file'): SafetensorsFile {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (bytes.byteLength < 8) fail(source, `file is ${bytes.byteLength} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES) fail(source, `header length ${headerLen} exceeds the 100 MB limit (not a safetensors file?)`);
  if (headerLen > bytes.byteLength - 8) {
    fail(
      source,
      `header length ${headerLen} is larger than the file (${bytes.byteLength} bytes); the file is truncated or not safetensors`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    fail(source, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(source, 'header must be a JSON object');

  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const tensors = new Map<string, LoadedTensor>();
  let metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number; dtype: SafetensorsDType; shape: number[]; count: number }[] = [];

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
    if (!Object.hasOwn(DTYPE_BYTES, dtype)) {
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
    const dt = dtype as SafetensorsDType;
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== count * DTYPE_BYTES[dt]) {
      fail(
        source,
        `tensor "${name}": ${end - begin} bytes stored but shape [${(shape as number[]).join(', ')}] of ${dt} needs ${count * DTYPE_BYTES[dt]}`,
      );
    }
    spans.push({ name, begin, end, dtype: dt, shape: shape as number[], count });
  }
  // Overlaps are refused before anything is decoded: a header of many entries that all point at one region
  // would otherwise make us copy the file once per entry.
  const byOffset = [...spans].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1],
      cur = byOffset[i];
    if (cur.begin < prev.end) fail(source, `tensors "${prev.name}" and "${cur.name}" overlap in the data section`);
  }
  for (const { name, begin, end, dtype, shape, count } of spans) {
    tensors.set(name, { dtype, shape, data: decode(bytes.subarray(dataStart + begin, dataStart + end), dtype, count) });
  }
  return { tensors, metadata };
}

export interface TensorToWrite {
  shape: number[];
  data: Float32Array | number[];
}

/** Serialise tensors as F32 safetensors (header padded with spaces to 8 bytes, as the reference writer does). */
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
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
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
    if (LITTLE_ENDIAN) {
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
