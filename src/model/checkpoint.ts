// A Hugging Face checkpoint's tensors by name: one model.safetensors, or the shards a model.safetensors.index.json
// names (gemma-2-2b-it comes in two). Families read their weights through this, with the shape each expects and a
// message naming the file and the tensor when one is missing, misshapen or not finite.
import { parseSafetensors, type LoadedTensor } from '../io/safetensors.ts';
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

export class Checkpoint {
  private readonly tensors = new Map<string, { tensor: LoadedTensor; file: string }>();

  /** `source` names the model folder in messages. */
  constructor(
    files: readonly WeightFile[],
    readonly source: string,
  ) {
    if (!files.length) throw new ModelInputError(`${source}: no weights file`);
    for (const f of files) {
      const where = `${source}/${f.name}`;
      const parsed = parseSafetensors(f.bytes instanceof Uint8Array ? f.bytes : new Uint8Array(f.bytes), where);
      for (const [name, tensor] of parsed.tensors) {
        const seen = this.tensors.get(name);
        if (seen) throw new ModelInputError(`${where}: tensor "${name}" is also in ${seen.file}`);
        this.tensors.set(name, { tensor, file: f.name });
      }
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** A tensor's float32 values, checked against the shape the config implies and for non-finite values. */
  take(name: string, shape: readonly number[]): Float32Array {
    const entry = this.tensors.get(name);
    if (!entry) throw new ModelInputError(`${this.source}: missing ${name}`);
    const { tensor: t, file } = entry;
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i]))
      throw new ModelInputError(
        `${this.source}/${file}: ${name} has shape [${t.shape.join(', ')}], config.json implies [${shape.join(', ')}]`,
      );
    for (let i = 0; i < t.data.length; i++)
      if (!Number.isFinite(t.data[i])) throw new ModelInputError(`${this.source}/${file}: ${name} has a non-finite value at ${i}`);
    return t.data;
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
