// Test helpers for the GPT-NeoX family: the committed fixture folders (src/model/__fixtures__/tiny-neox*, see
// scripts/fixtures/make-family-fixtures.ts) read as a model folder, and small random configs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadedTensor } from '../../../io/safetensors.ts';
import { parseSafetensors } from '../../../io/safetensors.ts';
import type { WeightProcessing } from '../../family.ts';
import type { WeightFile } from '../../checkpoint.ts';
import { type LoadedModel, loadModelSync, type ModelFolder } from '../../registry.ts';
import type { GptNeoxConfig } from './model.ts';

export const FIXTURES = path.resolve(import.meta.dirname, '../../__fixtures__');
export const NEOX_DIRS = { parallel: path.join(FIXTURES, 'tiny-neox'), sequential: path.join(FIXTURES, 'tiny-neox-sequential') };
export const NEOX_SAE_DIR = path.join(FIXTURES, 'tiny-neox-saes', 'blocks.1.hook_resid_pre');

/**
 * The checkpoint without its tensors of non-float dtypes (the U8 causal-mask buffers attention.bias), for
 * parseSafetensors, which decodes every tensor (tests that edit a checkpoint rewrite it from these).
 */
export function floatTensorsOnly(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { dtype?: string }>;
  for (const [k, v] of Object.entries(header))
    if (k !== '__metadata__' && !['F32', 'F16', 'BF16'].includes(v.dtype ?? '')) delete header[k];
  let json = JSON.stringify(header);
  while (json.length % 8) json += ' ';
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + bytes.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  out.set(bytes.subarray(8 + n), 8 + hb.length);
  return out;
}

/**
 * A fixture's model folder, model.safetensors as transformers saved it (its U8, F16 −inf and inv_freq buffers
 * included); `weights` replaces it, `config` edits config.json.
 */
export function neoxFolder(
  dir: string,
  edit: { weights?: Uint8Array; config?: Record<string, unknown> } = {},
): ModelFolder & { weights: WeightFile[] } {
  const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
  const config = { ...JSON.parse(read('config.json')), ...edit.config };
  return {
    name: path.basename(dir),
    configJson: JSON.stringify(config),
    weights: [{ name: 'model.safetensors', bytes: edit.weights ?? readFileSync(path.join(dir, 'model.safetensors')) }],
    tokenizerJson: read('tokenizer.json'),
    tokenizerConfigJson: read('tokenizer_config.json'),
  };
}

export function loadNeoxFixture(dir: string, processing: WeightProcessing = 'none'): LoadedModel {
  return loadModelSync(neoxFolder(dir), processing);
}

/** The fixture checkpoint's float tensors, by name (F16 values as float32). */
export function neoxTensors(dir: string): Map<string, LoadedTensor> {
  return parseSafetensors(floatTensorsOnly(readFileSync(path.join(dir, 'model.safetensors')))).tensors;
}

export interface NeoxIds {
  texts: string[];
  /** [B][T], right-padded. */
  ids: number[][];
  attention_mask: number[][];
}

export function neoxIds(dir: string): NeoxIds {
  return JSON.parse(readFileSync(path.join(dir, 'ids.json'), 'utf8'));
}

export function neoxReference(dir: string): Map<string, LoadedTensor> {
  return parseSafetensors(readFileSync(path.join(dir, 'reference.safetensors'))).tensors;
}

/** A small config for random models (overrides as given). */
export function tinyConfig(over: Partial<GptNeoxConfig> = {}): GptNeoxConfig {
  return {
    nLayer: 2,
    dModel: 32,
    nHead: 4,
    dMlp: 64,
    nCtx: 16,
    vocabSize: 50,
    rotaryDims: 4,
    rotaryBase: 10000,
    parallel: true,
    act: 'erf',
    lnEps: 1e-5,
    tiedEmbeddings: false,
    attentionBias: true,
    ...over,
  };
}
