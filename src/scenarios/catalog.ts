// The scenario registry as data: every scenario's id, title, blurb and its one table of defaults (optimiser
// settings, δ positions, clamp, defended-set size). The CLI, the worker, the report, the page, its presets
// and its blurbs all read these; nobody restates a number. Data only — no TensorFlow.js — so the page can
// import it. The paper's own settings sit beside ours where they differ, with the reason (docs/method.md §7).
import { describeClamp, type ClampRule } from '../core/clamp.ts';
import { DEFAULT_RECOVERY_OPTIONS, type DeltaSharing, type OptimizerKind, type ProjectionMode } from '../core/options.ts';

export const BUILTIN_SCENARIO_IDS = ['ioi', 'refusal', 'tpp', 'unlearning'] as const;
export type BuiltinScenarioId = (typeof BUILTIN_SCENARIO_IDS)[number];
/**
 * probe-example: the bundled synthetic probe; probe: the user's own SAE + activations + probe files; prompts: a
 * real model + SAELens SAE + the user's prompt set (the CLI's --model/--sae/--prompts); paper-ioi: the paper's IOI
 * experiment on GPT-2 small (model, SAE and prompts from PAPER_IOI).
 */
export const SCENARIO_IDS = [...BUILTIN_SCENARIO_IDS, 'probe-example', 'probe', 'prompts', 'paper-ioi'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];
/** The scenarios the playground offers. */
export const PAGE_SCENARIO_IDS = [
  ...BUILTIN_SCENARIO_IDS,
  'probe-example',
  'probe',
  'prompts',
  'paper-ioi',
] as const satisfies readonly ScenarioId[];
export type PageScenarioId = (typeof PAGE_SCENARIO_IDS)[number];

/** default: the scenario's own δ positions (probe: every token; IOI: the answer position; …). */
export const DELTA_POSITIONS = ['default', 'all', 'last'] as const;
export type DeltaPositions = (typeof DELTA_POSITIONS)[number];

/** The run settings a user can change; unset ones take the scenario's value. */
export interface RunSettings {
  mode: ProjectionMode;
  optimizer: OptimizerKind;
  delta: DeltaSharing;
  positions: DeltaPositions;
  steps: number;
  lr: number;
  /** κ: ρ = κ · median ‖h_def‖ at the δ positions · √P; null to use the absolute `budget`. */
  budgetRel: number | null;
  /** ρ in the residual's own units (‖δ‖ ≤ ρ per sample, or for the shared δ), used when budgetRel is null. */
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
  'optimizer',
  'delta',
  'positions',
  'steps',
  'lr',
  'budgetRel',
  'budget',
  'lambdaAct',
  'seed',
  'reproject',
  'checkpointMaxRelDrift',
] as const satisfies readonly (keyof RunSettings)[];

/**
 * What each run setting means, said once: `label` names the page's field, `help` is the CLI flag's help (and the
 * page's tooltip where it has one). Defaults are the scenario's (the table below), bounds the engine's
 * (core/options.ts RUN_BOUNDS).
 */
export const RUN_SETTING_TEXT: Record<keyof RunSettings, { label: string; help: string }> = {
  mode: { label: 'Projection mode', help: 'projection mode: none | encoder | jacobian' },
  optimizer: { label: 'Optimiser', help: "adam (the paper's) | pgd (L2 projected gradient, normalised steps)" },
  delta: { label: 'δ', help: 'per-sample | shared (per-sample: each ‖δ_i‖ ≤ ρ; shared: one δ, ‖δ‖ ≤ ρ)' },
  positions: { label: 'Positions', help: "δ at the scenario's positions, every real token, or the last one: default | all | last" },
  steps: { label: 'Steps', help: 'optimiser steps' },
  lr: { label: 'Learning rate', help: "Adam's learning rate; for pgd, the first step's length as a fraction of ρ" },
  budgetRel: { label: 'Budget κ', help: 'budget κ: ρ = κ · median ‖h_def‖ at the δ positions · √P' },
  budget: { label: 'Budget ρ', help: 'absolute budget ρ instead (‖δ‖ ≤ ρ per sample, or for the shared δ)' },
  lambdaAct: { label: 'λ_act', help: 'weight of the relative drift penalty' },
  seed: { label: 'Seed', help: 'seed (data and optimiser)' },
  reproject: { label: 're-project δ (encoder)', help: 'encoder mode: also project δ itself after each step (exact encoder orthogonality)' },
  checkpointMaxRelDrift: {
    label: 'Drift cap',
    help: `report per sample the best δ (checked every ${DEFAULT_RECOVERY_OPTIONS.checkpointEvery} steps) whose relative drift is ≤ x, else the best B − ${DEFAULT_RECOVERY_OPTIONS.checkpointFallbackWeight}·drift`,
  },
};

