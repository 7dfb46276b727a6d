// Fuzz targets: every parser of untrusted input (a file, a pasted text, a link), with generators of hostile
// inputs and one way to run a case and classify how it ended. One home for both users: scripts/test-support/fuzz.test.ts
// (1000 cases per parser in the unit tests) and scripts/fuzz.ts (10,000 per parser, the table in
// docs/reliability.md).
// The contract: a parser returns a valid parse or throws an InputError ('ok' | 'input-error'); anything else
// (a TypeError, a RangeError from a stack overflow or an allocation, a returned value that breaks the parse's
// own invariants) is 'other', a bug. URL state is stricter: it never throws.
// Inputs come from four sources per parser: valid files built by our own writers and edited where it hurts
// (header JSON: huge or negative shapes, wrong dtypes, offsets past the end, duplicate keys, lying length
// fields), byte- or text-level mutations of valid files (bit flips, truncation, inserted and deleted bytes),
// and arbitrary bytes or strings.
import fc from 'fast-check';
import { zipSync, type Zippable } from 'fflate';
import { InputError } from '../../src/core/errors.ts';
import { summarise, type HistoryEntry, type RecoveryResult, type SampleMetrics } from '../../src/core/metrics.ts';
import type { SaeArrays, SaeConfig } from '../../src/core/sae.ts';
import { Gpt2BpeTokenizer } from '../../src/model/tokenizers/bpe.ts';
import { MAX_PROMPTS, parsePromptLines, tokenisePromptSet } from '../../src/scenarios/prompts.ts';
import { configFromHash, configSchema, configToHash } from '../../src/ui/config.ts';
import { parseFeatureLabels } from '../../src/io/labels.ts';
import { gemmaScopeSae, parseNpy } from '../../src/io/npz.ts';
import { parseResultJson, resultToJson } from '../../src/io/results.ts';
import { loadSaeLens, parseSaeLensCfg, saeLensCfgJson, writeSaeLensFolder, type SaeFolderFiles } from '../../src/io/saelens.ts';
import { parseSafetensors, writeSafetensors } from '../../src/io/safetensors.ts';

// ---------------------------------------------------------------------------------------------------------
// Outcomes

export type Outcome = 'ok' | 'input-error' | 'other';

export interface CaseResult {
  outcome: Outcome;
  /** Wall time of the call, ms. */
  ms: number;
  /** What was thrown (for 'input-error' and 'other'). */
  error?: unknown;
}

/** Thrown by a target's check when the parser returned something that is not a valid parse. */
export class InvalidParse extends Error {
  override name = 'InvalidParse';
}

function invalid(what: string): never {
  throw new InvalidParse(`returned an invalid parse: ${what}`);
}

export interface FuzzTarget<T = unknown> {
  name: string;
  /** The function under test, for the table. */
  entry: string;
  /** Hostile inputs (built lazily: some seeds need the tokenizer or the writers). */
  arbitrary(): fc.Arbitrary<T>;
  /** Call the parser and check what it returned; throws what the parser threw, or InvalidParse. */
  call(input: T): void;
  /** URL state: any throw at all is a failure. */
  neverThrows?: boolean;
  /** A short description of an input for failure messages. */
  show(input: T): string;
}

const target = <T>(t: FuzzTarget<T>) => t as unknown as FuzzTarget<unknown>;

/** Run one case and classify it. */
export function runCase(t: FuzzTarget, input: unknown): CaseResult {
  const t0 = performance.now();
  try {
    t.call(input);
    return { outcome: 'ok', ms: performance.now() - t0 };
  } catch (error) {
    const ms = performance.now() - t0;
    if (error instanceof InputError && !t.neverThrows) return { outcome: 'input-error', ms, error };
    return { outcome: 'other', ms, error };
  }
}

/** Run one case of the named parser. */
export function runParser(name: string, input: unknown): CaseResult {
  const t = FUZZ_TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target "${name}" (have: ${FUZZ_TARGETS.map((x) => x.name).join(', ')})`);
  return runCase(t, input);
}

/** One line naming what was thrown, for failure messages and the script's report. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name}: ${e.message.slice(0, 300)}`;
  return `non-Error thrown: ${String(e).slice(0, 300)}`;
}

// ---------------------------------------------------------------------------------------------------------
// Shared pieces: hostile values, JSON with spliced-in monsters, byte and text mutations

const enc = new TextEncoder();

/** Stands for n nested arrays; spliced into the JSON text (JSON.stringify itself would overflow the stack). */
export const deepArray = (n: number) => `\u0001deep${n}\u0001`;
/** Stands for a string of n characters; spliced in the same way (keeps generated values small). */
const bigString = (n: number) => `\u0001big${n}\u0001`;

/** JSON.stringify, then the markers above replaced by what they stand for. */
export function toJson(v: unknown, space?: number): string {
  return JSON.stringify(v, null, space).replace(/"\\u0001(deep|big)(\d+)\\u0001"/g, (_, kind: string, n: string) =>
    kind === 'deep' ? '['.repeat(Number(n)) + ']'.repeat(Number(n)) : `"${'x'.repeat(Number(n))}"`,
  );
}

const HOSTILE: unknown[] = [
  ...[0, -1, 1, 1.5, -0.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e9, 4e9, 1e15, 1e308, -1e308, 5e-324],
  ...[null, true, false, '', '0', '12', '1e9', '-1', 'NaN', '__proto__', 'toString', [], {}, [null], [1e9]],
  ...[deepArray(8), deepArray(20_000), bigString(50_000)],
];

/** A hostile JSON value: the list above or anything fast-check's JSON generator makes. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(...HOSTILE).map((v) => structuredClone(v)), weight: 3 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 },
);

/** A position in a buffer: near the start (where headers live) or anywhere. */
const position = fc.record({ at: fc.integer({ min: 0, max: 2 ** 20 - 1 }), rel: fc.boolean() });
type Position = { at: number; rel: boolean };
const place = (p: Position, len: number) => (p.rel ? Math.floor((p.at / 2 ** 20) * (len + 1)) : Math.min(p.at % 128, len));

type ByteEdit =
  | ({ op: 'flip'; bit: number } & Position)
  | ({ op: 'set'; byte: number } & Position)
  | ({ op: 'u32'; value: number } & Position)
  | ({ op: 'insert'; bytes: Uint8Array } & Position)
  | ({ op: 'delete'; count: number } & Position)
  | ({ op: 'truncate' } & Position);

const U32S = [0, 1, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 0xfffffff0, 1e9, 4e9];

const byteEdit: fc.Arbitrary<ByteEdit> = fc.oneof(
  position.chain((p) => fc.integer({ min: 0, max: 7 }).map((bit) => ({ op: 'flip' as const, bit, ...p }))),
  position.chain((p) => fc.constantFrom(0, 0xff, 0x7f, 0x80, 0x20, 0x22, 0x7b, 0x5b).map((byte) => ({ op: 'set' as const, byte, ...p }))),
  position.chain((p) => fc.constantFrom(...U32S).map((value) => ({ op: 'u32' as const, value, ...p }))),
  position.chain((p) => fc.uint8Array({ minLength: 1, maxLength: 16 }).map((bytes) => ({ op: 'insert' as const, bytes, ...p }))),
  position.chain((p) => fc.integer({ min: 1, max: 64 }).map((count) => ({ op: 'delete' as const, count, ...p }))),
  position.map((p) => ({ op: 'truncate' as const, ...p })),
);

export function applyByteEdits(seed: Uint8Array, edits: ByteEdit[]): Uint8Array {
  let b = seed.slice();
  for (const e of edits) {
    const i = place(e, b.length);
    if (e.op === 'flip' && i < b.length) b[i] ^= 1 << e.bit;
    else if (e.op === 'set' && i < b.length) b[i] = e.byte;
    else if (e.op === 'u32' && i + 4 <= b.length) new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(i, e.value, true);
    else if (e.op === 'insert') {
      const out = new Uint8Array(b.length + e.bytes.length);
      out.set(b.subarray(0, i));
      out.set(e.bytes, i);
      out.set(b.subarray(i), i + e.bytes.length);
      b = out;
    } else if (e.op === 'delete') {
      const out = new Uint8Array(b.length - Math.min(e.count, b.length - i));
      out.set(b.subarray(0, i));
      out.set(b.subarray(i + e.count), i);
      b = out;
    } else if (e.op === 'truncate') b = b.slice(0, i);
  }
  return b;
}

