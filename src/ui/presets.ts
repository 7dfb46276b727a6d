// Presets: one-click configurations with a plain-words box — what the run shows, and what it does not. A
// preset names a scenario and only the settings it changes; every number in its text is read from the
// scenario's table (scenarios/catalog.ts), never restated.
import type { PlaygroundConfig } from './config.ts';
import { SCENARIOS } from '../scenarios/catalog.ts';
import { describeClamp } from '../core/clamp.ts';

export interface Preset {
  id: string;
  title: string;
  /** Replaces the configuration's scenario, defence and run settings (unset = the scenario's). */
  config: Pick<PlaygroundConfig, 'run'> & Partial<Pick<PlaygroundConfig, 'scenario' | 'features' | 'clamp'>>;
  shows: string;
  doesNotShow: string;
}

const ioi = SCENARIOS.ioi.defaults;
const refusal = SCENARIOS.refusal.defaults;

export const PRESETS: Preset[] = [
  {
    id: 'ioi',
    title: 'Reproduce the IOI experiment',
    config: { scenario: 'ioi', features: null, clamp: null, run: {} },
    shows:
      `The paper's IOI setting on the built-in model, with the settings “unclamp run --scenario ioi” uses: the features that carry the indirect object are ` +
      `clamped (${describeClamp(ioi.clamp)}), and one shared δ at the answer position (${ioi.run.steps} Adam steps, lr ${ioi.run.lr}, ‖δ‖ ≤ ${ioi.run.budgetRel} of the ` +
      "residual's norm), kept orthogonal to the clamped features' encoder directions, brings the right name back for some prompts.",
    doesNotShow:
      `GPT-2 small itself: on the small built-in model one shared δ of the paper's relative size (κ ${ioi.run.budgetRel} of the residual's norm) ` +
      'brings back a minority of the prompts, where the paper brings back all of them. Raise κ, or run the budget sweep (Inspect), to see how the ' +
      'rate climbs with the budget.',
  },
  {
    id: 'refusal',
    title: 'Why clamping the refusal features is not enough',
    config: { scenario: 'refusal', features: null, clamp: null, run: {} },
    shows:
      `Amplifying refusal features (${describeClamp(refusal.clamp)} here; the paper multiplies by 3) makes the model refuse requests it used to help with. ` +
      `A small δ at the last prompt token (${refusal.run.budgetRel} of the residual's norm, ${refusal.run.steps} steps, relative drift capped at ${refusal.run.checkpointMaxRelDrift}) ` +
      'that leaves those features almost where the clamp put them restores compliance: the defence acts on the features, the behaviour also lives elsewhere.',
    doesNotShow:
      'That real models can be jailbroken this way without white-box access: the attack needs the weights, the clamp and the residual stream.',
  },
  {
    id: 'encoder-vs-none',
    title: 'Encoder projection vs none',
    config: { run: { mode: 'none' } },
    shows:
      'Run once with mode none, pin it (P), switch the mode to encoder and run again: both recover about as often, but the encoder projection ' +
      "keeps the defended features' drift lower — near zero with “re-project δ” or the projected-gradient optimiser: recovery does not need to " +
      'touch the clamped features at all.',
    doesNotShow:
      'That drift is zero for TopK SAEs (other features can push a defended one in or out of the top k), or that the projection is exact with ' +
      'Adam alone (its per-coordinate steps leave the null space).',
  },
];