export interface ScenarioDefaults {
  run: RunSettings;
  /** The built-in SAE (an id of public/models/index.json) unless one is chosen; null for the probe scenarios. */
  sae: string | null;
  clamp: ClampRule;
  /** Size of the default defended set, from the SAE's width. */
  k: (dSae: number) => number;
  /** Held-out samples (null: every prompt the scenario has). */
  n: number | null;
  /** Refusal: the second stage (δ at the teacher-forced answer positions, stage 1's δ kept fixed). */
  stage2?: Pick<RunSettings, 'mode' | 'delta' | 'steps' | 'lr' | 'budgetRel' | 'lambdaAct' | 'checkpointMaxRelDrift'>;
}

export interface ScenarioEntry {
  id: ScenarioId;
  title: string;
  kind: 'builtin' | 'probe' | 'model';
  defaults: ScenarioDefaults;
  /** The paper's setting for this family: its SAE, and every way ours differs, with the reason. */
  paper?: { setting: string; differs: string[] };
  /** B is affine in δ (a linear probe on the residual): the best δ has a closed form (a feasible count). */
  linearReadout?: boolean;
  /** The held-out samples do not depend on the seed (and the attack from δ = 0 is deterministic): seeds repeat one run. */
  fixedData?: boolean;
  /** One or two sentences for the scenario menu, written from the defaults. */
  blurb: string;
}

const clampDown = (m: number): ClampRule => ({ kind: 'set', value: -m, onlyActive: true });
const ZERO: ClampRule = { kind: 'set', value: 0, onlyActive: false };
const clampK = (lo: number, hi: number, divisor: number) => (dSae: number) => Math.min(hi, Math.max(lo, Math.round(dSae / divisor)));
/**
 * Budgets are relative by default: κ = 0.3 of the residual's norm at the δ positions. The paper's ρ = 20 on GPT-2
 * small's layer-4 residual (non-BOS norms of roughly 50–90) is 0.2–0.4 of it; the same absolute ρ on the small
 * built-in model (‖h_def‖ ≈ 12 at IOI's answer position) would be 1.6 of it. Each table keeps the paper's absolute
 * ρ as `budget`, used when a run asks for an absolute budget (`--budget`).
 */
export const DEFAULT_KAPPA = 0.3;
/** The relative budgets a budget sweep runs (the page's sweep and the report's κ table). */
export const KAPPA_SWEEP = [0.05, 0.1, 0.2, 0.3, 0.5] as const;
const BASE_RUN = {
  optimizer: 'adam',
  lambdaAct: 0,
  seed: 0,
  positions: 'default',
  checkpointMaxRelDrift: null,
  budgetRel: DEFAULT_KAPPA,
} as const;