/** Byte-level mutations (1 to 5) of a valid file. */
export const mutatedBytes = (seed: fc.Arbitrary<Uint8Array>) =>
  fc.tuple(seed, fc.array(byteEdit, { minLength: 1, maxLength: 5 })).map(([s, e]) => applyByteEdits(s, e));

type TextEdit =
  | ({ op: 'insert'; text: string } & Position)
  | ({ op: 'delete'; count: number } & Position)
  | ({ op: 'dup'; count: number } & Position)
  | ({ op: 'truncate' } & Position);

const textPiece = fc.oneof(
  fc.constantFrom('"', '{', '}', '[', ']', ',', ':', '\\', '\n', '\r\n', 'null', '1e999', '-', '\u0000', '\ud800', '%', '&', '=', '#', ' '),
  fc.string({ maxLength: 8 }),
);

const textEdit: fc.Arbitrary<TextEdit> = fc.oneof(
  position.chain((p) => textPiece.map((text) => ({ op: 'insert' as const, text, ...p }))),
  position.chain((p) => fc.integer({ min: 1, max: 16 }).map((count) => ({ op: 'delete' as const, count, ...p }))),
  position.chain((p) => fc.integer({ min: 1, max: 40 }).map((count) => ({ op: 'dup' as const, count, ...p }))),
  position.map((p) => ({ op: 'truncate' as const, ...p })),
);

export function applyTextEdits(seed: string, edits: TextEdit[]): string {
  let s = seed;
  for (const e of edits) {
    const i = place(e, s.length);
    if (e.op === 'insert') s = s.slice(0, i) + e.text + s.slice(i);
    else if (e.op === 'delete') s = s.slice(0, i) + s.slice(i + e.count);
    else if (e.op === 'dup') s = s.slice(0, i + e.count) + s.slice(i);
    else s = s.slice(0, i);
  }
  return s;
}

/** Text-level mutations (1 to 4) of a valid text. */
export const mutatedText = (seed: fc.Arbitrary<string>) =>
  fc.tuple(seed, fc.array(textEdit, { minLength: 1, maxLength: 4 })).map(([s, e]) => applyTextEdits(s, e));

/** Arbitrary text: full code points, lone surrogates, JSON. */
export const arbitraryText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 100 }),
  fc.json({ maxDepth: 4 }),
);

/** Apply edits to a JSON object: set or delete keys (paths of length 1 or 2). */
type JsonEdit = { op: 'set'; path: string[]; value: unknown } | { op: 'delete'; path: string[] };

function applyJsonEdits(obj: Record<string, unknown>, edits: JsonEdit[]): Record<string, unknown> {
  const out = structuredClone(obj);
  for (const e of edits) {
    let at: Record<string, unknown> = out;
    for (const k of e.path.slice(0, -1)) {
      const next = at[k];
      if (typeof next !== 'object' || next === null) {
        at = {};
        break;
      }
      at = next as Record<string, unknown>;
    }
    const last = e.path[e.path.length - 1];
    if (e.op === 'set')
      Object.defineProperty(at, last, { value: structuredClone(e.value), enumerable: true, writable: true, configurable: true });
    else delete at[last];
  }
  return out;
}

/** Put `"key": value,` first in a JSON object's text: a duplicate key (JSON.parse keeps the last one). */
function withDuplicateKey(json: string, key: string, value: unknown): string {
  const i = json.indexOf('{');
  if (i < 0) return json;
  const rest = json.slice(i + 1).trimStart();
  return `${json.slice(0, i + 1)}${toJson(key)}:${toJson(value)}${rest.startsWith('}') ? '' : ','}${rest}`;
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** A deterministic spread of finite float32 values. */
function floats(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 2);
}

// ---------------------------------------------------------------------------------------------------------
// safetensors

export interface SafetensorsParts {
  header: Record<string, unknown>;
  data: Uint8Array;
}

/** Split a file we wrote ourselves (trusted: a seed) into its header object and data section. */
export function splitSafetensors(bytes: Uint8Array): SafetensorsParts {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), data: bytes.slice(8 + n) };
}

/** A safetensors file from a header (object or raw JSON text) and data; `headerLength` overrides the length field. */
export function craftSafetensors(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Uint8Array {
  const text = enc.encode(typeof header === 'string' ? header : toJson(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

const ST_DTYPES = ['F32', 'F16', 'BF16'] as const;
const ST_BYTES = { F32: 4, F16: 2, BF16: 2 };

const smallShape = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 });

/** Valid safetensors: our writer's F32 files (with metadata) and hand-built F16/BF16 ones. */
const validSafetensorsParts: fc.Arbitrary<SafetensorsParts> = fc.oneof(
  fc
    .tuple(fc.array(smallShape, { minLength: 1, maxLength: 4 }), fc.boolean(), fc.integer({ min: 0, max: 99 }))
    .map(([shapes, meta, seed]) => {
      const tensors = Object.fromEntries(shapes.map((shape, i) => [`t${i}`, { shape, data: floats(sizeOf(shape), seed + i) }]));
      return splitSafetensors(writeSafetensors(tensors, meta ? { format: 'pt', note: 'seed' } : undefined));
    }),
  fc.array(fc.record({ dtype: fc.constantFrom(...ST_DTYPES), shape: smallShape }), { minLength: 1, maxLength: 4 }).map((ts) => {
    const header: Record<string, unknown> = {};
    let offset = 0;
    ts.forEach((t, i) => {
      const n = sizeOf(t.shape) * ST_BYTES[t.dtype];
      header[`t${i}`] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
      offset += n;
    });
    return { header, data: Uint8Array.from({ length: offset }, (_, i) => (i * 37) & 0xff) };
  }),
);

const ST_DTYPE_VALUES: unknown[] = [
  ...['F32', 'F16', 'BF16', 'F64', 'I64', 'U8', 'BOOL', 'f32', 'toString', '__proto__', 'constructor', '', 4, null],
];
const ST_SHAPES: unknown[] = [
  ...[[1e9], [-1], [1.5], [2 ** 53], [2 ** 53 + 2], [1e308], [], [0], [1e9, 1e9], ['3'], [null], 3, '3', [[2]]],
  ...[[2 ** 32, 0], [1e300, 0], [2 ** 60, 0, 3], [65536, 65536], [2, 3, 4, 5, 6, 7, 8], deepArray(30_000)],
];
const ST_OFFSETS: unknown[] = [[0, 4e9], [-4, 0], [8, 4], [0], [0, 4, 8], [1.5, 5.5], [0, 2 ** 53], ['0', '4'], null, deepArray(30_000)];

type StEdit =
  | { op: 'field'; entry: number; field: 'dtype' | 'shape' | 'data_offsets'; value: unknown }
  | { op: 'drop'; entry: number; field: 'dtype' | 'shape' | 'data_offsets' }
  | { op: 'entry'; entry: number; value: unknown }
  | { op: 'add'; name: string; value: unknown }
  | { op: 'metadata'; value: unknown }
  | { op: 'copy-offsets'; from: number; to: number }
  | { op: 'duplicate'; entry: number; value: unknown }
  | { op: 'header-length'; delta: number; absolute: bigint | null };

const entryIndex = fc.integer({ min: 0, max: 3 });
const stField = fc.constantFrom('dtype' as const, 'shape' as const, 'data_offsets' as const);
const stFieldValue = (field: 'dtype' | 'shape' | 'data_offsets') =>
  field === 'dtype'
    ? fc.oneof(fc.constantFrom(...ST_DTYPE_VALUES), hostileValue)
    : field === 'shape'
      ? fc.oneof(fc.constantFrom(...ST_SHAPES), fc.array(fc.integer({ min: -2, max: 2 ** 33 }), { maxLength: 4 }), hostileValue)
      : fc.oneof(
          fc.constantFrom(...ST_OFFSETS),
          fc.tuple(fc.integer({ min: -8, max: 300 }), fc.integer({ min: -8, max: 300 })),
          hostileValue,
        );

const stEdit: fc.Arbitrary<StEdit> = fc.oneof(
  {
    arbitrary: fc
      .tuple(entryIndex, stField)
      .chain(([entry, field]) => stFieldValue(field).map((value) => ({ op: 'field' as const, entry, field, value }))),
    weight: 6,
  },
  { arbitrary: fc.record({ op: fc.constant('drop' as const), entry: entryIndex, field: stField }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('entry' as const), entry: entryIndex, value: hostileValue }), weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant('add' as const),
      name: fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', '__metadata__', 'toString')),
      value: hostileValue,
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('metadata' as const),
      value: fc.oneof(hostileValue, fc.dictionary(fc.string({ maxLength: 4 }), hostileValue, { maxKeys: 3 })),
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ op: fc.constant('copy-offsets' as const), from: entryIndex, to: entryIndex }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('duplicate' as const), entry: entryIndex, value: hostileValue }), weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant('header-length' as const),
      delta: fc.integer({ min: -16, max: 16 }),
      absolute: fc.option(fc.constantFrom(0n, 2n ** 64n - 1n, 2n ** 53n, 100n * 1024n * 1024n, 100n * 1024n * 1024n + 1n)),
    }),
    weight: 1,
  },
);

