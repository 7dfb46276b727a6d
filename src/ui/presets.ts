// Presets: one-click configurations with a plain-words box — what the run shows, and what it does not.
import type { PlaygroundConfig } from './config.ts';
import { DEFAULT_RUN } from './config.ts';

export interface Preset {
  id: string;
  title: string;
  config: Partial<PlaygroundConfig>;
  shows: string;
  doesNotShow: string;
}

export const PRESETS: Preset[] = [
  {
    id: 'ioi',
    title: 'Reproduce the IOI experiment',
    config: { scenario: 'ioi', features: null, clamp: null, run: { ...DEFAULT_RUN, mode: 'encoder', delta: 'shared', positions: 'default', steps: 100, lr: 0.1, budget: 20 } },
    shows: 'The paper’s IOI setting on the built-in model: the features that carry the indirect object are clamped to −5 where active, and one shared δ at the answer position, kept orthogonal to the clamped features’ encoder directions, brings the right name back for most prompts.',
    doesNotShow: 'GPT-2 small itself (the built-in model is far smaller, so ρ = 20 is a large budget here — watch ‖δ‖/‖h‖), or that the recovered model is otherwise unchanged.',
  },
  {
    id: 'refusal',
    title: 'Why clamping the refusal features is not enough',
    config: { scenario: 'refusal', features: null, clamp: null, run: { ...DEFAULT_RUN, mode: 'encoder', delta: 'per-sample', positions: 'default', steps: 40, lr: 0.08, budget: 30, reproject: true } },
    shows: 'Amplifying refusal features (×8 here, ×3 in the paper) makes the model refuse requests it used to help with. A small δ at the last prompt token that leaves those features almost where the clamp put them restores compliance: the defence acts on the features, the behaviour also lives elsewhere.',
    doesNotShow: 'That real models can be jailbroken this way without white-box access: the attack needs the weights, the clamp and the residual stream.',
  },
  {
    id: 'encoder-vs-none',
    title: 'Encoder projection vs none',
    config: { run: { ...DEFAULT_RUN, mode: 'none' } },
    shows: 'Run once with mode none, pin it (P), switch the mode to encoder and run again: both recover, but the encoder projection keeps the defended features’ drift near zero — recovery does not need to touch the clamped features at all.',
    doesNotShow: 'That drift is zero for TopK SAEs (other features can push a defended one in or out of the top k), or that the projection is exact without “re-project δ” (Adam moves δ slightly out of the null space).',
  },
];