// Defence strength is calibrated to the paper's flip rate where the built-in model allows it, on the SAE type the
// paper used (ReLU for GPT-2, JumpReLU for Gemma Scope). The flip rates below are valid flips / held-out samples,
// measured by scripts/calibrate-defences.ts at seed 0.
const DEFAULTS: Record<ScenarioId, ScenarioDefaults> = {
  // The paper's IOI script: shared δ at the answer position, 100 Adam steps, lr 0.1, active features → −5, on
  // GPT-2's ReLU SAE; its clamp flips 37 of 64 prompts (58%). On the built-in ReLU SAE the top 16 flip 52%, the
  // top 20 61%: K = 20 (≈ d_sae/6.4).
  ioi: {
    run: { ...BASE_RUN, mode: 'encoder', delta: 'shared', steps: 100, lr: 0.1, budget: 20, reproject: false },
    sae: 'relu',
    clamp: clampDown(5),
    k: clampK(4, 64, 6.4),
    n: 64,
  },
  // Stage 1 of the paper's refusal attack (δ at the last prompt token, 20 steps, lr 0.08, ρ 30) with its λ_act = 200
  // (every refusal run in the paper) and its checkpoint rule (every 10 steps; drift cap 0.03, else the best
  // B − 80·drift), in its headline mode, jacobian. The SAE is TopK, not the paper's JumpReLU: on the built-in JumpReLU and ReLU SAEs amplifying the
  // refusal features flips at most 6 and 2 of the 84 prompts at any K ≤ 35 and α ≤ 50 (those features are rarely
  // active on the borderline requests); on the TopK SAE ×3 flips 12 and ×8 flips 22, so α = 8. In encoder mode δ is
  // re-projected after each step: on TopK the gradient projection alone leaks back into the defended directions
  // under Adam (measured with ρ 30 and λ_act 0: projected gradient 19/22 at abs drift 0.50, re-projected 22/22 at 5e-6).
  refusal: {
    run: {
      ...BASE_RUN,
      mode: 'jacobian',
      delta: 'per-sample',
      steps: 20,
      lr: 0.08,
      budget: 30,
      reproject: true,
      lambdaAct: 200,
      checkpointMaxRelDrift: 0.03,
    },
    sae: 'ladder-mid',
    clamp: { kind: 'multiply', factor: 8 },
    k: clampK(2, 16, 32),
    n: null,
    // The paper's stage 2: 80 steps, lr 0.03, the same λ_act and drift cap, ρ 40 over up to 48 answer positions
    // against stage 1's 30 on one: κ₂ = κ · (40/30) / √48 ≈ 0.06 keeps that ratio under the √P scaling.
    stage2: { mode: 'encoder', delta: 'per-sample', steps: 80, lr: 0.03, budgetRel: 0.06, lambdaAct: 200, checkpointMaxRelDrift: 0.03 },
  },
  // SAEBench's TPP ablates the top N ∈ {2, 5, …, 500} features by class effect. On the built-in ReLU SAE class
  // information is spread over many features: the top 12 flip 8% of the 64 sentences, the top 16 45%, the top 20
  // 47%; K = 16 (d_sae/8) flips about half, where a recovery rate means something (not all, not none).
  tpp: {
    run: { ...BASE_RUN, mode: 'encoder', delta: 'per-sample', steps: 100, lr: 0.05, budget: 5, reproject: false },
    sae: 'relu',
    clamp: ZERO,
    k: clampK(2, 20, 8),
    n: 64,
  },
  // The paper's WMDP run (150 steps, lr 0.08, ρ 20, δ at the last position) on a Gemma Scope JumpReLU SAE, with up
  // to 50 features and SAEBench's clamp −m, m ∈ {25, 50, 100, 200}; it flips 91 of 144 (63%) and, as SAEBench keeps
  // only such settings, leaves retain accuracy ≥ 0.99. On the built-in 128-wide JumpReLU SAE the rule keeps 22
  // features; all 22 at −25 flipped 27% but were not specific (22 random features flipped more, 34 per seed) and
  // dropped retain accuracy to 0.78. Calibrated for specificity (scripts/calibrate-defences.ts, seeds 0–1, five
  // random draws each): the top 4 at −6 flip 15.5 per seed against 2.0 for 4 random features, retain accuracy 1.000.
  unlearning: {
    run: { ...BASE_RUN, mode: 'encoder', delta: 'per-sample', steps: 150, lr: 0.08, budget: 20, reproject: false },
    sae: 'jumprelu',
    clamp: clampDown(6),
    k: clampK(4, 50, 32),
    n: 128,
  },
  'probe-example': {
    run: { ...BASE_RUN, mode: 'encoder', delta: 'per-sample', steps: 100, lr: 0.05, budget: 2, reproject: false },
    sae: null,
    clamp: ZERO,
    k: (dSae) => Math.min(4, dSae),
    n: null,
  },
  probe: {
    run: { ...BASE_RUN, mode: 'encoder', delta: 'per-sample', steps: 100, lr: 0.05, budget: 2, reproject: false },
    sae: null,
    clamp: ZERO,
    k: (dSae) => Math.min(4, dSae),
    n: null,
  },
  // The paper's IOI script exactly (ioi_recovery.py via reproduce_ioi.sh): top-64 by positive attribution at the
  // answer position, −5 where active, one shared δ there, 100 Adam steps, lr 0.1, ‖δ‖ ≤ 20 (absolute), no penalty.
  'paper-ioi': {
    run: { ...BASE_RUN, mode: 'encoder', delta: 'shared', steps: 100, lr: 0.1, budget: 20, budgetRel: null, reproject: false },
    sae: null,
    clamp: clampDown(5),
    k: (dSae) => Math.min(64, dSae),
    n: 64,
  },
  // The paper's IOI recipe on the user's model, SAE and prompts: top-64 by attribution at the last token → −5 where
  // active, one shared δ there, 100 Adam steps at lr 0.1, with the relative budget (ρ 20 with --budget 20).
  prompts: {
    run: { ...BASE_RUN, mode: 'encoder', delta: 'shared', steps: 100, lr: 0.1, budget: 20, reproject: false },
    sae: null,
    clamp: clampDown(5),
    k: (dSae) => Math.min(64, dSae),
    n: null,
  },
};