function applyStEdits(parts: SafetensorsParts, edits: StEdit[]): Uint8Array {
  const header = structuredClone(parts.header);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const nameOf = (i: number) => names[i % Math.max(1, names.length)] ?? 't0';
  const entry = (i: number) => {
    const e = header[nameOf(i)];
    return typeof e === 'object' && e !== null ? (e as Record<string, unknown>) : undefined;
  };
  const duplicates: [string, unknown][] = [];
  let lengthDelta = 0;
  let lengthAbsolute: bigint | null = null;
  for (const e of edits) {
    if (e.op === 'field') {
      const t = entry(e.entry);
      if (t) t[e.field] = structuredClone(e.value);
    } else if (e.op === 'drop') delete entry(e.entry)?.[e.field];
    else if (e.op === 'entry') header[nameOf(e.entry)] = structuredClone(e.value);
    else if (e.op === 'add')
      Object.defineProperty(header, e.name, { value: structuredClone(e.value), enumerable: true, writable: true, configurable: true });
    else if (e.op === 'metadata') header.__metadata__ = structuredClone(e.value);
    else if (e.op === 'copy-offsets') {
      const [from, to] = [entry(e.from), entry(e.to)];
      if (from && to) to.data_offsets = from.data_offsets;
    } else if (e.op === 'duplicate') duplicates.push([nameOf(e.entry), e.value]);
    else {
      lengthDelta += e.delta;
      lengthAbsolute = e.absolute ?? lengthAbsolute;
    }
  }
  let text = toJson(header);
  for (const [k, v] of duplicates) text = withDuplicateKey(text, k, v);
  const n = BigInt(enc.encode(text).length);
  const length = lengthAbsolute ?? (n + BigInt(lengthDelta) < 0n ? 0n : n + BigInt(lengthDelta));
  return craftSafetensors(text, parts.data, length);
}

function checkSafetensors(input: Uint8Array): void {
  const file = parseSafetensors(input, 'fuzz.safetensors');
  for (const [name, t] of file.tensors) {
    if (!ST_DTYPES.includes(t.dtype)) invalid(`tensor "${name}" has dtype ${t.dtype}`);
    if (!t.shape.every((s) => Number.isSafeInteger(s) && s >= 0)) invalid(`tensor "${name}" has shape [${t.shape}]`);
    if (t.data.length !== sizeOf(t.shape)) invalid(`tensor "${name}": ${t.data.length} values for shape [${t.shape}]`);
  }
  for (const [k, v] of Object.entries(file.metadata)) if (typeof v !== 'string') invalid(`metadata ${k} is not a string`);
}

const safetensorsTarget: FuzzTarget<Uint8Array> = {
  name: 'safetensors',
  entry: 'parseSafetensors',
  arbitrary: () =>
    fc.oneof(
      {
        arbitrary: fc.tuple(validSafetensorsParts, fc.array(stEdit, { minLength: 1, maxLength: 4 })).map(([p, e]) => applyStEdits(p, e)),
        weight: 5,
      },
      { arbitrary: mutatedBytes(validSafetensorsParts.map((p) => craftSafetensors(p.header, p.data))), weight: 3 },
      { arbitrary: validSafetensorsParts.map((p) => craftSafetensors(p.header, p.data)), weight: 1 },
      { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 1 },
      { arbitrary: arbitraryText.map((t) => craftSafetensors(t)), weight: 1 },
    ),
  call: checkSafetensors,
  show: showBytes,
};

function showBytes(b: Uint8Array): string {
  const text = new TextDecoder('latin1').decode(b.subarray(0, 400));
  return `${b.length} bytes: ${JSON.stringify(text)}${b.length > 400 ? '…' : ''}`;
}

// ---------------------------------------------------------------------------------------------------------
// .npy and Gemma Scope's params.npz

export interface NpyParts {
  version: number;
  /** The header dict's text (padded by npyBytes). */
  header: string;
  data: Uint8Array;
  /** Added to the header-length field (a lying length). */
  headerLengthDelta?: number;
}

export const npyHeader = (descr: string, shape: string, fortran = 'False') =>
  `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': (${shape}), }`;
export const shapeText = (shape: number[]) => `${shape.join(', ')}${shape.length === 1 ? ',' : ''}`;

/** A .npy file as numpy writes it (header padded to 64 bytes, ending in a newline). */
export function npyBytes(p: NpyParts): Uint8Array {
  const start = p.version === 1 ? 10 : 12;
  let header = p.header;
  while ((start + header.length + 1) % 64) header += ' ';
  header += '\n';
  const text = enc.encode(header);
  const out = new Uint8Array(start + text.length + p.data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, p.version, 0]);
  const view = new DataView(out.buffer);
  const length = Math.max(0, text.length + (p.headerLengthDelta ?? 0));
  if (p.version === 1) view.setUint16(8, Math.min(length, 0xffff), true);
  else view.setUint32(8, Math.min(length, 0xffffffff), true);
  out.set(text, start);
  out.set(p.data, start + text.length);
  return out;
}

