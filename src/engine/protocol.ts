// Messages between the page (main thread, renders only) and the engine worker (owns TensorFlow.js).
// Requests carry an id and get exactly one `reply` (or `error`) with that id; the engine also sends
// events (`metrics`, `status`, `backend`) at any time. Everything is structured-clone friendly.
import type { ClampRule } from '../core/clamp.ts';
import type { JacobianReport, ReplayPart } from '../core/analyses.ts';
import type { HistoryEntry, RecoveryResult, SampleMetrics } from '../core/metrics.ts';
import type { BudgetBasis } from '../core/budget.ts';
import type { RunStatus } from '../core/recovery.ts';
import type { RecoveryState } from '../core/recovery-state.ts';
import type { RunSettings, ScenarioId } from '../scenarios/catalog.ts';
import type { ScenarioSpec } from '../scenarios/load.ts';
import type { SampleInfo } from '../scenarios/loaded.ts';
import type { SaeCheck } from '../scenarios/sae-check.ts';
import type { NextTokenView } from '../scenarios/next-tokens.ts';
import type { DefenceChoice } from '../core/defence-kinds.ts';
import type { ProjectionMode } from '../core/options.ts';
import type { BuiltinScenarioId } from '../scenarios/catalog.ts';
import type { DefenceMatrix } from '../scenarios/defence-matrix.ts';

export type { ProbeFiles } from '../scenarios/load.ts';
export type { SampleInfo } from '../scenarios/loaded.ts';
export type { NextToken, NextTokenColumn, NextTokenView } from '../scenarios/next-tokens.ts';
export type { DefenceMatrix, DefenceRow, MatrixCell } from '../scenarios/defence-matrix.ts';

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

export interface BackendInfo {
  name: BackendName;
  /** e.g. "swiftshader (google)" for WebGPU, the renderer string for WebGL. */
  adapter?: string;
  /** Why each better backend was not used, best first (empty when WebGPU is in use). */
  reasons: string[];
  /** WebGPU: the largest buffer a tensor can have (the device's storage-binding and buffer-size limits). */
  maxBufferBytes?: number;
  /**
   * GPU backends that work here but were passed over by the default choice because their adapter is a software
   * one (e.g. SwiftShader), on which wasm is many times faster; best first. The page offers WebGPU one click away.
   */
  passedOver?: { name: BackendName; renderer: string }[];
}

/** The scenario to load: a built-in experiment, the probe example, or the user's own files. */
export type ScenarioRequest = ScenarioSpec;

/** The scenario as the page sees it: no tensors, just what it shows and the defaults it starts from. */
export interface ScenarioInfo {
  id: ScenarioId;
  title: string;
  /** Plain-words description: what B is, what a valid flip is. */
  behaviour: string;
  n: number;
  t: number;
  d: number;
  dSae: number;
  sae: { name: string; architecture: string; hookName?: string; k?: number; notes: string[] };
  /** The model: its name, family, weight processing and what of it the run keeps (real models). */
  model?: string;
  /** What the user should know before running (e.g. that the run may not fit the memory here). */
  warnings?: string[];
  /** Per feature, length d_sae: attribution to B, mean activation on the samples, log10 density. */
  features: { attribution: Float32Array; meanActivation: Float32Array; logDensity: Float32Array };
  /** How the default defended set was chosen, e.g. "top-8 positive attribution to B at the answer position". */
  featureRule: string;
  defaults: { features: number[]; clamp: ClampRule; run: RunSettings };
  samples: SampleInfo[];
  /** A real model's SAE read on the scenario's prompts (L0, explained variance, loss with the SAE spliced in). */
  saeCheck?: SaeCheck;
  /**
   * Whether the defences that need clean text or later layers (clip-error, multi-layer, detect) can act here: the
   * built-in scenarios have them, raw activations and real models do not.
   */
  defenceKit: boolean;
}

/**
 * The clamp alone, before any attack, as the page sees it. Its BudgetBasis (what a relative budget scales with here) lets the page show
 * rhoForKappa(κ, this), the ρ the run computes from the same two numbers.
 */
export interface DefenceInfo extends BudgetBasis {
  features: number[];
  clamp: ClampRule;
  /** The defence that acts (the paper's clamp unless another was asked for), in words, and what it set up. */
  choice: DefenceChoice;
  description: string;
  /** e.g. the monitor's threshold and held-out false-positive rate, clip-error's cap, the later layers' clamps. */
  notes: string[];
  base: Float32Array;
  defended: Float32Array;
  valid: boolean[];
  validFlips: number;
  residualBase: Float32Array;
  residualDefended: Float32Array;
}

/** The Jacobian analysis as the engine reports it (slots: how many (sample, position) pairs were analysed). */
export type JacobianAnalysis = JacobianReport;

export interface ReplayRow {
  part: ReplayPart;
  recovered: number;
  validFlips: number;
  rate: number | null;
  /** ‖part‖ / ‖δ‖, mean over valid flips. */
  normShare: number | null;
}

export interface BudgetSweepRow {
  /** κ for a relative sweep, ρ for an absolute one. */
  budget: number;
  relative: boolean;
  /** The absolute ρ the run used. */
  rho: number;
  recoveryRate: number | null;
  recovered: number;
  validFlips: number;
  meanRelDrift: number | null;
  meanAbsDrift: number | null;
}

