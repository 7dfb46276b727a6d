// The model families Unclamp loads, keyed by config.json's model_type, and loading a Hugging Face model folder
// through the family it names.
import { Checkpoint, type WeightBlob, type WeightFile, type WeightSource } from './checkpoint.ts';
import type { HfConfig } from './config.ts';
import { modelTypeOf, type OpenedModel, openModel } from './configs.ts';
import { ModelInputError } from './errors.ts';
import type { LoadPlan, ModelFamily, TokenizerFiles, WeightProcessing } from './family.ts';
import { gemma2Family } from './families/gemma2/index.ts';
import { gpt2Family } from './families/gpt2/index.ts';
import { gptNeoxFamily } from './families/gpt_neox/index.ts';
import type { Tokenizer } from './tokenizers/types.ts';
import type { LanguageModel } from './types.ts';

export { type OpenedModel, openModel };

// One line per family (and one in configs.ts).
export const FAMILIES: Readonly<Record<string, ModelFamily>> = {
  gpt2: gpt2Family,
  gemma2: gemma2Family,
  gpt_neox: gptNeoxFamily,
};

/** The family config.json's model_type names (GPT-2 checkpoints written before model_type existed have none). */
export function familyOf(raw: HfConfig, source: string): ModelFamily {
  return FAMILIES[modelTypeOf(raw, source)];
}

/** A Hugging Face model folder's files: config.json, the weights (one file or the shards of an index), tokenizer files. */
export interface ModelFolder extends TokenizerFiles {
  /** How results and messages name the model (a path or hf: reference). */
  name: string;
  configJson: string;
  /** In memory, or read on demand: byte sources (a file on disk), Blobs (a file in the browser's storage). */
  weights: readonly (WeightFile | WeightSource | WeightBlob)[];
}

export interface LoadedModel {
  model: LanguageModel;
  tokenizer: Tokenizer;
  family: ModelFamily;
  raw: HfConfig;
  processing: WeightProcessing;
}

/** The weights of an opened folder; `plan` says what a lazy family keeps (LoadPlan). */
export async function loadWeights(
  opened: OpenedModel,
  weights: ModelFolder['weights'],
  processing: WeightProcessing = 'transformer-lens',
  plan: LoadPlan = {},
): Promise<LoadedModel> {
  const { source, raw, config, tokenizer } = opened;
  const family = FAMILIES[opened.modelType];
  if (!weights.length) throw new ModelInputError(`${source}: no weights file`);
  const checkpoint = await Checkpoint.open(weights, source);
  if (!family.lazy) await checkpoint.prefetch();
  const model = await family.load(config, checkpoint, processing, plan);
  checkpoint.release();
  return { model, tokenizer, family, raw, processing };
}

/** A model folder through the family its config.json names (the tokenizer is checked before any weight is read). */
export async function loadModel(
  folder: ModelFolder,
  processing: WeightProcessing = 'transformer-lens',
  plan: LoadPlan = {},
): Promise<LoadedModel> {
  return loadWeights(openModel(folder), folder.weights, processing, plan);
}

/**
 * The same at once, for a folder whose weights are in memory and a family that takes them at once (not lazy): tests
 * and the built-in model.
 */
export function loadModelSync(
  folder: ModelFolder & { weights: readonly WeightFile[] },
  processing: WeightProcessing = 'transformer-lens',
): LoadedModel {
  if (!folder.weights.length) throw new ModelInputError(`${folder.name}: no weights file`);
  const { source, raw, modelType, config, tokenizer } = openModel(folder);
  const family = FAMILIES[modelType];
  if (family.lazy) throw new ModelInputError(`${source}: ${family.title} models load asynchronously (loadModel)`);
  const model = family.load(config, new Checkpoint(folder.weights, source), processing);
  if (model instanceof Promise) throw new ModelInputError(`${source}: ${family.title} models load asynchronously (loadModel)`);
  return { model, tokenizer, family, raw, processing };
}
