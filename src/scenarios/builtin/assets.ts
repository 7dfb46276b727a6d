// Loading the built-in model and its SAEs from public/models/ — through an injected reader of the public
// folder, so the same code runs on Node (files) and in the worker (fetch).
import { loadGpt2 } from '../../model/families/gpt2/load.ts';
import { WordTokenizer } from '../../model/tokenizers/word.ts';
import type { GPT2 } from '../../model/families/gpt2/model.ts';
import { loadSaeLens, type LoadedSae } from '../../io/saelens.ts';
import { InputError } from '../../core/errors.ts';

/** Read a file under public/ by relative path (e.g. "models/index.json"). */
export type ReadAsset = (path: string) => Promise<Uint8Array>;

const MODELS = 'models';

export interface SaeIndexEntry {
  id: string;
  name: string;
  path: string;
  hook: string;
  architecture: string;
  width: number;
  k: number | null;
  explainedVariance: number;
  meanL0: number;
  deadShare: number;
  role: string;
}

export interface ModelIndexEntry {
  name: string;
  path: string;
  description: string;
  saes: SaeIndexEntry[];
  /** The SAE the scenarios use unless told otherwise. */
  defaultSae: string;
}

export interface BuiltinModel {
  entry: ModelIndexEntry;
  model: GPT2;
  tokenizer: WordTokenizer;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

export async function readModelIndex(read: ReadAsset): Promise<ModelIndexEntry[]> {
  return JSON.parse(text(await read(`${MODELS}/index.json`))).models;
}

export async function loadBuiltinModel(read: ReadAsset, name?: string): Promise<BuiltinModel> {
  const index = await readModelIndex(read);
  const entry = name ? index.find((m) => m.name === name) : index[0];
  if (!entry) throw new InputError(`no built-in model named "${name}" (have: ${index.map((m) => m.name).join(', ')})`);
  const dir = `${MODELS}/${entry.path}`;
  const [cfg, weights, tok] = await Promise.all([
    read(`${dir}/config.json`),
    read(`${dir}/model.safetensors`),
    read(`${dir}/tokenizer.json`),
  ]);
  const { model } = loadGpt2(text(cfg), weights, entry.name);
  return { entry, model, tokenizer: WordTokenizer.fromJSON(text(tok)) };
}

export async function loadBuiltinSae(
  read: ReadAsset,
  m: ModelIndexEntry,
  saeId?: string,
): Promise<{ entry: SaeIndexEntry; loaded: LoadedSae }> {
  const entry = m.saes.find((s) => s.id === (saeId ?? m.defaultSae) || s.name === saeId);
  if (!entry) throw new InputError(`model ${m.name} has no SAE "${saeId}" (have: ${m.saes.map((s) => s.id).join(', ')})`);
  const base = `${MODELS}/${m.path}/${entry.path}`;
  const [cfg, weights, sparsity] = await Promise.all([
    read(`${base}/cfg.json`),
    read(`${base}/sae_weights.safetensors`),
    read(`${base}/sparsity.safetensors`),
  ]);
  return { entry, loaded: loadSaeLens({ cfgJson: text(cfg), weights, sparsity }, { source: entry.name }) };
}
