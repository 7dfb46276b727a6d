// The model families by config.json's model_type, as far as a folder is read before its weights: each family's
// config parser, memory-plan figures and tokenizer (families/<model_type>/config.ts). No TensorFlow.js: the page's
// main thread opens a model folder with this, plans the run and refuses one that cannot fit before downloading the
// weights. The same families with their weight loaders are registry.ts's; a family is a line in each.
import { type HfConfig, parseConfigJson } from './config.ts';
import { ModelInputError } from './errors.ts';
import type { FamilyConfig, TokenizerFiles } from './family.ts';
import { gemma2FamilyConfig } from './families/gemma2/config.ts';
import { gpt2FamilyConfig } from './families/gpt2/config.ts';
import { gptNeoxFamilyConfig } from './families/gpt_neox/config.ts';
import type { ModelShape } from './memory-plan.ts';
import type { Tokenizer } from './tokenizers/types.ts';
import type { ModelConfig } from './types.ts';

// One line per family.
export const FAMILY_CONFIGS: Readonly<Record<string, FamilyConfig>> = {
  gpt2: gpt2FamilyConfig as FamilyConfig,
  gemma2: gemma2FamilyConfig as FamilyConfig,
  gpt_neox: gptNeoxFamilyConfig as FamilyConfig,
};

/** The model_type config.json names (GPT-2 checkpoints written before model_type existed have none). */
export function modelTypeOf(raw: HfConfig, source: string): string {
  const type = raw.model_type ?? 'gpt2';
  if (typeof type === 'string' && Object.hasOwn(FAMILY_CONFIGS, type)) return type;
  throw new ModelInputError(
    `${source}: model_type ${JSON.stringify(type)} is not supported (supported: ${Object.keys(FAMILY_CONFIGS).join(', ')})`,
  );
}

/** What a model folder is before its weights are read: its family, config, memory-plan figures and tokenizer. */
export interface OpenedModel {
  source: string;
  raw: HfConfig;
  modelType: string;
  family: FamilyConfig;
  config: ModelConfig;
  shape: ModelShape;
  tokenizer: Tokenizer;
}

/** A folder's family, config and tokenizer, no weight read: enough to tokenise prompts and plan what to load. */
export function openModel(folder: TokenizerFiles & { name: string; configJson: string }): OpenedModel {
  const source = folder.name;
  const raw = parseConfigJson(folder.configJson, `${source}/config.json`);
  const modelType = modelTypeOf(raw, `${source}/config.json`);
  const family = FAMILY_CONFIGS[modelType];
  const config = family.parseConfig(raw, `${source}/config.json`);
  const tokenizer = family.tokenizer(folder, config, raw, source);
  return { source, raw, modelType, family, config, shape: { ...family.shape(config, raw), name: source }, tokenizer };
}
