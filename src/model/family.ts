// What a model family gives the registry (registry.ts): its config parser, its weights read from a checkpoint in the
// Hugging Face layout and processed as TransformerLens processes them, and its tokenizer. Adding a family is one
// folder under families/ exporting a ModelFamily, and one line in registry.ts (docs/architecture.md).
import type { Checkpoint } from './checkpoint.ts';
import type { HfConfig } from './config.ts';
import type { Tokenizer } from './tokenizers/types.ts';
import type { LanguageModel, ModelConfig } from './types.ts';

/**
 * 'transformer-lens': the weights as TransformerLens's from_pretrained processes this family by default (what
 * SAELens SAEs were trained on; what each family's does is its processingNote); 'none': as stored.
 */
export type WeightProcessing = 'transformer-lens' | 'none';
export const WEIGHT_PROCESSINGS = ['transformer-lens', 'none'] as const satisfies readonly WeightProcessing[];

/** The tokenizer files a model folder may carry beside config.json. */
export interface TokenizerFiles {
  tokenizerJson?: string;
  tokenizerConfigJson?: string;
}

export interface ModelFamily<C extends ModelConfig = ModelConfig> {
  /** config.json's model_type. */
  readonly modelType: string;
  /** The family's name for people: "GPT-2", "Gemma-2", "GPT-NeoX (Pythia)". */
  readonly title: string;
  /** What 'transformer-lens' processing does to this family's weights and activations, in a sentence. */
  readonly processingNote: string;
  parseConfig(raw: HfConfig, source: string): C;
  load(config: C, checkpoint: Checkpoint, processing: WeightProcessing): LanguageModel;
  tokenizer(files: TokenizerFiles, config: C, raw: HfConfig, source: string): Tokenizer;
}
