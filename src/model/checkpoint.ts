// A Hugging Face checkpoint's tensors by name: one model.safetensors, or the shards a model.safetensors.index.json
// names (gemma-2-2b-it comes in two). Families read their weights through this, with the shape each expects and a
// message naming the file and the tensor when one is missing, misshapen or not finite.
import { blobSource, type ByteSource, memorySource } from '../io/byte-source.ts';
import { decodeSpan, headerLength, parseSafetensorsHeader, type SafetensorsLayout, type TensorSpan } from '../io/safetensors.ts';
import { ModelInputError } from './errors.ts';

type Bytes = Uint8Array | ArrayBuffer;

/** One weights file of a model folder, by its file name (model.safetensors, model-00001-of-00002.safetensors, …). */
export interface WeightFile {
  name: string;
  bytes: Bytes;
}

/** A model folder's weights: one file, or shards named by an index (as Hugging Face writes them past 5 GB). */
export const WEIGHTS_FILE = 'model.safetensors';
export const WEIGHTS_INDEX = 'model.safetensors.index.json';

/** The shard file names a model.safetensors.index.json maps tensors to, in order of first appearance. */
export function shardNames(indexJson: string, source = 'model.safetensors.index.json'): string[] {
  let index: unknown;
  try {
    index = JSON.parse(indexJson);
  } catch (e) {
    throw new ModelInputError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new ModelInputError(`${source}: no weight_map object`);
  const files = Object.values(map as Record<string, unknown>);
  for (const f of files)
    if (typeof f !== 'string' || !/^[\w.-]+\.safetensors$/.test(f))
      throw new ModelInputError(`${source}: weight_map names ${JSON.stringify(f)}, not a .safetensors file in the folder`);
  if (!files.length) throw new ModelInputError(`${source}: weight_map is empty`);
  return [...new Set(files as string[])];
}

/** One weights file as a Blob (a chosen File, a file in the browser's storage): what a page posts to its worker. */
export interface WeightBlob {
  name: string;
  blob: Blob;
}

/** One weights file as a byte source (read by ranges), by its file name. */
export interface WeightSource {
  name: string;
  source: ByteSource;
}

interface Entry {
  span: TensorSpan;
  file: string;
  source: ByteSource;
}

/**
 * The tensors of a checkpoint by name, read on demand: `take` at once from files in memory, `read`, `half` and
 * `rows` from any byte source (a multi-gigabyte file is read tensor by tensor, or row by row).
 */
export class Checkpoint {
  private readonly tensors = new Map<string, Entry>();

  /** `source` names the model folder in messages. From files in memory: the headers are parsed at once. */
  constructor(
    files: readonly WeightFile[],
    readonly source: string,
  ) {
    for (const f of files) {
      const bytes = memorySource(f.bytes, f.name);
      const readSync = bytes.readSync as NonNullable<ByteSource['readSync']>;
      const where = `${source}/${f.name}`;
      const headerLen = headerLength(readSync(0, 8), bytes.size, where);
      this.add(parseSafetensorsHeader(readSync(8, headerLen), bytes.size, where, false), f.name, bytes);
    }
  }

  /** From byte sources (files on disk or in the browser's storage) or files in memory: only the headers are read now. */
  static async open(files: readonly (WeightSource | WeightFile | WeightBlob)[], source: string): Promise<Checkpoint> {
    const ckpt = new Checkpoint([], source);
    if (!files.length) throw new ModelInputError(`${source}: no weights file`);
    for (const file of files) {
      const f =
        'source' in file
          ? file
          : { name: file.name, source: 'blob' in file ? blobSource(file.blob, file.name) : memorySource(file.bytes, file.name) };
      const where = `${source}/${f.name}`;
      const headerLen = headerLength(await f.source.read(0, Math.min(8, f.source.size)), f.source.size, where);
      ckpt.add(parseSafetensorsHeader(await f.source.read(8, headerLen), f.source.size, where, false), f.name, f.source);
    }
    return ckpt;
  }

  private add(layout: SafetensorsLayout, file: string, source: ByteSource): void {
    for (const [name, span] of layout.tensors) {
      const seen = this.tensors.get(name);
      if (seen) throw new ModelInputError(`${this.source}/${file}: tensor "${name}" is also in ${seen.file}`);
      this.tensors.set(name, { span, file, source });
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** The stored dtype (F32, F16, BF16, …) of a tensor. */
  dtype(name: string): string {
    return this.entry(name, undefined).span.dtype;
  }

  private entry(name: string, shape: readonly number[] | undefined): Entry {
    const e = this.tensors.get(name);
    if (!e) throw new ModelInputError(`${this.source}: missing ${name}`);
    const s = e.span.shape;
    if (shape && (s.length !== shape.length || s.some((d, i) => d !== shape[i])))
      throw new ModelInputError(`${this.source}/${e.file}: ${name} has shape [${s.join(', ')}], config.json implies [${shape.join(', ')}]`);
    return e;
  }

  private finite(e: Entry, name: string, data: Float32Array, offset = 0): Float32Array {
    for (let i = 0; i < data.length; i++)
      if (!Number.isFinite(data[i])) throw new ModelInputError(`${this.source}/${e.file}: ${name} has a non-finite value at ${offset + i}`);
    return data;
  }

  /**
   * A tensor's float32 values at once (from a file in memory, or read by prefetch), checked against the shape the
   * config implies and for non-finite values. Prefetched bytes are handed over: the checkpoint forgets them, so once
   * the caller has made its tensor from the values (float32 data is a view of the bytes: src/io/safetensors.ts)
   * nothing holds them, and a file's bytes go tensor by tensor, not all at release(). A prefetched tensor is taken
   * once.
   */
  take(name: string, shape: readonly number[]): Float32Array {
    const e = this.entry(name, shape);
    const bytes = this.fetched.get(name) ?? e.source.readSync?.(e.span.begin, e.span.end - e.span.begin);
    if (!bytes)
      throw new ModelInputError(
        `${this.source}/${e.file}: ${name} was not read (prefetch it, or read() it)${this.taken.has(name) ? ': it was taken already' : ''}`,
      );
    const data = this.finite(e, name, decodeSpan(bytes, e.span, name, e.file));
    if (this.fetched.delete(name)) this.taken.add(name);
    return data;
  }

  private readonly fetched = new Map<string, Uint8Array>();
  private readonly taken = new Set<string>();

  /** Read every float tensor of files that are not in memory, so that take() has them (for families that take). */
  async prefetch(): Promise<void> {
    for (const [name, e] of this.tensors)
      if (!e.source.readSync && ['F32', 'F16', 'BF16'].includes(e.span.dtype))
        this.fetched.set(name, await e.source.read(e.span.begin, e.span.end - e.span.begin));
  }

  /** Forget what prefetch read and take() has not taken (the model holds its weights by then). */
  release(): void {
    this.fetched.clear();
  }

  /** A tensor's float32 values, read from its file. */
  async read(name: string, shape: readonly number[]): Promise<Float32Array> {
    const e = this.entry(name, shape);
    return this.finite(e, name, decodeSpan(await e.source.read(e.span.begin, e.span.end - e.span.begin), e.span, name, e.file));
  }

  /**
   * A 16-bit tensor's stored values, not widened (to be kept in 16 bits on the GPU), checked for non-finite values;
   * an F32 tensor is an error (the caller widens nothing then: use read).
   */
  async half(name: string, shape: readonly number[]): Promise<{ dtype: 'BF16' | 'F16'; data: Uint16Array }> {
    const e = this.entry(name, shape);
    const { dtype } = e.span;
    if (dtype !== 'BF16' && dtype !== 'F16') throw new ModelInputError(`${this.source}/${e.file}: ${name} is ${dtype}, not 16-bit`);
    const bytes = await e.source.read(e.span.begin, e.span.end - e.span.begin);
    const data = new Uint16Array(e.span.count);
    new Uint8Array(data.buffer).set(bytes);
    // An all-ones exponent is inf or NaN in both formats.
    const mask = dtype === 'BF16' ? 0x7f80 : 0x7c00;
    for (let i = 0; i < data.length; i++)
      if ((data[i] & mask) === mask) throw new ModelInputError(`${this.source}/${e.file}: ${name} has a non-finite value at ${i}`);
    return { dtype, data };
  }

  /** Rows of a 2-D tensor [R, C] (e.g. the embedding rows of a prompt's tokens) as float32 [rows.length, C]. */
  async rows(name: string, shape: readonly [number, number], rows: readonly number[]): Promise<Float32Array> {
    const e = this.entry(name, shape);
    const [R, C] = shape;
    const size = (e.span.end - e.span.begin) / (R * C);
    const out = new Float32Array(rows.length * C);
    for (let k = 0; k < rows.length; k++) {
      const r = rows[k];
      if (!Number.isInteger(r) || r < 0 || r >= R) throw new ModelInputError(`${name}: row ${r} is outside 0..${R - 1}`);
      const span = { ...e.span, count: C, shape: [C] };
      const data = decodeSpan(await e.source.read(e.span.begin + r * C * size, C * size), span, name, e.file);
      out.set(this.finite(e, name, data, r * C), k * C);
    }
    return out;
  }

  /**
   * Refuse tensors the config does not account for (e.g. n_layer too small): a truncated model would run silently.
   * `ignored` matches buffers that are not parameters (causal masks, rotary tables, a tied head's copy).
   */
  checkNoneUnexpected(expected: ReadonlySet<string>, ignored: RegExp, what: string): void {
    const unexpected = this.names().filter((n) => !expected.has(n) && !ignored.test(n));
    if (unexpected.length)
      throw new ModelInputError(
        `${this.source}: unexpected tensor ${unexpected.slice(0, 4).join(', ')} for ${what} (does config.json match these weights?)`,
      );
  }
}
