// What loading a scenario yields (scenarios/load.ts makes it; the builders, the run, the engine and the CLI read
// it). A file of its own so that the loaders it comes from (load.ts, model.ts, builtin/) can all name it without
// importing one another.
import type { Tensor3D } from '../core/tf.ts';
import type { Sae } from '../core/sae.ts';
import type { Behaviour } from '../core/site.ts';
import type { ClampRule } from '../core/clamp.ts';
import type { LanguageModel } from '../model/types.ts';
import type { Tokenizer } from '../model/tokenizers/types.ts';
import type { LogitReadout } from '../model/hook-onward.ts';
import type { DeltaPositions, RunSettings, ScenarioId } from './catalog.ts';
import type { BuiltScenario } from './builtin/types.ts';
import type { SaeCheck } from './sae-check.ts';
import type { DefenceKit } from './defences.ts';

export interface SampleInfo {
  index: number;
  /** Token strings when the scenario has text; absent for raw activations. */
  tokens?: string[];
  label?: string;
  /** Token positions where δ is applied by default. */
  deltaPositions: number[];
}

/** The language model behind a scenario with text prompts: the residual at `hook` runs on to the logits. */
export interface ScenarioLm {
  model: LanguageModel;
  tokenizer: Tokenizer;
  hook: string;
  /**
   * B's logit readout (the position read and the weighted tokens, per sample) when B is one — IOI, refusal,
   * unlearning, prompt sets; absent when B reads something else (TPP's probe on the pooled residual).
   */
  readout?: LogitReadout;
}

export interface LoadedScenario {
  id: ScenarioId;
  title: string;
  /** Plain words: what B is, what a valid flip is. */
  behaviourText: string;
  sae: Sae;
  saeInfo: { name: string; architecture: string; hookName?: string; k?: number; notes: string[] };
  modelName?: string;
  /** Residual at the hook [N, T, d], and which tokens are real [N, T]. */
  h: Tensor3D;
  mask: Float32Array;
  behaviour: Behaviour;
  positions: Record<DeltaPositions, number[][]>;
  /** Why one shared δ cannot run at the default positions (they do not line up across samples); absent when it can. */
  sharedDeltaProblem?: string;
  samples: SampleInfo[];
  /** Features the scenario's selection rule scores positive, best first; the default defended set is a prefix. */
  rank: number[];
  featureRule: string;
  /** SAE sparsity from the SAE folder (log10 density), when it has one. */
  logDensity: Float32Array | null;
  defaults: { features: number[]; clamp: ClampRule; run: RunSettings };
  /** What selected the data (seed, n, target class), recorded in results. */
  params: Record<string, number | string>;
  /** Where the inputs came from (file names), recorded in results. */
  sources: Record<string, string>;
  /** The language model, for scenarios with text prompts (refusal's second stage, the next-token view). */
  lm?: ScenarioLm;
  extras?: BuiltScenario['extras'];
  /** What defences other than the paper's clamp need (clean text, later layers); absent for raw activations. */
  defenceKit?: DefenceKit;
  /** Attribution of every feature to B at the default δ positions, when loading already computed it. */
  attribution?: Float32Array;
  /** A real model's SAE read on the scenario's prompts: L0, explained variance, loss with the SAE spliced in. */
  saeCheck?: SaeCheck;
  /** What the user should know before running (e.g. that the run may not fit the memory where it runs). */
  warnings?: string[];
  dispose(): void;
}
