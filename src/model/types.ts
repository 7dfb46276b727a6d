// What a scenario may ask of a language model, whatever its family (docs/architecture.md, "Adding a model
// family"). Each family (src/model/families/<model_type>/) implements this interface with TransformerLens's hook
// names; the scenarios, the recovery site's behaviours, the SAE check, the next-token view, `inspect` and the
// benches use only this. The registry (registry.ts) maps config.json's model_type to a family.
import type { Tensor, Tensor2D, Tensor3D, Tensor4D } from '../core/tf.ts';

/** What every family's config reduces to; a family keeps its own fields beside these. */
export interface ModelConfig {
  nLayer: number;
  dModel: number;
  /** The longest sequence the model takes (positions, or the rotary table's length). */
  nCtx: number;
  vocabSize: number;
}

/** A hook returns the replacement activation, or nothing to leave it unchanged. */
export type HookFn = (act: Tensor, name: string) => Tensor | undefined;

/**
 * Keys and values of earlier positions at one attention layer, as attention reads them: [B, H_kv, T_past, d_head]
 * (keys after any rotary embedding). A run given these starts at position T_past.
 */
export interface PastKV {
  k: Tensor4D;
  v: Tensor4D;
}

export interface RunOptions {
  /** Hooks by exact name. */
  hooks?: Record<string, HookFn>;
  /** Names to record (map each to anything, e.g. null); filled with the activation after any hook at that
   *  point, kept out of the caller's tf.tidy: the caller disposes them. */
  cache?: Map<string, Tensor>;
  /** [B, T], 1 = real token. Keys at padded positions are masked out (right padding). */
  attentionMask?: Tensor2D;
  /** 'gather' (fast) or 'onehot' (one-hot · W_E: differentiable on every backend). */
  embedding?: 'gather' | 'onehot';
  /** Compute logits only at one position per batch row: the result is [B, 1, V]. */
  logitsAt?: readonly number[];
  /**
   * Keys and values of earlier positions, by layer: the input then holds only the positions after them, and
   * attention also reads these (see hook-onward.ts).
   */
  pastKV?: readonly (PastKV | undefined)[];
}

export type ResidPoint = 'hook_resid_pre' | 'hook_resid_mid' | 'hook_resid_post';

/**
 * The unembedding restricted to a few tokens: their logits from final-residual rows, computed as the full forward
 * computes them (final norm, the tokens' unembedding columns, any bias, any soft-capping), so a logit readout pays
 * for C columns instead of the whole vocabulary.
 */
export interface LogitColumns {
  readonly tokens: readonly number[];
  /** [R, d] final residual rows (before the final norm) → [R, C] logits. */
  logits(rows: Tensor2D): Tensor2D;
  dispose(): void;
}

export interface LanguageModel {
  /** The registry key: config.json's model_type ('gpt2', 'gemma2', 'gpt_neox'). */
  readonly family: string;
  readonly config: ModelConfig;
  /** Every hook point name, in the order the forward pass reaches them. */
  hookNames(): string[];
  /** A residual hook's layer and point; a ModelInputError for a name this family has no residual at. */
  residHook(name: string): { layer: number; point: ResidPoint };
  /** The activation names whose cached values, transposed to [B, H_kv, T, d_head], are a layer's PastKV. */
  readonly kvHooks: { k: string; v: string };
  /** Logits [B, T, V] for token ids [B][T] (right-padded when ragged). */
  forward(ids: number[][], opts?: RunOptions): Tensor3D;
  /** The residual at a hook point (nothing after it is run). */
  runToHook(ids: number[][], hook: string, opts?: RunOptions): Tensor3D;
  /** The final residual (before the final norm) from a residual given at a hook point; hooks at and after it apply. */
  residualFrom(hook: string, resid: Tensor3D, opts?: RunOptions): Tensor3D;
  /** Logits from a residual given at a hook point: residualFrom, then unembed. */
  forwardFrom(hook: string, resid: Tensor3D, opts?: RunOptions): Tensor3D;
  /** The final norm and the unembedding (and any soft-capping) of a final residual [B, T, d]. */
  unembed(x: Tensor3D, opts?: RunOptions): Tensor3D;
  logitColumns(tokens: readonly number[]): LogitColumns;
  /** What of the model is held, in words, where a LoadPlan kept less than all of it in float32 (for results and the page). */
  residency?(): string | null;
  /** False when the model keeps only some tokens' unembedding rows (LoadPlan.tokens): whole-vocabulary logits fail. */
  readonly wholeVocabulary?: boolean;
  /**
   * The residual at a hook for a batch when the model keeps only the layers after it (a LoadPlan's firstLayer): the
   * earlier layers are read from the checkpoint one at a time, run and freed. Absent: runToHook has every layer.
   */
  streamToHook?(ids: number[][], hook: string, chunk?: number): Promise<Tensor3D>;
  dispose(): void;
}