const clampText = (id: ScenarioId) => describeClamp(DEFAULTS[id].clamp);
const runText = (id: ScenarioId) => {
  const r = DEFAULTS[id].run;
  const rho = r.budgetRel !== null ? `‖δ‖ ≤ ${r.budgetRel} of the residual's norm` : `ρ ${r.budget}`;
  return `${r.steps} Adam steps, lr ${r.lr}, ${rho}, ${r.delta === 'shared' ? 'one shared δ' : 'δ per sample'}`;
};

export const SCENARIOS: Record<ScenarioId, ScenarioEntry> = {
  ioi: {
    id: 'ioi',
    title: 'IOI',
    kind: 'builtin',
    defaults: DEFAULTS.ioi,
    paper: {
      setting:
        'GPT-2 small, gpt2-small-res-jb ReLU SAE at blocks.4.hook_resid_pre, 64 BABA prompts, top-64 features → −5 where active, ρ 20',
      differs: [
        `the model is the built-in 4-layer, d_model-64 one; budgets are relative (κ ${DEFAULT_KAPPA}, about the paper's ρ 20 on GPT-2's residual)`,
        "the defended set is the top 20 of a 128-wide ReLU SAE (16% of it) against the paper's 64 of 24,576 (0.26%): chosen so the clamp flips about as many prompts (61% against 58%)",
      ],
    },
    blurb: `Clamp the features that carry the indirect object (${clampText('ioi')}); ${runText('ioi')} at the answer position brings the name back.`,
  },
  refusal: {
    id: 'refusal',
    title: 'Refusal steering',
    kind: 'builtin',
    fixedData: true,
    defaults: DEFAULTS.refusal,
    paper: {
      setting:
        'gemma-2-2b-it, Gemma Scope JumpReLU SAEs at several layers, refusal features ×3, AdvBench (24 strict-valid), jacobian mode, judged on generated text',
      differs: [
        'TopK SAE, not JumpReLU: on the built-in JumpReLU and ReLU SAEs amplifying the refusal features flips at most 6 and 2 of 84 prompts',
        '×8, not ×3: on the TopK SAE ×3 flips 12 prompts, ×8 flips 22',
        'one layer: the paper clamps at several layers at once and projects with a cross-layer Jacobian',
        "B is the first answer token's comply − refuse margin; the paper's verdict is a refusal-phrase judge on 128 generated tokens (stage 2 here checks greedy answers of ≤ 12 words)",
        'the held-out set is every held-out request with every template (84 prompts), not AdvBench',
      ],
    },
    blurb: `Amplify refusal features (${clampText('refusal')}; the paper: ×3) so borderline requests get refused; ${runText('refusal')} at the last prompt token restores compliance under the clamp.`,
  },
  tpp: {
    id: 'tpp',
    title: 'TPP',
    kind: 'builtin',
    defaults: DEFAULTS.tpp,
    linearReadout: true,
    paper: {
      setting: "SAEBench's layer-5 TPP (Bias in Bios sets 1–3, Amazon Reviews), zero-ablation of the official feature set",
      differs: [
        'one synthetic attribute probe per class on the built-in model (logistic regression, 300 epochs, L2 1e-3) instead of the SAEBench data sets and probe training',
        'the top 16 of 128 features (SAEBench sweeps N ∈ {2, …, 500}): fewer flip almost no sentence here, 16 flip about half',
      ],
    },
    blurb: `Zero-ablate the features a class probe reads; ${runText('tpp')} at every token makes the probe read the class again.`,
  },
  unlearning: {
    id: 'unlearning',
    title: 'Unlearning',
    kind: 'builtin',
    defaults: DEFAULTS.unlearning,
    paper: {
      setting:
        'gemma-2-2b-it, Gemma Scope JumpReLU SAE at layer 3 (16k), 50 forget features → −m where active, WMDP-Bio questions correct in all 24 answer orders (91 valid flips)',
      differs: [
        'multiple-choice questions about a fictional domain, without the 24-permutation filter; no BOS position to zero (SAEBench zeroes the clamp there)',
        "the defence is calibrated to be specific and keep retain accuracy ≥ 0.99 (SAEBench's rule): the top 4 of the 22 features the rule keeps on the 128-wide JumpReLU SAE, at −6, flip about 12% of the questions against the paper's 63%; all 22 at −25 flipped 27% but no more than 22 random features and cost retain accuracy (0.78)",
      ],
    },
    blurb: `Clamp features of a forgotten domain (${clampText('unlearning')}); ${runText('unlearning')} at the last token brings the right multiple-choice answers back.`,
  },
  'probe-example': {
    id: 'probe-example',
    title: 'Probe example (synthetic)',
    kind: 'probe',
    defaults: DEFAULTS['probe-example'],
    linearReadout: true,
    blurb: 'A small seeded world: an SAE, activations and a linear probe that reads a few “concept” features.',
  },
  probe: {
    id: 'probe',
    title: 'Your own probe',
    kind: 'probe',
    defaults: DEFAULTS.probe,
    linearReadout: true,
    blurb: 'Your SAELens SAE, activations (h, optional mask) and a linear probe, from your notebook.',
  },
  'paper-ioi': {
    id: 'paper-ioi',
    title: "The paper's IOI on GPT-2 small",
    kind: 'model',
    defaults: DEFAULTS['paper-ioi'],
    fixedData: true,
    paper: {
      setting:
        'GPT-2 small (TransformerLens processing), gpt2-small-res-jb ReLU SAE at blocks.4.hook_resid_pre, 64 BABA prompts, top-64 features → −5 where active, ρ 20',
      differs: [],
    },
    blurb: `GPT-2 small and the gpt2-small-res-jb SAE from the Hub, the paper's 64 BABA prompts; ${clampText('paper-ioi')}, ${runText('paper-ioi')} at the " to" token.`,
  },
  prompts: {
    id: 'prompts',
    title: 'Your model, SAE and prompts',
    kind: 'model',
    defaults: DEFAULTS.prompts,
    blurb: `A GPT-2, Gemma-2 or Pythia (GPT-NeoX) model, a SAELens or Gemma Scope SAE at one of its residual hooks and your prompts with a target and a contrast completion; ${clampText('prompts')}, ${runText('prompts')} at the last token.`,
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
  // An absolute budget given on its own means an absolute run.
  if (overrides.budget !== undefined && overrides.budgetRel === undefined) out.budgetRel = null;
  return out;
}

/** The keys whose value differs from the scenario's. */
export function changedSettings(id: ScenarioId, overrides: Partial<RunSettings>): (keyof RunSettings)[] {
  const d = SCENARIOS[id].defaults.run;
  const e = effectiveRun(id, overrides);
  return RUN_SETTING_KEYS.filter((k) => e[k] !== d[k]);
}

/**
 * The user's changes that differ from the scenario's value: what a link and saved settings keep (a change back
 * to the scenario's value drops out).
 */
export function changedOnly(id: ScenarioId, overrides: Partial<RunSettings>): Partial<RunSettings> {
  const out: Partial<Record<keyof RunSettings, unknown>> = {};
  for (const k of changedSettings(id, overrides)) if (overrides[k] !== undefined) out[k] = overrides[k];
  return out as Partial<RunSettings>;
}

/** Where the paper-ioi scenario's inputs come from; --model / --sae replace the Hub references with local copies. */
export const PAPER_IOI = {
  model: 'hf:openai-community/gpt2',
  sae: 'hf:jbloom/GPT2-Small-SAEs-Reformatted/blocks.4.hook_resid_pre',
  /** Under public/: the 64 prompts of Easy-Transformer's IOIDataset(BABA, N=64, nb_templates=1, seed=0). */
  prompts: 'data/paper-ioi.jsonl',
} as const;
