// The model families Unclamp loads, keyed by config.json's model_type, and loading a Hugging Face model folder
// through the family it names.
import { Checkpoint, type WeightFile } from './checkpoint.ts';
import { type HfConfig, parseConfigJson } from './config.ts';
import { ModelInputError } from './errors.ts';
import type { ModelFamily, TokenizerFiles, WeightProcessing } from './family.ts';
import { gemma2Family } from './families/gemma2/index.ts';
import { gpt2Family } from './families/gpt2/index.ts';
import { gptNeoxFamily } from './families/gpt_neox/index.ts';
import type { Tokenizer } from './tokenizers/types.ts';
import type { LanguageModel } from './types.ts';

// One line per family.
export const FAMILIES: Readonly<Record<string, ModelFamily>> = {
  gpt2: gpt2Family,
  gemma2: gemma2Family,
  gpt_neox: gptNeoxFamily,
};

/** The family config.json's model_type names (GPT-2 checkpoints written before model_type existed have none). */
export function familyOf(raw: HfConfig, source: string): ModelFamily {
  const type = raw.model_type ?? 'gpt2';
  if (typeof type === 'string' && Object.hasOwn(FAMILIES, type)) return FAMILIES[type];
  throw new ModelInputError(
    `${source}: model_type ${JSON.stringify(type)} is not supported (supported: ${Object.keys(FAMILIES).join(', ')})`,
  );
}

/** A Hugging Face model folder's files: config.json, the weights (one file or the shards of an index), tokenizer files. */
export interface ModelFolder extends TokenizerFiles {
  /** How results and messages name the model (a path or hf: reference). */
  name: string;
  configJson: string;
  weights: readonly WeightFile[];
}

export interface LoadedModel {
  model: LanguageModel;
  tokenizer: Tokenizer;
  family: ModelFamily;
  raw: HfConfig;
  processing: WeightProcessing;
}

export function loadModel(folder: ModelFolder, processing: WeightProcessing = 'transformer-lens'): LoadedModel {
  const source = folder.name;
  if (!folder.weights.length) throw new ModelInputError(`${source}: no weights file`);
  const raw = parseConfigJson(folder.configJson, `${source}/config.json`);
  const family = familyOf(raw, `${source}/config.json`);
  const config = family.parseConfig(raw, `${source}/config.json`);
  // The tokenizer before the weights: a wrong tokenizer file is cheap to report, the weights are not cheap to load.
  const tokenizer = family.tokenizer(folder, config, raw, source);
  const model = family.load(config, new Checkpoint(folder.weights, source), processing);
  return { model, tokenizer, family, raw, processing };
}
