// What a model family gives the registry (registry.ts): its config parser, its weights read from a checkpoint in the
// Hugging Face layout and processed as TransformerLens processes them, and its tokenizer. Adding a family is one
// folder under families/ exporting a ModelFamily, and one line in registry.ts (docs/architecture.md).
import type { Checkpoint } from './checkpoint.ts';
import type { ModelShape } from './memory-plan.ts';
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

/**
 * What a run keeps of a model, for a family that reads its weights itself (ModelFamily.lazy): a model whose weights
 * do not fit in float32, or not whole, keeps only what the run reads. Absent fields keep everything.
 */
export interface LoadPlan {
  /** Keep the weights stored in 16 bits in 16 bits on the device, where the backend multiplies them natively (WebGPU). */
  weights16?: boolean;
  /**
   * Keep only the layers from this one on (those after the run's hook, which a recovery step runs); the earlier ones
   * are read one at a time, run and freed when the residual at the hook is computed (LanguageModel.streamToHook).
   */
  firstLayer?: number;
  /**
   * Keep only these tokens' embedding (and, tied, unembedding) rows: the prompts' and the read-out's. The full
   * distribution over the vocabulary (the next-token view, generation, the SAE check's loss) then cannot be read.
   */
  tokens?: readonly number[];
}

/**
 * What a family says of a model folder before any weight is read: its config parsed, what the memory plan needs of
 * it, its tokenizer. TensorFlow.js-free (families/<model_type>/config.ts), so the page's main thread plans a run and
 * refuses one that cannot fit before it downloads the weights.
 */
export interface FamilyConfig<C extends ModelConfig = ModelConfig> {
  /** config.json's model_type. */
  readonly modelType: string;
  /** The family's name for people: "GPT-2", "Gemma-2", "GPT-NeoX (Pythia)". */
  readonly title: string;
  /** What 'transformer-lens' processing does to this family's weights and activations, in a sentence. */
  readonly processingNote: string;
  parseConfig(raw: HfConfig, source: string): C;
  /** The config's figures as the memory plan takes them. */
  shape(config: C, raw: HfConfig): ModelShape;
  tokenizer(files: TokenizerFiles, config: C, raw: HfConfig, source: string): Tokenizer;
}

export interface ModelFamily<C extends ModelConfig = ModelConfig> extends FamilyConfig<C> {
  /**
   * Whether load reads the checkpoint itself (Checkpoint.read, half, rows: tensor by tensor from a file that is never
   * held whole) and follows a LoadPlan; otherwise every tensor is read into memory first and load takes them at once.
   */
  readonly lazy?: boolean;
  load(config: C, checkpoint: Checkpoint, processing: WeightProcessing, plan?: LoadPlan): LanguageModel | Promise<LanguageModel>;
}
