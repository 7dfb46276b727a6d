// What every built-in scenario builds (docs/method.md §7): held-out samples, the residual at the SAE's hook,
// the behaviour B (running the rest of the model from the hook), δ positions, and the features ranked by
// the scenario's selection rule. The defaults (defended-set size, clamp, optimiser settings) are not here:
// they live in the scenario catalog (../catalog.ts).
import type { Tensor3D } from '../../core/tf.ts';
import type { Behaviour } from '../../core/site.ts';
import type { ClampRule } from '../../core/clamp.ts';
import type { Sae } from '../../core/sae.ts';
import type { LanguageModel } from '../../model/types.ts';
import type { WordTokenizer } from '../../model/tokenizers/word.ts';
import type { LogitReadout } from '../../model/hook-onward.ts';

export interface ScenarioContext {
  model: LanguageModel;
  tokenizer: WordTokenizer;
  sae: Sae;
  /** The SAE's hook, where the clamp and δ act. */
  hook: string;
}

/** What selects the data: the seed, the number of held-out samples, and (TPP) the target class. */
export interface ScenarioParams {
  seed?: number;
  n?: number;
  /** TPP: the class whose features are ablated. */
  targetClass?: number;
}

export interface ScenarioSample {
  index: number;
  tokens: string[];
  label: string;
  deltaPositions: number[];
}

/** What a scenario's extras are computed under: the defence, as what the model reads at the hook, and a found δ. */
export interface ExtrasRequest {
  features: number[];
  clamp: ClampRule;
  /** The defence at the hook on a clean residual [M, T, d] (no δ): the paper's clamp, or the one a run chose. */
  atHook: (h: Tensor3D) => Tensor3D;
  delta: Tensor3D | null;
}

export interface BuiltScenario {
  title: string;
  /** What B is and what a valid flip is, in plain words. */
  behaviourText: string;
  hook: string;
  samples: ScenarioSample[];
  /** Residual at the hook, [N, T, d] (owned by the scenario). */
  h: Tensor3D;
  behaviour: Behaviour;
  /** B's logit readout, when B is one (the next-token view reads the same position and tokens). */
  readout?: LogitReadout;
  /** δ positions per sample (the scenario's default), padded with −1. */
  positions: number[][];
  /** Every feature the selection rule scores positive, best first; the defended set is a prefix. */
  rank: number[];
  /** The rule, to follow "top-K": e.g. "positive attribution to B at the answer position". */
  featureRule: string;
  /**
   * Scenario-specific numbers for a defence and, optionally, a found δ [N, P, d] (e.g. retain accuracy
   * before / under the clamp / with the recovery, the TPP score).
   */
  extras?: (a: ExtrasRequest) => Promise<Record<string, number | string | null>>;
  /**
   * The scenario's selection rule at another hook with another SAE (multi-layer's later clamps), best first;
   * absent when B reads only the hook's residual (a probe), where later layers cannot matter.
   */
  rankAt?: (hook: string, sae: Sae) => Promise<number[]>;
  dispose(): void;
}
