// Reading the user's files on Node, with errors that say which file and why.
import { existsSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../core/errors.ts';
import { PUBLIC_DIR } from '../engine/node-host.ts';
import type { SaeFolderFiles } from '../io/saelens.ts';
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
  const sparsity = path.join(dir, 'sparsity.safetensors');
  return {
    cfgJson: readText(path.join(dir, 'cfg.json'), 'SAE config'),
    weights: readBytes(path.join(dir, 'sae_weights.safetensors'), 'SAE weights'),
    sparsity: existsSync(sparsity) ? readBytes(sparsity, 'SAE sparsity') : undefined,
  };
}

/** A Hugging Face GPT-2 folder: config.json + model.safetensors (+ tokenizer.json for a word-level model). */
export function readModelDir(dir: string): { configJson: string; weights: Uint8Array; tokenizerJson?: string; name: string } {
  if (!existsSync(dir)) throw new InputError(`model directory ${dir} does not exist`);
  if (!statSync(dir).isDirectory())
    throw new InputError(`--model expects a directory (config.json, model.safetensors), got the file ${dir}`);
  const tokenizer = path.join(dir, 'tokenizer.json');
  return {
    configJson: readText(path.join(dir, 'config.json'), 'model config'),
    weights: readBytes(path.join(dir, 'model.safetensors'), 'model weights'),
    tokenizerJson: existsSync(tokenizer) ? readText(tokenizer, 'tokenizer') : undefined,
    name: dir,
  };
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