export interface RunConfig {
  /** The settings the user changed; the rest are the scenario's (its table in scenarios/catalog.ts). */
  settings: Partial<RunSettings>;
  /** Read metrics every this many steps. */
  metricsEvery: number;
  /** Milliseconds to wait between steps (the "speed" control; 0 = as fast as possible). */
  stepDelayMs: number;
  /** Continue from a saved optimiser state (after a lost device, a crashed worker or a reload) instead of δ = 0. */
  resumeFrom?: RecoveryState;
  /** Testing aid: make something go wrong once the run has completed `atStep` steps. */
  fault?: Fault;
}

/**
 * The faults the page can be asked to inject (URL `?fault=KIND@STEP`), so the recovery from each is tested for
 * real: `device-loss` throws as a lost device would, `destroy-device` destroys the actual WebGPU device,
 * `worker-crash` kills the engine worker with an uncaught error.
 */
export const FAULT_KINDS = ['device-loss', 'destroy-device', 'worker-crash'] as const;
export interface Fault {
  kind: (typeof FAULT_KINDS)[number];
  atStep: number;
}

/** The optimiser state without its history: the page keeps the history (it received every entry). */
export type RunSnapshot = Omit<RecoveryState, 'history'>;

export type Request =
  | { type: 'init'; prefer?: BackendName[]; wasmThreads?: number }
  | { type: 'loadScenario'; scenario: ScenarioRequest }
  /** defence: the paper's clamp when omitted. */
  | { type: 'setDefence'; features: number[]; clamp: ClampRule; defence?: DefenceChoice }
  | { type: 'start'; config: RunConfig }
  | { type: 'pause' }
  | { type: 'resume' }
  /** Step while paused; with no run yet, `config` starts one (paused) first. */
  | { type: 'step'; count: number; config?: RunConfig }
  | { type: 'reset' }
  | { type: 'result' }
  | { type: 'jacobian' }
  | { type: 'replay'; topK?: number }
  /** The top-k next tokens of one prompt for the base, defended and recovered model (scenarios/next-tokens.ts). */
  | { type: 'nextTokens'; sample: number; topK?: number }
  /** budgets: κ values when `relative`, else absolute ρ values. */
  | { type: 'budgetSweep'; budgets: number[]; relative: boolean }
  /** Tensors and bytes TensorFlow.js holds (for the soak test and the memory readout). */
  | { type: 'memory' }
  /**
   * The defence matrix (scenarios/defence-matrix.ts) on a built-in scenario, loaded afresh for each seed: replies
   * with the matrix once it is done, `matrixProgress` events on the way. The current scenario and defence stay.
   */
  | ({ type: 'matrix' } & MatrixRequest)
  /** Stop the matrix at its next stage (the worker answers at once, beside the request queue). */
  | { type: 'matrixCancel' };

export interface MatrixRequest {
  scenario: BuiltinScenarioId;
  sae?: string;
  /** Data seeds: the scenario is loaded once for each. */
  seeds: number[];
  modes: ProjectionMode[];
  defences: DefenceChoice[];
  /** Run settings changed from the scenario's (the playground's), for every run of the matrix. */
  settings: Partial<RunSettings>;
  /** Budget multiples of the recovery-vs-budget curve (the matrix's default when omitted). */
  budgets?: number[];
}

export type ReplyPayload = {
  init: BackendInfo;
  loadScenario: ScenarioInfo;
  setDefence: DefenceInfo;
  start: { status: RunStatus };
  pause: { status: RunStatus; step: number };
  resume: { status: RunStatus };
  step: { status: RunStatus; step: number };
  reset: { status: RunStatus };
  result: RecoveryResult;
  jacobian: JacobianAnalysis;
  replay: ReplayRow[];
  nextTokens: NextTokenView;
  budgetSweep: BudgetSweepRow[];
  memory: EngineMemory;
  matrix: DefenceMatrix;
  /** Whether a matrix was running to be cancelled. */
  matrixCancel: { cancelled: boolean };
};

export interface EngineMemory {
  numTensors: number;
  numBytes: number;
  /** The JS heap of the worker where the browser reports it (Chromium), else null. */
  heapBytes: number | null;
}

export type RequestMessage = Request & { id: number };

export type EngineEvent =
  | { type: 'backend'; backend: BackendInfo }
  | { type: 'status'; status: RunStatus; step: number; totalSteps: number }
  /** samples: the per-sample rows, sent with every 10th event, when paused and at the end. */
  | { type: 'metrics'; entry: HistoryEntry; samples?: SampleMetrics[] }
  | { type: 'done'; result: RecoveryResult }
  /** The optimiser state after a completed step (every step when it is small), so a run can continue elsewhere. */
  | { type: 'snapshot'; state: RunSnapshot }
  | { type: 'notice'; message: string }
  /** The matrix's stage that starts now (`done` stages of about `total` are finished). */
  | { type: 'matrixProgress'; message: string; done: number; total: number };

export type WorkerMessage =
  | { kind: 'reply'; id: number; payload: unknown }
  | { kind: 'error'; id: number | null; message: string; code: ErrorCode }
  | { kind: 'event'; event: EngineEvent };

/**
 * input: the user's file or setting is wrong; device: the GPU was lost or ran out of memory; crash: the worker
 * itself died (an uncaught error, e.g. WebAssembly out of memory); internal: our bug.
 */
export type ErrorCode = 'input' | 'device' | 'crash' | 'internal';