/** A float32 C-order array as .npy. */
export function npyF32(shape: number[], data: Float32Array): Uint8Array {
  return npyBytes({
    version: 1,
    header: npyHeader('<f4', shapeText(shape)),
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

const NPY_DESCRS = { '<f4': 4, '<f2': 2, '<f8': 8 } as const;
const validNpy: fc.Arbitrary<NpyParts> = fc
  .record({ version: fc.constantFrom(1, 2, 3), descr: fc.constantFrom('<f4' as const, '<f2' as const, '<f8' as const), shape: smallShape })
  .map(({ version, descr, shape }) => ({
    version,
    header: npyHeader(descr, shapeText(shape)),
    data: Uint8Array.from({ length: sizeOf(shape) * NPY_DESCRS[descr] }, (_, i) => (i * 53) & 0x3f),
  }));

const NPY_SHAPES = [
  ...['1000000000,', '1000000000, 1000000000', '-1, -2', '-1, 2', '2, -2', '2L, 3L', '', '1e9,', 'abc', '0,'],
  ...['9007199254740993,', ' , ', '1.5,', '0x10,', '4294967296, 4294967296, 0', ',,,'],
];
const NPY_DESCR_VALUES = ['<f4', '<f2', '<f8', '>f4', '|u1', '<i8', '', 'f4', '<f4\\', '<c8', '|O'];

/** Hostile .npy: a valid one whose header fields, version, length field or data length were changed. */
const hostileNpy: fc.Arbitrary<NpyParts> = fc
  .record({
    version: fc.constantFrom(1, 2, 3, 0, 4, 255),
    descr: fc.oneof(fc.constantFrom(...NPY_DESCR_VALUES), fc.string({ maxLength: 5 })),
    fortran: fc.constantFrom('False', 'True', 'false', '0'),
    shape: fc.oneof(
      fc.constantFrom(...NPY_SHAPES),
      fc.array(fc.integer({ min: -3, max: 2 ** 33 }), { maxLength: 3 }).map((s) => shapeText(s)),
    ),
    drop: fc.option(fc.constantFrom('descr', 'fortran_order', 'shape')),
    dataLength: fc.integer({ min: 0, max: 96 }),
    headerLengthDelta: fc.oneof(fc.constant(0), fc.integer({ min: -40, max: 40 }), fc.constantFrom(0xffff, 0xffffffff)),
  })
  .map((r) => {
    let header = npyHeader(r.descr, r.shape, r.fortran);
    if (r.drop) header = header.replace(new RegExp(`'${r.drop}'`), "'dropped'");
    return { version: r.version, header, data: new Uint8Array(r.dataLength).fill(0x3f), headerLengthDelta: r.headerLengthDelta };
  });

function checkNpy(input: Uint8Array): void {
  const a = parseNpy(input, 'fuzz.npy');
  if (!a.shape.every((s) => Number.isSafeInteger(s) && s >= 0)) invalid(`shape (${a.shape})`);
  if (a.data.length !== sizeOf(a.shape)) invalid(`${a.data.length} values for shape (${a.shape})`);
}

const npyTarget: FuzzTarget<Uint8Array> = {
  name: 'npy',
  entry: 'parseNpy',
  arbitrary: () =>
    fc.oneof(
      { arbitrary: hostileNpy.map(npyBytes), weight: 4 },
      { arbitrary: mutatedBytes(validNpy.map(npyBytes)), weight: 3 },
      { arbitrary: validNpy.map(npyBytes), weight: 1 },
      { arbitrary: fc.uint8Array({ maxLength: 200 }), weight: 1 },
      {
        arbitrary: fc
          .tuple(fc.constantFrom(1, 2, 3), fc.uint8Array({ maxLength: 200 }))
          .map(([v, rest]) => Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, v, 0, ...rest])),
        weight: 1,
      },
    ),
  call: checkNpy,
  show: showBytes,
};

type NpzFiles = Record<string, { data: Uint8Array; level: 0 | 6 }>;

/** A Gemma Scope params.npz's entries (d×m JumpReLU), each stored or deflated. */
const validNpzFiles: fc.Arbitrary<NpzFiles> = fc
  .record({
    d: fc.integer({ min: 1, max: 3 }),
    m: fc.integer({ min: 1, max: 4 }),
    levels: fc.array(fc.constantFrom(0 as const, 6 as const), { minLength: 5, maxLength: 5 }),
    lower: fc.boolean(),
  })
  .map(({ d, m, levels, lower }) => {
    const arrays: [string, number[]][] = [
      [lower ? 'w_enc' : 'W_enc', [d, m]],
      [lower ? 'w_dec' : 'W_dec', [m, d]],
      ['b_enc', [m]],
      ['b_dec', [d]],
      ['threshold', [m]],
    ];
    return Object.fromEntries(
      arrays.map(([name, shape], i) => [`${name}.npy`, { data: npyF32(shape, floats(sizeOf(shape), i)), level: levels[i] }]),
    );
  });

type NpzEdit =
  | { op: 'drop'; entry: number }
  | { op: 'replace'; entry: number; npy: NpyParts }
  | { op: 'transpose'; entry: number }
  | { op: 'rename'; entry: number; name: string }
  | { op: 'extra'; name: string; data: Uint8Array };

const npzEdit: fc.Arbitrary<NpzEdit> = fc.oneof(
  fc.record({ op: fc.constant('drop' as const), entry: fc.nat(4) }),
  fc.record({ op: fc.constant('replace' as const), entry: fc.nat(4), npy: hostileNpy }),
  fc.record({ op: fc.constant('transpose' as const), entry: fc.nat(4) }),
  fc.record({
    op: fc.constant('rename' as const),
    entry: fc.nat(4),
    name: fc.constantFrom(
      'W_enc.npy',
      'w_enc.npy',
      'W_dec.npy',
      'b_enc.npy',
      'threshold.npy.bak',
      'dir/W_enc.npy',
      '__proto__.npy',
      '.npy',
    ),
  }),
  fc.record({
    op: fc.constant('extra' as const),
    name: fc.constantFrom('README.txt', 'w_dec.npy', 'W_enc.npy', 'x.npy'),
    data: fc.uint8Array({ maxLength: 64 }),
  }),
);

function applyNpzEdits(files: NpzFiles, edits: NpzEdit[]): Zippable {
  const entries = Object.entries(files);
  for (const e of edits) {
    if (e.op === 'extra') {
      entries.push([e.name, { data: e.data, level: 0 }]);
      continue;
    }
    if (!entries.length) continue;
    const i = e.entry % entries.length;
    if (e.op === 'drop') entries.splice(i, 1);
    else if (e.op === 'replace') entries[i] = [entries[i][0], { ...entries[i][1], data: npyBytes(e.npy) }];
    else if (e.op === 'rename') entries[i] = [e.name, entries[i][1]];
    else {
      try {
        const a = parseNpy(entries[i][1].data);
        entries[i] = [entries[i][0], { ...entries[i][1], data: npyF32([...a.shape].reverse(), a.data) }];
      } catch {
        // already replaced by a hostile one: nothing to transpose
      }
    }
  }
  // fflate takes an object, so a renamed entry can replace another; 'alias' below makes true duplicates.
  return Object.fromEntries(entries.map(([name, f]) => [name, [f.data, { level: f.level }]]));
}

/**
 * Zip-level edits: central directory fields and the end record written in place (little-endian), or every
 * occurrence of one entry's name overwritten with another of the same length (two entries with one name).
 */
type ZipEdit =
  | { where: 'central'; entry: number; field: number; width: 2 | 4; value: number }
  | { where: 'end'; field: number; width: 2 | 4; value: number }
  | { where: 'alias'; from: string; to: string };

const ZIP_VALUES = [0, 1, 2, 46, 0xffff, 0x7fffffff, 0xffffffff, 0xfffffff0, 1e9];
// method, compressed size, uncompressed size, name length, extra length, local header offset
const CENTRAL_FIELDS: [number, 2 | 4][] = [
  [10, 2],
  [20, 4],
  [24, 4],
  [28, 2],
  [30, 2],
  [42, 4],
];
const zipEdit: fc.Arbitrary<ZipEdit> = fc.oneof(
  {
    arbitrary: fc
      .tuple(fc.nat(6), fc.constantFrom(...CENTRAL_FIELDS), fc.constantFrom(...ZIP_VALUES))
      .map(([entry, [field, width], value]) => ({ where: 'central' as const, entry, field, width, value })),
    weight: 4,
  },
  {
    arbitrary: fc
      .tuple(fc.constantFrom<[number, 2 | 4]>([8, 2], [10, 2], [12, 4], [16, 4]), fc.constantFrom(...ZIP_VALUES))
      .map(([[field, width], value]) => ({ where: 'end' as const, field, width, value })),
    weight: 2,
  },
  {
    arbitrary: fc.constantFrom(['b_dec.npy', 'b_enc.npy'], ['W_dec.npy', 'W_enc.npy'], ['w_dec.npy', 'W_enc.npy']).map(([from, to]) => ({
      where: 'alias' as const,
      from,
      to,
    })),
    weight: 1,
  },
);

export function applyZipEdits(zip: Uint8Array, edits: ZipEdit[]): Uint8Array {
  const b = zip.slice();
  const view = new DataView(b.buffer);
  const central: number[] = [];
  let end = -1;
  for (let i = 0; i + 4 <= b.length; i++) {
    const sig = view.getUint32(i, true);
    if (sig === 0x02014b50) central.push(i);
    else if (sig === 0x06054b50) end = i;
  }
  for (const e of edits) {
    if (e.where === 'alias') {
      const from = enc.encode(e.from);
      const to = enc.encode(e.to);
      for (let i = 0; i + from.length <= b.length; i++) if (from.every((c, j) => b[i + j] === c)) b.set(to, i);
      continue;
    }
    const base = e.where === 'central' ? central[e.entry % Math.max(1, central.length)] : end;
    if (base === undefined || base < 0) continue;
    const at = base + e.field;
    if (at + e.width > b.length) continue;
    if (e.width === 2) view.setUint16(at, e.value & 0xffff, true);
    else view.setUint32(at, e.value >>> 0, true);
  }
  return b;
}

function checkNpz(input: Uint8Array): void {
  const { config, arrays } = gemmaScopeSae(input, {}, 'fuzz.npz');
  const { dIn, dSae } = config;
  if (!(Number.isSafeInteger(dIn) && dIn > 0 && Number.isSafeInteger(dSae) && dSae > 0)) invalid(`d_in=${dIn}, d_sae=${dSae}`);
  const want: [keyof SaeArrays, number][] = [
    ['W_enc', dIn * dSae],
    ['W_dec', dSae * dIn],
    ['b_enc', dSae],
    ['b_dec', dIn],
    ['threshold', dSae],
  ];
  for (const [k, n] of want) if (arrays[k]?.length !== n) invalid(`${k} has ${arrays[k]?.length} values, expected ${n}`);
}

const npzTarget: FuzzTarget<Uint8Array> = {
  name: 'npz',
  entry: 'gemmaScopeSae (parseNpz)',
  arbitrary: () => {
    const zipped = fc
      .tuple(validNpzFiles, fc.array(npzEdit, { maxLength: 3 }))
      .map(([files, edits]) => zipSync(applyNpzEdits(files, edits)));
    const zipHostile = fc.tuple(zipped, fc.array(zipEdit, { minLength: 1, maxLength: 3 })).map(([z, e]) => applyZipEdits(z, e));
    return fc.oneof(
      { arbitrary: zipped, weight: 3 },
      { arbitrary: zipHostile, weight: 3 },
      { arbitrary: mutatedBytes(zipped), weight: 3 },
      { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 1 },
    );
  },
  call: checkNpz,
  show: showBytes,
};

// ---------------------------------------------------------------------------------------------------------
// SAELens cfg.json and folders

const saeConfig: fc.Arbitrary<SaeConfig> = fc
  .record({
    architecture: fc.constantFrom('standard' as const, 'jumprelu' as const, 'topk' as const),
    dIn: fc.integer({ min: 1, max: 4 }),
    dSae: fc.integer({ min: 1, max: 6 }),
    k: fc.integer({ min: 1, max: 6 }),
    applyBDecToInput: fc.boolean(),
    normalizeActivations: fc.constantFrom('none' as const, 'constant_norm_rescale' as const),
    centerInput: fc.boolean(),
    hookName: fc.constantFrom('blocks.3.hook_resid_post', 'blocks.0.hook_resid_pre'),
    modelName: fc.constantFrom('gpt2-small', 'gemma-2-2b'),
  })
  .map((c) => ({ ...c, k: c.architecture === 'topk' ? Math.min(c.k, c.dSae) : undefined }));

/** A pre-6.0 cfg (gpt2-small-res-jb style): hook_point, activation_fn_str, boolean normalize_activations. */
const legacyCfg: fc.Arbitrary<Record<string, unknown>> = fc
  .record({ d: fc.integer({ min: 1, max: 4 }), m: fc.integer({ min: 1, max: 6 }), topk: fc.boolean(), norm: fc.boolean() })
  .map(({ d, m, topk, norm }) => ({
    d_in: d,
    d_sae: m,
    hook_point: 'blocks.4.hook_resid_pre',
    model_name: 'gpt2-small',
    activation_fn_str: topk ? 'topk' : 'relu',
    ...(topk ? { activation_fn_kwargs: { k: Math.min(2, m) } } : {}),
    normalize_activations: norm,
    ...(norm ? { norm_scaling_factor: 2.5 } : {}),
  }));

const CFG_KEYS = [
  ...['architecture', 'd_in', 'd_sae', 'apply_b_dec_to_input', 'normalize_activations', 'k', 'rescale_acts_by_decoder_norm'],
  ...['reshape_activations', 'hook_name', 'hook_point', 'model_name', 'activation_fn_str', 'activation_fn', 'activation_fn_kwargs'],
  ...['norm_scaling_factor', 'metadata', 'model_from_pretrained_kwargs', '__proto__'],
];
const CFG_STRINGS = [
  ...['standard', 'jumprelu', 'topk', 'gated', 'relu', 'none', 'constant_norm_rescale', 'expected_average_only_in', 'layer_norm'],
];
const cfgPath = fc.oneof(
  { arbitrary: fc.constantFrom(...CFG_KEYS).map((k) => [k]), weight: 4 },
  {
    arbitrary: fc
      .tuple(
        fc.constantFrom('metadata', 'activation_fn_kwargs', 'model_from_pretrained_kwargs'),
        fc.constantFrom('k', 'model_name', 'hook_name', 'model_from_pretrained_kwargs', 'center_writing_weights'),
      )
      .map((p) => [...p]),
    weight: 1,
  },
);
const cfgValue = fc.oneof(
  hostileValue,
  fc.constantFrom(...CFG_STRINGS),
  fc.integer({ min: -2, max: 8 }),
  fc.constantFrom({ k: 0 }, { k: 1e9 }, { center_writing_weights: true }, { model_from_pretrained_kwargs: null }),
);
const cfgEdit: fc.Arbitrary<JsonEdit> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('set' as const), path: cfgPath, value: cfgValue }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('delete' as const), path: cfgPath }), weight: 1 },
);

