// The scenario registry as data: every scenario's id, title, blurb and its one table of defaults (optimiser
// settings, δ positions, clamp, defended-set size). The CLI, the worker, the report, the page, its presets
// and its blurbs all read these; nobody restates a number. Data only — no TensorFlow.js — so the page can
// import it. The paper's own settings sit beside ours where they differ, with the reason (docs/method.md §7).
import { describeClamp, type ClampRule } from '../core/clamp.ts';
import type { DeltaSharing, ProjectionMode } from '../core/recovery.ts';

export const BUILTIN_SCENARIO_IDS = ['ioi', 'refusal', 'tpp', 'unlearning'] as const;
export type BuiltinScenarioId = (typeof BUILTIN_SCENARIO_IDS)[number];
/** probe-example: the bundled synthetic probe; probe: the user's own SAE + activations + probe files. */
export const SCENARIO_IDS = [...BUILTIN_SCENARIO_IDS, 'probe-example', 'probe'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

/** default: the scenario's own δ positions (probe: every token; IOI: the answer position; …). */
export const DELTA_POSITIONS = ['default', 'all', 'last'] as const;
export type DeltaPositions = (typeof DELTA_POSITIONS)[number];

/** The run settings a user can change; unset ones take the scenario's value. */
export interface RunSettings {
  mode: ProjectionMode;
  delta: DeltaSharing;
  positions: DeltaPositions;
  steps: number;
  lr: number;
  /** ρ: ‖δ‖ ≤ ρ per sample, or for the shared δ. */
  budget: number;
  lambdaAct: number;
  seed: number;
  /** encoder mode: re-project δ itself after each step (exact encoder orthogonality). */
  reproject: boolean;
  /** Drift-constrained checkpoint selection: report the best δ whose relative drift ≤ this (null: off). */
  checkpointMaxRelDrift: number | null;
}
export const RUN_SETTING_KEYS = [
  'mode',
  'delta',
  'positions',
  'steps',
  'lr',
  'budget',
  'lambdaAct',
  'seed',
  'reproject',
  'checkpointMaxRelDrift',
] as const satisfies readonly (keyof RunSettings)[];

export interface ScenarioDefaults {
  run: RunSettings;
  clamp: ClampRule;
  /** Size of the default defended set, from the SAE's width. */
  k: (dSae: number) => number;
  /** Held-out samples (null: every prompt the scenario has). */
  n: number | null;
  /** Refusal: the second stage (δ at the teacher-forced answer positions, stage 1's δ kept fixed). */
  stage2?: Pick<RunSettings, 'mode' | 'delta' | 'steps' | 'lr' | 'budget' | 'checkpointMaxRelDrift'>;
}

export interface ScenarioEntry {
  id: ScenarioId;
  title: string;
  kind: 'builtin' | 'probe';
  defaults: ScenarioDefaults;
  /** The paper's setting, where ours differs, and why. */
  paper?: { differs: string };
  /** One or two sentences for the scenario menu, written from the defaults. */
  blurb: string;
}

const clampDown = (m: number): ClampRule => ({ kind: 'set', value: -m, onlyActive: true });
const ZERO: ClampRule = { kind: 'set', value: 0, onlyActive: false };
const clampK = (lo: number, hi: number, divisor: number) => (dSae: number) => Math.min(hi, Math.max(lo, Math.round(dSae / divisor)));
const BASE_RUN = { lambdaAct: 0, seed: 0, positions: 'default', checkpointMaxRelDrift: null } as const;

const DEFAULTS: Record<ScenarioId, ScenarioDefaults> = {
  // The paper's IOI script: shared δ at the answer position, 100 Adam steps, lr 0.1, ρ 20, active features → −5.
  ioi: {
    run: { ...BASE_RUN, mode: 'encoder', delta: 'shared', steps: 100, lr: 0.1, budget: 20, reproject: false },
    clamp: clampDown(5),
    k: clampK(4, 64, 16),
    n: 64,
  },
  // Stage 1 of the paper's refusal attack (δ at the last prompt token, 20 steps, lr 0.08, ρ 30) with its drift
  // cap 0.03. δ is re-projected after each step: with the gradient projection alone, Adam's per-coordinate
  // scaling leaks the step back into the defended directions, and under the drift cap both modes end at the cap
  // (40 steps on the default SAE: none recovers 2/22 at abs drift 0.49, projected gradient 19/22 at 0.50,
  // re-projected 22/22 at 5e-6).
  refusal: {
    run: {
      ...BASE_RUN,
      mode: 'encoder',
      delta: 'per-sample',
      steps: 20,
      lr: 0.08,
      budget: 30,
      reproject: true,
      checkpointMaxRelDrift: 0.03,
    },
    clamp: { kind: 'multiply', factor: 8 },
    k: clampK(2, 16, 32),
    n: null,
    // The paper's stage 2: 80 steps, lr 0.03, ρ 40, the same drift cap.
    stage2: { mode: 'encoder', delta: 'per-sample', steps: 80, lr: 0.03, budget: 40, checkpointMaxRelDrift: 0.03 },
  },
  // Class information is spread over many features of the built-in SAEs: on the default one (128 wide) ablating
  // the top 8 flips none of 64 sentences, the top 10 flips 24 and the top 12 flips 60.
  tpp: {
    run: { ...BASE_RUN, mode: 'encoder', delta: 'per-sample', steps: 100, lr: 0.05, budget: 5, reproject: false },
    clamp: ZERO,
    k: clampK(2, 20, 10),
    n: 64,
  },
  // The paper's WMDP run: 150 steps, lr 0.08, ρ 20, δ at the last position. −5 (as for IOI) flips few answers
  // here: the forget features sit on the creature names and later layers still retrieve the answer through what
  // is left; −20 flips 35 of 128 held-out questions on the default SAE. δ re-projected as for refusal (40 steps
  // on the default SAE: projected gradient alone drifts 4.23 against 2.76 with no projection; re-projected 1.38,
  // the rest being TopK membership changes).
  unlearning: {
    run: { ...BASE_RUN, mode: 'encoder', delta: 'per-sample', steps: 150, lr: 0.08, budget: 20, reproject: true },
    clamp: clampDown(20),
    k: clampK(4, 50, 8),
    n: 128,
  },
  'probe-example': {
    run: { ...BASE_RUN, mode: 'encoder', delta: 'per-sample', steps: 100, lr: 0.05, budget: 2, reproject: false },
    clamp: ZERO,
    k: (dSae) => Math.min(4, dSae),
    n: null,
  },
  probe: {
    run: { ...BASE_RUN, mode: 'encoder', delta: 'per-sample', steps: 100, lr: 0.05, budget: 2, reproject: false },
    clamp: ZERO,
    k: (dSae) => Math.min(4, dSae),
    n: null,
  },
};

const clampText = (id: ScenarioId) => describeClamp(DEFAULTS[id].clamp);
const runText = (id: ScenarioId) => {
  const r = DEFAULTS[id].run;
  return `${r.steps} Adam steps, lr ${r.lr}, ρ ${r.budget}, ${r.delta === 'shared' ? 'one shared δ' : 'δ per sample'}`;
};

export const SCENARIOS: Record<ScenarioId, ScenarioEntry> = {
  ioi: {
    id: 'ioi',
    title: 'IOI',
    kind: 'builtin',
    defaults: DEFAULTS.ioi,
    blurb: `Clamp the features that carry the indirect object (${clampText('ioi')}); ${runText('ioi')} at the answer position brings the name back.`,
  },
  refusal: {
    id: 'refusal',
    title: 'Refusal steering',
    kind: 'builtin',
    defaults: DEFAULTS.refusal,
    paper: { differs: 'the paper multiplies by 3; on the built-in model ×3 flips 12 of the 24 held-out borderline prompts, ×8 flips 22' },
    blurb: `Amplify refusal features (${clampText('refusal')}; the paper: ×3) so borderline requests get refused; ${runText('refusal')} at the last prompt token restores compliance under the clamp.`,
  },
  tpp: {
    id: 'tpp',
    title: 'TPP',
    kind: 'builtin',
    defaults: DEFAULTS.tpp,
    paper: {
      differs: 'SAEBench sweeps N ∈ {2, 5, …, 500} features; here the top d_sae/10, because fewer flip no sentence of the small model',
    },
    blurb: `Zero-ablate the features a class probe reads; ${runText('tpp')} at every token makes the probe read the class again.`,
  },
  unlearning: {
    id: 'unlearning',
    title: 'Unlearning',
    kind: 'builtin',
    defaults: DEFAULTS.unlearning,
    paper: {
      differs:
        'SAEBench clamps active forget features to −m with m ∈ {25, …, 200} on Gemma; here −20, because −5 flips almost no answer of the small model',
    },
    blurb: `Clamp features of a forgotten domain (${clampText('unlearning')}); ${runText('unlearning')} at the last token brings the right multiple-choice answers back.`,
  },
  'probe-example': {
    id: 'probe-example',
    title: 'Probe example (synthetic)',
    kind: 'probe',
    defaults: DEFAULTS['probe-example'],
    blurb: 'A small seeded world: an SAE, activations and a linear probe that reads a few “concept” features.',
  },
  probe: {
    id: 'probe',
    title: 'Your own probe',
    kind: 'probe',
    defaults: DEFAULTS.probe,
    blurb: 'Your SAELens SAE, activations (h, optional mask) and a linear probe, from your notebook.',
  },
};

export function isScenarioId(s: string): s is ScenarioId {
  return (SCENARIO_IDS as readonly string[]).includes(s);
}

export function isBuiltinScenarioId(s: string): s is BuiltinScenarioId {
  return (BUILTIN_SCENARIO_IDS as readonly string[]).includes(s);
}

/** The settings a run uses: the scenario's table, with what the user changed on top. */
export function effectiveRun(id: ScenarioId, overrides: Partial<RunSettings> = {}): RunSettings {
  const out: RunSettings = { ...SCENARIOS[id].defaults.run };
  for (const key of RUN_SETTING_KEYS) if (overrides[key] !== undefined) (out as unknown as Record<string, unknown>)[key] = overrides[key];
  return out;
}

/** The keys whose value differs from the scenario's. */
export function changedSettings(id: ScenarioId, overrides: Partial<RunSettings>): (keyof RunSettings)[] {
  const d = SCENARIOS[id].defaults.run;
  return RUN_SETTING_KEYS.filter((k) => overrides[k] !== undefined && overrides[k] !== d[k]);
}
