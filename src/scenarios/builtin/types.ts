// What every built-in scenario provides (DESIGN §3): held-out samples, the residual at the SAE's hook, the
// behaviour B (running the rest of the model from the hook), δ slots, the default defended features,
// clamp rule and optimiser defaults — everything a RecoverySite and a RecoveryRun need.
import type { Tensor3D } from '../../core/tf.ts';
import type { Behaviour } from '../../core/site.ts';
import type { ClampRule } from '../../core/intervention.ts';
import type { RecoveryOptions } from '../../core/recovery.ts';
import type { Sae } from '../../core/sae.ts';
import type { GPT2 } from '../../model/gpt2.ts';
import type { WordTokenizer } from '../../model/tokenizers/word.ts';

export type ScenarioId = 'ioi' | 'refusal' | 'tpp' | 'unlearning';
export const SCENARIO_IDS: ScenarioId[] = ['ioi', 'refusal', 'tpp', 'unlearning'];

export interface ScenarioContext {
  model: GPT2;
  tokenizer: WordTokenizer;
  sae: Sae;
  /** The SAE's hook, where the clamp and δ act. */
  hook: string;
}

export interface ScenarioParams {
  seed?: number;
  /** Number of held-out samples. */
  n?: number;
  /** Size of the default defended set. */
  k?: number;
  /** Clamp magnitude m (set to −m where active) or factor α (multiply). */
  clampValue?: number;
  /** TPP: the class whose features are ablated. */
  targetClass?: number;
}

export interface ScenarioSample {
  index: number;
  tokens: string[];
  label: string;
  deltaPositions: number[];
}

export interface BuiltScenario {
  id: ScenarioId;
  title: string;
  /** What B is and what a valid flip is, in plain words. */
  behaviourText: string;
  hook: string;
  samples: ScenarioSample[];
  /** Residual at the hook, [N, T, d] (owned by the scenario). */
  h: Tensor3D;
  behaviour: Behaviour;
  positions: number[][];
  /** Default defended features and how they were chosen. */
  features: number[];
  featureRule: string;
  clamp: ClampRule;
  options: Partial<RecoveryOptions>;
  /**
   * Scenario-specific numbers for a defence and, optionally, a found δ [N|1, P, d] (e.g. retain accuracy
   * before / under the clamp / with the recovery, the TPP score).
   */
  extras?: (a: { features: number[]; clamp: ClampRule; delta: Tensor3D | null }) => Promise<Record<string, number | string | null>>;
  dispose(): void;
}