const validCfgObject: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  saeConfig.map((c) => JSON.parse(saeLensCfgJson(c)) as Record<string, unknown>),
  legacyCfg,
);

/** A cfg.json: valid ones edited key by key, text mutations, duplicate keys, arbitrary text. */
const hostileCfgText: fc.Arbitrary<string> = fc.oneof(
  {
    arbitrary: fc.tuple(validCfgObject, fc.array(cfgEdit, { minLength: 1, maxLength: 3 })).map(([c, e]) => toJson(applyJsonEdits(c, e), 2)),
    weight: 5,
  },
  {
    arbitrary: fc.tuple(validCfgObject, fc.constantFrom(...CFG_KEYS), cfgValue).map(([c, k, v]) => withDuplicateKey(toJson(c), k, v)),
    weight: 1,
  },
  { arbitrary: mutatedText(validCfgObject.map((c) => JSON.stringify(c, null, 2))), weight: 2 },
  { arbitrary: arbitraryText, weight: 1 },
);

function checkCfg(text: string): void {
  const { config, normScalingFactor } = parseSaeLensCfg(text, { source: 'fuzz/cfg.json' });
  const { dIn, dSae, architecture, k } = config;
  if (!(Number.isSafeInteger(dIn) && dIn > 0 && Number.isSafeInteger(dSae) && dSae > 0)) invalid(`d_in=${dIn}, d_sae=${dSae}`);
  if (!['standard', 'jumprelu', 'topk'].includes(architecture)) invalid(`architecture ${architecture}`);
  if (!['none', 'constant_norm_rescale'].includes(config.normalizeActivations))
    invalid(`normalizeActivations ${config.normalizeActivations}`);
  if (architecture === 'topk' && !(Number.isInteger(k) && k! >= 1 && k! <= dSae)) invalid(`TopK with k=${k} for d_sae=${dSae}`);
  if (normScalingFactor !== undefined && !(Number.isFinite(normScalingFactor) && normScalingFactor > 0)) {
    invalid(`norm scaling factor ${normScalingFactor}`);
  }
}

const cfgTarget: FuzzTarget<string> = {
  name: 'saelens-cfg',
  entry: 'parseSaeLensCfg',
  arbitrary: () => hostileCfgText,
  call: checkCfg,
  show: (s) => `${s.length} chars: ${JSON.stringify(s.slice(0, 400))}`,
};

