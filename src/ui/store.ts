// The page's state: the configuration (what the URL carries) and what the engine has told us. Components
// read slices of it; only the engine bridge and actions write.
import { create } from 'zustand';
import type {
  BackendInfo,
  BudgetSweepRow,
  DefenceInfo,
  DefenceMatrix,
  EngineMemory,
  JacobianAnalysis,
  ReplayRow,
  ScenarioInfo,
} from '../engine/protocol.ts';
import type { HistoryEntry, RecoveryResult, SampleMetrics } from '../core/metrics.ts';
import type { ModelIndexEntry } from '../scenarios/builtin/assets.ts';
import { DEFAULT_CONFIG, type PlaygroundConfig } from './config.ts';
import { changedOnly } from '../scenarios/catalog.ts';
import { loadMatrixOptions, type MatrixOptions } from './matrix-options.ts';

/** The page's two views: the playground (one run) and the Defences tab (the matrix). */
export const VIEWS = ['playground', 'defences'] as const;
export type View = (typeof VIEWS)[number];

/** `?view=defences` opens the Defences tab (the playground otherwise; `?view=prompts` is a page of its own: main.tsx). */
export function viewFromSearch(search: string): View {
  return new URLSearchParams(search).get('view') === 'defences' ? 'defences' : 'playground';
}

/** A matrix the engine is running: its current stage, and whether a cancel was asked for. */
export interface MatrixProgress {
  message: string;
  done: number;
  total: number;
  cancelling: boolean;
}

export type EngineStatus = 'starting' | 'loading' | 'ready' | 'running' | 'paused' | 'done' | 'error';

export interface PinnedRun {
  id: string;
  label: string;
  history: HistoryEntry[];
}

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  message: string;
  /** What the user can do about it. */
  hint?: string;
}

/** Everything a run produced; cleared together whenever a new run, defence or scenario starts. */
export const NO_RUN = {
  step: 0,
  totalSteps: 0,
  history: [] as HistoryEntry[],
  samples: [] as SampleMetrics[],
  result: null as RecoveryResult | null,
  imported: false,
  replay: null as ReplayRow[] | null,
  jacobian: null as JacobianAnalysis | null,
};

export interface PlaygroundState {
  config: PlaygroundConfig;
  status: EngineStatus;
  busy: string | null;
  backend: BackendInfo | null;
  /** What the engine holds (tensors, bytes), read about once a second while a run goes. */
  memory: EngineMemory | null;
  modelIndex: ModelIndexEntry[] | null;
  scenario: ScenarioInfo | null;
  defence: DefenceInfo | null;
  step: number;
  totalSteps: number;
  history: HistoryEntry[];
  samples: SampleMetrics[];
  result: RecoveryResult | null;
  /** A result imported from a file (viewed, not run). */
  imported: boolean;
  pinned: PinnedRun[];
  jacobian: JacobianAnalysis | null;
  replay: ReplayRow[] | null;
  sweep: BudgetSweepRow[] | null;
  labels: Map<number, string>;
  notices: Notice[];
  tourStep: number | null;
  view: View;
  /** The defence matrix shown in the Defences tab (run here or opened from a file), and where it came from. */
  matrix: DefenceMatrix | null;
  matrixSource: string | null;
  matrixProgress: MatrixProgress | null;
  /** What "Run the matrix" runs: seeds, modes, defences (kept in this browser). */
  matrixOptions: MatrixOptions;
  set: (patch: Partial<PlaygroundState>) => void;
  setConfig: (patch: Partial<PlaygroundConfig>) => void;
  /** Change run settings; a value equal to the scenario's is stored as unset (undefined). */
  setRun: (patch: Partial<PlaygroundConfig['run']>) => void;
  /** Forget the current run's history, result and analyses (the run itself is the engine's). */
  clearRun: () => void;
  notify: (n: Omit<Notice, 'id'>) => void;
  dismiss: (id: number) => void;
}

let noticeId = 1;

export const useStore = create<PlaygroundState>((set) => ({
  config: DEFAULT_CONFIG,
  status: 'starting',
  busy: null,
  backend: null,
  memory: null,
  modelIndex: null,
  scenario: null,
  defence: null,
  step: 0,
  totalSteps: 0,
  history: [],
  samples: [],
  result: null,
  imported: false,
  pinned: [],
  jacobian: null,
  replay: null,
  sweep: null,
  labels: new Map(),
  notices: [],
  tourStep: null,
  view: viewFromSearch(globalThis.location?.search ?? ''),
  matrix: null,
  matrixSource: null,
  matrixProgress: null,
  matrixOptions: loadMatrixOptions(),
  set: (patch) => set(patch),
  setConfig: (patch) => set((s) => ({ config: { ...s.config, ...patch } })),
  setRun: (patch) => set((s) => ({ config: { ...s.config, run: changedOnly(s.config.scenario, { ...s.config.run, ...patch }) } })),
  clearRun: () => set({ ...NO_RUN }),
  notify: (n) => {
    const id = noticeId++;
    set((s) => ({ notices: [...s.notices.slice(-3), { ...n, id }] }));
    // Information fades by itself; errors stay until dismissed.
    if (n.kind === 'info') setTimeout(() => set((s) => ({ notices: s.notices.filter((x) => x.id !== id) })), 8000);
  },
  dismiss: (id) => set((s) => ({ notices: s.notices.filter((x) => x.id !== id) })),
}));
