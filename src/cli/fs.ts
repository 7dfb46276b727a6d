// Reading the user's files on Node, with errors that say which file and why.
import { existsSync, mkdirSync, openAsBlob, readFileSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../core/errors.ts';
import { PUBLIC_DIR } from '../engine/node-host.ts';
import type { SaeFolder } from '../io/sae-folder.ts';
import type { SaeFolderFiles } from '../io/saelens.ts';
import { blobSource } from '../io/byte-source.ts';
import { shardNames, WEIGHTS_FILE, WEIGHTS_INDEX, type WeightSource } from '../model/checkpoint.ts';
import type { ModelFolder } from '../model/registry.ts';
import type { ReadAsset } from '../scenarios/builtin/assets.ts';
import type { ProbeFiles } from '../scenarios/load.ts';

export { PUBLIC_DIR };

export const readPublic: ReadAsset = async (p) => {
  try {
    return new Uint8Array(await readFile(path.join(PUBLIC_DIR, p)));
  } catch (e) {
    throw new InputError(`cannot read public/${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
};

export function readBytes(file: string, what: string): Uint8Array {
  if (!existsSync(file)) throw new InputError(`${what} ${file} does not exist`);
  if (statSync(file).isDirectory()) throw new InputError(`${what} ${file} is a directory, expected a file`);
  const buf = readFileSync(file);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function readText(file: string, what: string): string {
  return new TextDecoder().decode(readBytes(file, what));
}

/** An SAELens SAE folder: cfg.json + sae_weights.safetensors (+ sparsity.safetensors). */
export function readSaeDir(dir: string): SaeFolderFiles {
  if (!existsSync(dir)) throw new InputError(`SAE directory ${dir} does not exist`);
  if (!statSync(dir).isDirectory())
    throw new InputError(`--sae expects a directory (cfg.json + sae_weights.safetensors), got the file ${dir}`);
  if (!existsSync(path.join(dir, 'cfg.json')) && existsSync(path.join(dir, 'params.npz')))
    throw new InputError(
      `${dir} is a Gemma Scope folder (params.npz); this command takes a SAELens folder (cfg.json + sae_weights.safetensors)`,
    );
  const sparsity = path.join(dir, 'sparsity.safetensors');
  return {
    cfgJson: readText(path.join(dir, 'cfg.json'), 'SAE config'),
    weights: readBytes(path.join(dir, 'sae_weights.safetensors'), 'SAE weights'),
    sparsity: existsSync(sparsity) ? readBytes(sparsity, 'SAE sparsity') : undefined,
  };
}

/**
 * An SAE folder of either layout (src/io/sae-folder.ts): SAELens (cfg.json + sae_weights.safetensors, read by
 * readSaeDir) or, without a cfg.json, Gemma Scope (params.npz; the folder's path, layer_L/width_W/average_l0_N, names
 * the hook and the width).
 */
export function readSaeFolder(dir: string): SaeFolder {
  if (existsSync(dir) && statSync(dir).isDirectory() && !existsSync(path.join(dir, 'cfg.json'))) {
    const params = path.join(dir, 'params.npz');
    if (existsSync(params)) return { layout: 'gemma-scope', params: readBytes(params, 'Gemma Scope weights'), path: dir };
    throw new InputError(
      `SAE directory ${dir} has neither cfg.json + sae_weights.safetensors (a SAELens folder) nor params.npz (a Gemma Scope folder)`,
    );
  }
  return readSaeDir(dir);
}

/**
 * A Hugging Face model folder: config.json, the weights (model.safetensors, or the shards model.safetensors.index.json
 * names) and the tokenizer files present (tokenizer.json, tokenizer_config.json). The weights are opened, not read:
 * a family that reads its own (Gemma-2) takes tensor by tensor what its run needs from a file of gigabytes.
 */
export async function readModelDir(dir: string): Promise<ModelFolder> {
  const meta = readModelMeta(dir);
  const optional = (name: string, what: string) => (existsSync(path.join(dir, name)) ? readText(path.join(dir, name), what) : undefined);
  const index = optional(WEIGHTS_INDEX, 'model weights index');
  const files =
    index !== undefined && !existsSync(path.join(dir, WEIGHTS_FILE)) ? shardNames(index, path.join(dir, WEIGHTS_INDEX)) : [WEIGHTS_FILE];
  return { ...meta, weights: await Promise.all(files.map((name) => weightSource(path.join(dir, name), name))) };
}

/** A model folder's config.json and tokenizer files: what a run's plan needs before any weight is read. */
export function readModelMeta(dir: string): Omit<ModelFolder, 'weights'> {
  if (!existsSync(dir)) throw new InputError(`model directory ${dir} does not exist`);
  if (!statSync(dir).isDirectory())
    throw new InputError(`--model expects a directory (config.json, model.safetensors), got the file ${dir}`);
  const optional = (name: string, what: string) => (existsSync(path.join(dir, name)) ? readText(path.join(dir, name), what) : undefined);
  return {
    configJson: readText(path.join(dir, 'config.json'), 'model config'),
    tokenizerJson: optional('tokenizer.json', 'tokenizer'),
    tokenizerConfigJson: optional('tokenizer_config.json', 'tokenizer config'),
    name: dir,
  };
}

/** A weights file opened for reading by ranges (fs.openAsBlob: the file is not read here). */
async function weightSource(file: string, name: string): Promise<WeightSource> {
  if (!existsSync(file)) throw new InputError(`model weights ${file} does not exist`);
  if (statSync(file).isDirectory()) throw new InputError(`model weights ${file} is a directory, expected a file`);
  return { name, source: blobSource(await openAsBlob(file), name) };
}

/** The probe scenario's three inputs, read and named by their paths. */
export function readProbeFiles(sae: string, activations: string, probe: string): ProbeFiles {
  const acts = readBytes(activations, 'activations file');
  const pr = readBytes(probe, 'probe file');
  return { ...readSaeDir(sae), activations: acts, probe: pr };
}

export function writeOutput(file: string, content: string | Uint8Array): void {
  const dir = path.dirname(path.resolve(file));
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, content);
  } catch (e) {
    throw new InputError(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