function saeArrays(c: SaeConfig): SaeArrays {
  const { dIn: d, dSae: m } = c;
  return {
    W_enc: floats(d * m, 1),
    b_enc: floats(m, 2),
    W_dec: floats(m * d, 3),
    b_dec: floats(d, 4),
    threshold: c.architecture === 'jumprelu' ? floats(m, 5).map(Math.abs) : undefined,
  };
}

const validFolder: fc.Arbitrary<SaeFolderFiles> = fc
  .tuple(saeConfig, fc.boolean())
  .map(([c, sparsity]) => writeSaeLensFolder(c, saeArrays(c), sparsity ? new Float32Array(c.dSae).fill(-2) : undefined));

type WeightsEdit =
  | { op: 'rename'; entry: number; name: string }
  | { op: 'drop'; entry: number }
  | { op: 'shape'; entry: number; shape: unknown }
  | { op: 'poison'; at: number; value: number }
  | { op: 'scaling-factor'; shape: number[]; value: number };

const weightsEdit: fc.Arbitrary<WeightsEdit> = fc.oneof(
  fc.record({
    op: fc.constant('rename' as const),
    entry: fc.nat(4),
    name: fc.constantFrom('w_enc', 'W_dec', 'b_enc', 'X', 'threshold', 'scaling_factor'),
  }),
  fc.record({ op: fc.constant('drop' as const), entry: fc.nat(4) }),
  fc.record({
    op: fc.constant('shape' as const),
    entry: fc.nat(4),
    shape: fc.oneof(fc.array(fc.integer({ min: 0, max: 8 }), { maxLength: 3 }), fc.constantFrom(...ST_SHAPES)),
  }),
  fc.record({ op: fc.constant('poison' as const), at: fc.nat(), value: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -3e38, 0) }),
  fc.record({
    op: fc.constant('scaling-factor' as const),
    shape: fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 2 }),
    value: fc.constantFrom(0, 1, -1, 1e38, Number.NaN),
  }),
);

function applyWeightsEdits(weights: Uint8Array, edits: WeightsEdit[]): Uint8Array {
  const { header, data: seedData } = splitSafetensors(weights);
  let data = seedData;
  const names = () => Object.keys(header).filter((k) => k !== '__metadata__');
  for (const e of edits) {
    const list = names();
    const name = list[('entry' in e ? e.entry : 0) % Math.max(1, list.length)];
    if (e.op === 'rename' && name) {
      const t = header[name];
      delete header[name];
      header[e.name] = t;
    } else if (e.op === 'drop' && name) delete header[name];
    else if (e.op === 'shape' && name) (header[name] as Record<string, unknown>).shape = e.shape;
    else if (e.op === 'poison' && data.length >= 4)
      new DataView(data.buffer, data.byteOffset).setFloat32(4 * (e.at % (data.length / 4)), e.value, true);
    else if (e.op === 'scaling-factor') {
      const n = sizeOf(e.shape);
      header.scaling_factor = { dtype: 'F32', shape: e.shape, data_offsets: [data.length, data.length + 4 * n] };
      const grown = new Uint8Array(data.length + 4 * n);
      grown.set(data);
      new Float32Array(grown.buffer, data.length, n).fill(e.value);
      data = grown;
    }
  }
  return craftSafetensors(header, data);
}

const hostileFolder: fc.Arbitrary<SaeFolderFiles> = fc
  .record({
    files: validFolder,
    cfgEdits: fc.array(cfgEdit, { maxLength: 2 }),
    cfgText: fc.array(textEdit, { maxLength: 1 }),
    weightsEdits: fc.array(weightsEdit, { maxLength: 3 }),
    weightBytes: fc.array(byteEdit, { maxLength: 2 }),
    sparsity: fc.oneof(
      fc.constant('keep' as const),
      fc.constant('drop' as const),
      fc.array(byteEdit, { minLength: 1, maxLength: 2 }),
      fc.array(fc.integer({ min: 0, max: 8 }), { maxLength: 2 }),
    ),
  })
  .map((r) => {
    let cfgJson = r.cfgEdits.length ? toJson(applyJsonEdits(JSON.parse(r.files.cfgJson), r.cfgEdits), 2) : r.files.cfgJson;
    cfgJson = applyTextEdits(cfgJson, r.cfgText);
    const weights = applyByteEdits(applyWeightsEdits(r.files.weights, r.weightsEdits), r.weightBytes);
    let sparsity = r.files.sparsity;
    if (r.sparsity === 'drop') sparsity = undefined;
    else if (r.sparsity !== 'keep' && sparsity) {
      const s = r.sparsity;
      sparsity =
        typeof s[0] === 'number'
          ? writeSafetensors({ sparsity: { shape: s as number[], data: new Float32Array(sizeOf(s as number[])) } })
          : applyByteEdits(sparsity, s as ByteEdit[]);
    }
    return { cfgJson, weights, sparsity };
  });

function checkFolder(files: SaeFolderFiles): void {
  const { sae, config, logDensity } = loadSaeLens(files, { source: 'fuzz-sae' });
  try {
    if (sae.W_enc.shape[0] !== config.dIn || sae.W_enc.shape[1] !== config.dSae)
      invalid(`W_enc [${sae.W_enc.shape}] for ${config.dIn}×${config.dSae}`);
    if (logDensity && logDensity.length !== config.dSae) invalid(`${logDensity.length} sparsity values for d_sae=${config.dSae}`);
  } finally {
    sae.dispose();
  }
}

const folderTarget: FuzzTarget<SaeFolderFiles> = {
  name: 'saelens-folder',
  entry: 'loadSaeLens',
  arbitrary: () => fc.oneof({ arbitrary: hostileFolder, weight: 5 }, { arbitrary: validFolder, weight: 1 }),
  call: checkFolder,
  show: (f) =>
    `cfg.json ${JSON.stringify(f.cfgJson.slice(0, 300))}; weights ${showBytes(f.weights)}; sparsity ${f.sparsity ? showBytes(f.sparsity) : 'none'}`,
};

// ---------------------------------------------------------------------------------------------------------
// Neuronpedia label files

interface LabelsInput {
  text: string;
  dSae?: number;
}

const labelEntry = fc.record({
  index: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }).map(String)),
  description: fc.string({ maxLength: 12 }),
});

const validLabels: fc.Arbitrary<unknown> = fc.oneof(
  fc.array(labelEntry, { maxLength: 5 }),
  fc.array(labelEntry, { maxLength: 5 }).map((es) => es.map((e) => ({ feature: e.index, explanation: e.description }))),
  fc.array(labelEntry, { maxLength: 5 }).map((es) => Object.fromEntries(es.map((e) => [String(e.index), e.description]))),
);

const LABEL_INDICES: unknown[] = [
  ...['99999999999999999999', '1e3', ' 3', '-1', '03', '0x10', 2 ** 53 + 2, 1e300, -0, 1.5, deepArray(30_000), bigString(50_000)],
];

const labelEdit: fc.Arbitrary<{ entry: number; key: string; value: unknown }> = fc.record({
  entry: fc.nat(5),
  key: fc.constantFrom('index', 'feature', 'featureIndex', 'description', 'label', 'explanation', '__proto__', '*'),
  value: fc.oneof(hostileValue, fc.constantFrom(...LABEL_INDICES)),
});

function applyLabelEdits(labels: unknown, edits: { entry: number; key: string; value: unknown }[]): unknown {
  const out = structuredClone(labels);
  for (const e of edits) {
    if (Array.isArray(out)) {
      if (!out.length) continue;
      const i = e.entry % out.length;
      if (e.key === '*') out[i] = structuredClone(e.value);
      else if (typeof out[i] === 'object' && out[i] !== null)
        Object.defineProperty(out[i], e.key, { value: structuredClone(e.value), enumerable: true, writable: true, configurable: true });
    } else if (typeof out === 'object' && out !== null) {
      const key = e.key === '*' ? String(e.entry) : typeof e.value === 'string' ? e.value : e.key;
      Object.defineProperty(out, key, {
        value: e.key === '*' ? structuredClone(e.value) : 'label',
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return out;
}

const labelsTarget: FuzzTarget<LabelsInput> = {
  name: 'labels',
  entry: 'parseFeatureLabels',
  arbitrary: () =>
    fc.record({
      text: fc.oneof(
        {
          arbitrary: fc
            .tuple(validLabels, fc.array(labelEdit, { minLength: 1, maxLength: 3 }))
            .map(([l, e]) => toJson(applyLabelEdits(l, e))),
          weight: 5,
        },
        { arbitrary: mutatedText(validLabels.map((l) => JSON.stringify(l))), weight: 2 },
        { arbitrary: fc.constantFrom(...HOSTILE).map((v) => toJson(v)), weight: 1 },
        { arbitrary: arbitraryText, weight: 1 },
      ),
      dSae: fc.option(fc.integer({ min: 0, max: 64 }), { nil: undefined }),
    }),
  call: ({ text, dSae }) => {
    const labels = parseFeatureLabels(text, dSae);
    for (const [i, label] of labels) {
      if (!(Number.isSafeInteger(i) && i >= 0 && (dSae === undefined || i < dSae))) invalid(`feature index ${i}`);
      if (typeof label !== 'string' || !label) invalid(`label ${JSON.stringify(label)} for feature ${i}`);
    }
  },
  show: ({ text, dSae }) => `dSae=${dSae}, ${text.length} chars: ${JSON.stringify(text.slice(0, 400))}`,
};

// ---------------------------------------------------------------------------------------------------------
// Prompt sets (JSON lines), parsed and tokenised with GPT-2's BPE

interface PromptsInput {
  text: string;
  nCtx: number;
  prependBos: boolean;
}

let gpt2: Gpt2BpeTokenizer | undefined;
const tokenizer = () => {
  gpt2 ??= new Gpt2BpeTokenizer();
  return gpt2;
};

const NAMES = [' Mary', ' John', ' Paris', ' Berlin', ' yes', ' no', ' Mary Ann', 'Mary', '', ' ', '<|endoftext|>', ' \ud800'];
const promptLine = fc.record({
  prompt: fc.constantFrom(
    'When Mary and John went to the store, John gave a drink to',
    'The capital of France is',
    'Answer:',
    '<|endoftext|>',
  ),
  target: fc.constantFrom(...NAMES.slice(0, 6)),
  contrast: fc.constantFrom(...NAMES.slice(0, 6)),
  label: fc.option(fc.string({ maxLength: 6 }), { nil: undefined }),
});

type PromptEdit =
  | { op: 'field'; line: number; key: string; value: unknown }
  | { op: 'line'; line: number; text: string }
  | { op: 'repeat'; line: number; times: number }
  | { op: 'blank'; line: number; text: string };

const PROMPT_VALUES: unknown[] = [...NAMES, 'x'.repeat(3000), 'supercalifragilistic'.repeat(200), 'a '.repeat(2000)];
const promptEdit: fc.Arbitrary<PromptEdit> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant('field' as const),
      line: fc.nat(6),
      key: fc.constantFrom('prompt', 'target', 'contrast', 'label', '__proto__'),
      value: fc.oneof(hostileValue, fc.constantFrom(...PROMPT_VALUES)),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('line' as const),
      line: fc.nat(6),
      text: fc.oneof(arbitraryText, fc.constantFrom('{}', '[]', 'null', '"x"', '{"prompt": "a"')),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('repeat' as const),
      line: fc.nat(6),
      times: fc.constantFrom(2, 100, MAX_PROMPTS, MAX_PROMPTS + 1, 2000),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ op: fc.constant('blank' as const), line: fc.nat(6), text: fc.constantFrom('', '   ', '\r', '\t', '\u2028') }),
    weight: 1,
  },
);

function promptText(lines: Record<string, unknown>[], edits: PromptEdit[], crlf: boolean): string {
  // One row per line: its object (while it still is one) and its text.
  const rows = lines.map((l): { object: Record<string, unknown> | null; text: string } => ({
    object: structuredClone(l),
    text: JSON.stringify(l),
  }));
  for (const e of edits) {
    if (!rows.length) break;
    const i = e.line % rows.length;
    const row = rows[i];
    if (e.op === 'field' && row.object) {
      Object.defineProperty(row.object, e.key, { value: structuredClone(e.value), enumerable: true, writable: true, configurable: true });
      row.text = toJson(row.object);
    } else if (e.op === 'line') rows[i] = { object: null, text: e.text };
    else if (e.op === 'repeat') {
      const times = row.text.length > 1000 ? Math.min(e.times, 3) : e.times; // keep the text under a few MB
      rows.splice(i, 0, ...Array.from({ length: times - 1 }, () => ({ object: null, text: row.text })));
    } else if (e.op === 'blank') rows.splice(i, 0, { object: null, text: e.text });
  }
  return rows.map((r) => r.text).join(crlf ? '\r\n' : '\n');
}

const promptsTarget: FuzzTarget<PromptsInput> = {
  name: 'prompts',
  entry: 'parsePromptLines + tokenisePromptSet (GPT-2 BPE)',
  arbitrary: () => {
    const valid = fc.tuple(fc.array(promptLine, { minLength: 1, maxLength: 6 }), fc.boolean()).map(([l, crlf]) => promptText(l, [], crlf));
    return fc.record({
      text: fc.oneof(
        {
          arbitrary: fc
            .tuple(fc.array(promptLine, { minLength: 1, maxLength: 6 }), fc.array(promptEdit, { minLength: 1, maxLength: 3 }), fc.boolean())
            .map(([l, e, crlf]) => promptText(l, e, crlf)),
          weight: 5,
        },
        { arbitrary: valid, weight: 1 },
        { arbitrary: mutatedText(valid), weight: 2 },
        { arbitrary: arbitraryText, weight: 1 },
      ),
      nCtx: fc.constantFrom(1, 4, 16, 1024),
      prependBos: fc.boolean(),
    });
  },
  call: ({ text, nCtx, prependBos }) => {
    const lines = parsePromptLines(text, 'fuzz prompts');
    if (!(lines.length >= 1 && lines.length <= MAX_PROMPTS)) invalid(`${lines.length} prompts`);
    const set = tokenisePromptSet(lines, tokenizer(), nCtx, { prependBos, source: 'fuzz prompts' });
    set.ids.forEach((row, i) => {
      if (!(row.length >= 1 && row.length <= nCtx)) invalid(`prompt ${i} has ${row.length} tokens for nCtx ${nCtx}`);
      if (set.target[i] === set.contrast[i]) invalid(`prompt ${i}: target and contrast are both ${set.target[i]}`);
      if (set.tokens[i].length !== row.length) invalid(`prompt ${i}: ${set.tokens[i].length} token strings for ${row.length} ids`);
    });
  },
  show: ({ text, nCtx, prependBos }) => `nCtx=${nCtx}, bos=${prependBos}, ${text.length} chars: ${JSON.stringify(text.slice(0, 400))}`,
};

// ---------------------------------------------------------------------------------------------------------
// Imported run files (result JSON)

function sample(index: number, seed: number): SampleMetrics {
  const v = (k: number) => Math.round(Math.sin(seed * 7 + k) * 100) / 10;
  return {
    index,
    base: v(1),
    defended: v(2),
    recovered: v(3),
    valid: v(4) > 0,
    success: v(5) > 0,
    defendedNorm: Math.abs(v(6)),
    relDrift: v(7) > 0 ? Math.abs(v(7)) : null,
    absDrift: Math.abs(v(8)),
    decodeDrift: Math.abs(v(9)),
    floorViolation: null,
    eligible: 3,
    reactivated: 1,
    activeRecovered: 1,
    deltaNorm: Math.abs(v(10)),
    deltaOverResidual: Math.abs(v(11)),
    recoveredFraction: null,
    residualNormBase: 1,
    residualNormDefended: 1.5,
    residualNormRecovered: 1.2,
  };
}

const historyEntry = (step: number): HistoryEntry => ({
  step,
  objective: step / 10,
  loss: -step / 10,
  recoveryRate: step ? 0.5 : null,
  meanRelDrift: 0.1,
  meanAbsDrift: 0.2,
  meanDeltaNorm: 0.3,
  residualNorm: 1,
  projectionCosine: null,
});

const validResult: fc.Arbitrary<RecoveryResult> = fc
  .record({ n: fc.integer({ min: 0, max: 3 }), steps: fc.integer({ min: 0, max: 3 }), seed: fc.nat(50) })
  .map(({ n, steps, seed }) => {
    const samples = Array.from({ length: n }, (_, i) => sample(i, seed + i));
    return {
      config: { mode: 'jacobian', steps: 100, lr: 0.1, budget: 20, delta: 'shared', seed: 0, features: [1, 2], scenario: 'ioi' },
      samples,
      aggregate: summarise(samples),
      history: Array.from({ length: steps }, (_, i) => historyEntry(i)),
    };
  });

const RESULT_KEYS = ['config', 'samples', 'aggregate', 'history', 'schemaVersion', '__proto__'];
const resultPath = fc.oneof(
  { arbitrary: fc.constantFrom(...RESULT_KEYS).map((k) => [k]), weight: 3 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom('samples', 'history', 'config', 'aggregate'), fc.constantFrom('0', '1', 'mode', 'samples', 'step'))
      .map((p) => [...p]),
    weight: 2,
  },
);
const resultEdit: fc.Arbitrary<JsonEdit> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      path: resultPath,
      value: fc.oneof(hostileValue, fc.constantFrom(1, 2, 3, 0, 1.5, '2', 1e308)),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ op: fc.constant('delete' as const), path: resultPath }), weight: 1 },
);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const resultsTarget: FuzzTarget<string> = {
  name: 'results',
  entry: 'parseResultJson',
  arbitrary: () => {
    const valid = validResult.map(resultToJson);
    return fc.oneof(
      {
        arbitrary: fc
          .tuple(validResult, fc.array(resultEdit, { minLength: 1, maxLength: 3 }))
          .map(([r, e]) => toJson(applyJsonEdits(JSON.parse(resultToJson(r)), e), 2)),
        weight: 5,
      },
      { arbitrary: mutatedText(valid), weight: 2 },
      { arbitrary: arbitraryText, weight: 1 },
    );
  },
  call: (text) => {
    const r = parseResultJson(text);
    if (!isPlainObject(r.config)) invalid('config is not an object');
    if (!isPlainObject(r.aggregate)) invalid('aggregate is not an object');
    if (!Array.isArray(r.samples) || !r.samples.every(isPlainObject)) invalid('samples is not an array of objects');
    if (!Array.isArray(r.history) || !r.history.every((h) => isPlainObject(h) && typeof h.step === 'number')) {
      invalid('history is not an array of {step, …}');
    }
  },
  show: (s) => `${s.length} chars: ${JSON.stringify(s.slice(0, 400))}`,
};

// ---------------------------------------------------------------------------------------------------------
// URL state (the page's hash)

const NUMBER_TEXT =
  '0 1 -1 1.5 40 5000 5001 1e9 1000000000 4294967296 1e-400 1e400 1e300 -1e300 Infinity -Infinity NaN 0x10 0b1 -0 1e7'.split(' ');
const numberText = fc.oneof(
  { arbitrary: fc.constantFrom(...NUMBER_TEXT, '', ' 5 ', 'off'), weight: 3 },
  { arbitrary: fc.double().map(String), weight: 1 },
  { arbitrary: fc.integer().map(String), weight: 1 },
);
const ENUMS = 'ioi refusal tpp probe probe-example none encoder jacobian adam pgd per-sample shared default all last'.split(' ');
/** Per URL key, values aimed at what that key parses; any key can also get anything. */
const URL_VALUES: Record<string, fc.Arbitrary<string>> = {
  s: fc.constantFrom(...ENUMS, '__proto__', 'IOI'),
  sae: fc.oneof(fc.constantFrom('', 'ladder-high', 'x'.repeat(300)), fc.string({ maxLength: 12 })),
  f: fc.oneof(
    fc.constantFrom('1.2.3', '1..3', '-1.2', '1e20', '3.3.3', '1.5', '.', '99999999999'),
    fc.array(fc.oneof(fc.nat(5000), fc.constantFrom(-1, 2 ** 24, 2 ** 53 + 2)), { minLength: 1, maxLength: 5000 }).map((a) => a.join('.')),
  ),
  c: fc.tuple(fc.constantFrom('x', 'a', 's', 'q', ''), numberText).map(([k, v]) => k + v),
  rp: fc.constantFrom('0', '1', 'true', ''),
  ...Object.fromEntries(['m', 'o', 'd', 'p'].map((k) => [k, fc.constantFrom(...ENUMS, '', 'ADAM')])),
  ...Object.fromEntries(['n', 'lr', 'br', 'b', 'la', 'seed', 'cd', 'delay'].map((k) => [k, numberText])),
};
const URL_ANY = fc.oneof(
  numberText,
  fc.constantFrom(...ENUMS, '%', '%zz', '%E0%A4%A', '%00', '%26n%3D9', 'constructor'),
  fc.string({ unit: 'binary', maxLength: 12 }),
);
const urlPair = fc
  .oneof({ arbitrary: fc.constantFrom(...Object.keys(URL_VALUES)), weight: 6 }, { arbitrary: fc.string({ maxLength: 4 }), weight: 1 })
  .chain((key) =>
    fc
      .oneof({ arbitrary: Object.hasOwn(URL_VALUES, key) ? URL_VALUES[key] : URL_ANY, weight: 4 }, { arbitrary: URL_ANY, weight: 1 })
      .map((v) => [key, v] as const),
  );

const urlHash: fc.Arbitrary<string> = fc.oneof(
  {
    arbitrary: fc
      .tuple(fc.constantFrom('#', '', '#?', '##'), fc.array(urlPair, { maxLength: 8 }))
      .map(([prefix, pairs]) => prefix + pairs.map(([k, v]) => `${k}=${v}`).join('&')),
    weight: 5,
  },
  {
    arbitrary: mutatedText(
      fc.constantFrom('#s=ioi&n=40&lr=0.1&c=a-5&f=3.17.40', '#s=tpp&sae=ladder-high&m=encoder&br=off&cd=0.5&rp=1&delay=100'),
    ),
    weight: 2,
  },
  { arbitrary: arbitraryText, weight: 1 },
);

const urlTarget: FuzzTarget<string> = {
  name: 'url-config',
  entry: 'configFromHash',
  neverThrows: true,
  arbitrary: () => urlHash,
  call: (hash) => {
    const { config, problems } = configFromHash(hash);
    const r = configSchema.safeParse(config);
    if (!r.success) invalid(`config fails its schema: ${r.error.issues[0].path.join('.')}: ${r.error.issues[0].message}`);
    if (!problems.every((p) => typeof p === 'string')) invalid('problems are not strings');
    // A link cannot ask for absurd values: every number is finite and within ±2^32.
    const walk = (v: unknown, path: string): void => {
      if (typeof v === 'number' && !(Number.isFinite(v) && Math.abs(v) <= 2 ** 32)) invalid(`${path} is ${v}`);
      if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
    };
    walk(config, 'config');
    // What a link holds reproduces: the parsed config survives its own URL form unchanged.
    const again = configFromHash(configToHash(config));
    if (again.problems.length || JSON.stringify(again.config) !== JSON.stringify(config)) {
      invalid(
        `does not round-trip: ${JSON.stringify(config)} → ${configToHash(config)} → ${JSON.stringify(again.config)} ${again.problems}`,
      );
    }
  },
  show: (s) => `${s.length} chars: ${JSON.stringify(s.slice(0, 400))}`,
};

// ---------------------------------------------------------------------------------------------------------

/** Every parser of untrusted input, in the order of the table. */
export const FUZZ_TARGETS: FuzzTarget[] = [
  target(safetensorsTarget),
  target(npyTarget),
  target(npzTarget),
  target(cfgTarget),
  target(folderTarget),
  target(labelsTarget),
  target(promptsTarget),
  target(resultsTarget),
  target(urlTarget),
];
