// Every user action, declared once: label, keyboard shortcut, when it is enabled, what it does. Buttons,
// the keyboard handler and the tests all go through this list.
import type { PlaygroundState } from './store.ts';
import { useStore } from './store.ts';
import { analyseJacobian, replayPath, sweepBudget } from './engine/analyses.ts';
import { switchBackend } from './engine/failover.ts';
import { pause, play, reset, stepOnce } from './engine/run.ts';
import { downloadCsv, downloadJson, importRunFile } from './exports.ts';
import { runSettings } from './config.ts';
import { cancelMatrix, openMatrixFile, runMatrix, saveMatrix } from './engine/matrix.ts';
import { isBuiltinScenarioId } from '../scenarios/catalog.ts';

export interface Action {
  id: string;
  label: string;
  /** KeyboardEvent.key that triggers it, and how to show it. */
  shortcut?: { key: string; display: string };
  enabled: (s: PlaygroundState) => boolean;
  perform: () => void | Promise<void>;
}

const canRun = (s: PlaygroundState) => Boolean(s.defence) && !s.busy && s.status !== 'loading';

export const ACTIONS: Action[] = [
  {
    id: 'toggle-play',
    label: 'Play / pause',
    shortcut: { key: ' ', display: 'Space' },
    enabled: (s) => canRun(s) || s.status === 'running',
    perform: () => (useStore.getState().status === 'running' ? pause() : play()),
  },
  {
    id: 'step',
    label: 'Single step',
    shortcut: { key: 'ArrowRight', display: '→' },
    enabled: (s) => canRun(s) && s.status !== 'running',
    perform: () => stepOnce(),
  },
  {
    id: 'reset',
    label: 'Reset',
    shortcut: { key: 'r', display: 'R' },
    enabled: (s) => Boolean(s.defence) && !s.busy,
    perform: () => reset(),
  },
  {
    id: 'pin',
    label: 'Pin this run (overlay the next)',
    shortcut: { key: 'p', display: 'P' },
    enabled: (s) => s.history.length > 1,
    perform: () => {
      const s = useStore.getState();
      const r = runSettings(s.config);
      s.set({
        pinned: [
          ...s.pinned.slice(-2),
          { id: String(Date.now()), label: `${r.mode} · ρ ${r.budget} · ${s.config.scenario}`, history: s.history },
        ],
      });
    },
  },
  {
    id: 'scenario-settings',
    label: "Use the scenario's settings",
    enabled: (s) => Object.keys(s.config.run).length > 0 && s.status !== 'running',
    perform: () => useStore.getState().setConfig({ run: {} }),
  },
  {
    id: 'clear-pins',
    label: 'Clear pinned runs',
    enabled: (s) => s.pinned.length > 0,
    perform: () => useStore.getState().set({ pinned: [] }),
  },
  {
    id: 'export-json',
    label: 'Export run (JSON)',
    shortcut: { key: 'e', display: 'E' },
    enabled: (s) => Boolean(s.result),
    perform: () => downloadJson(useStore.getState().result!),
  },
  {
    id: 'export-csv',
    label: 'Export samples (CSV)',
    enabled: (s) => Boolean(s.result),
    perform: () => downloadCsv(useStore.getState().result!),
  },
  {
    id: 'import-json',
    label: 'Import a run (JSON)…',
    enabled: () => true,
    perform: () => importRunFile(),
  },
  {
    id: 'copy-link',
    label: 'Copy link to this configuration',
    shortcut: { key: 'l', display: 'L' },
    enabled: () => true,
    perform: async () => {
      await navigator.clipboard?.writeText(location.href).catch(() => undefined);
      useStore.getState().notify({ kind: 'info', message: 'Link copied: it reproduces this configuration and seed.' });
    },
  },
  {
    id: 'analyse-jacobian',
    label: 'Analyse the feature-map Jacobian',
    shortcut: { key: 'j', display: 'J' },
    enabled: (s) => Boolean(s.defence) && !s.busy && s.status !== 'running',
    perform: () => analyseJacobian(),
  },
  {
    id: 'analyse-replay',
    label: 'Replay the recovery path',
    enabled: (s) => Boolean(s.result) && !s.imported && !s.busy && s.status !== 'running',
    perform: () => replayPath(),
  },
  {
    id: 'analyse-sweep',
    label: 'Sweep the budget ρ',
    enabled: (s) => Boolean(s.defence) && !s.busy && s.status !== 'running',
    perform: () => sweepBudget(),
  },
  {
    // Offered where the default passed a software WebGPU adapter over for the faster wasm (the backend badge).
    id: 'use-webgpu',
    label: 'Use WebGPU',
    enabled: (s) =>
      Boolean(s.backend?.passedOver?.some((p) => p.name === 'webgpu')) &&
      !s.busy &&
      (s.status === 'ready' || s.status === 'paused' || s.status === 'done' || s.status === 'error'),
    perform: () => switchBackend('webgpu'),
  },
  {
    id: 'view-playground',
    label: 'Playground',
    enabled: () => true,
    perform: () => useStore.getState().set({ view: 'playground' }),
  },
  {
    id: 'view-defences',
    label: 'Defences',
    enabled: () => true,
    perform: () => useStore.getState().set({ view: 'defences', tourStep: null }),
  },
  {
    // The defence matrix on the playground's built-in scenario, in the engine (one at a time; the playground waits).
    id: 'run-matrix',
    label: 'Run the matrix',
    enabled: (s) =>
      isBuiltinScenarioId(s.config.scenario) &&
      !s.matrixProgress &&
      !s.busy &&
      s.status !== 'running' &&
      s.status !== 'loading' &&
      s.status !== 'starting' &&
      s.matrixOptions.modes.length > 0 &&
      s.matrixOptions.defences.length > 0,
    perform: () => runMatrix(),
  },
  {
    id: 'cancel-matrix',
    label: 'Cancel',
    enabled: (s) => Boolean(s.matrixProgress) && !s.matrixProgress?.cancelling,
    perform: () => cancelMatrix(),
  },
  {
    id: 'open-matrix',
    label: 'Open matrix JSON…',
    enabled: (s) => !s.matrixProgress,
    perform: () => openMatrixFile(),
  },
  {
    id: 'save-matrix',
    label: 'Save JSON',
    enabled: (s) => Boolean(s.matrix),
    perform: () => saveMatrix(),
  },
  {
    id: 'tour',
    label: 'Guided tour',
    shortcut: { key: '?', display: '?' },
    enabled: () => true,
    // The tour walks the playground.
    perform: () => useStore.getState().set({ tourStep: 0, view: 'playground' }),
  },
];

export function action(id: string): Action {
  const a = ACTIONS.find((x) => x.id === id);
  if (!a) throw new Error(`unknown action ${id}`);
  return a;
}

/** The shortcuts that work on every view (the rest are the playground's). */
const ANY_VIEW = new Set(['tour', 'copy-link']);

/** Keyboard dispatch: ignore keys typed into form fields; run an enabled action whose shortcut matches. */
export function handleKeyDown(e: KeyboardEvent): boolean {
  const target = e.target as HTMLElement | null;
  if (target?.closest('input, textarea, select, [contenteditable="true"]')) return false;
  // Space on an enabled, focused button presses that button; it should not also play or pause.
  const button = target?.closest('button');
  if (e.key === ' ' && button && !button.disabled) return false;
  if (e.ctrlKey || e.metaKey || e.altKey) return false;
  const a = ACTIONS.find((x) => x.shortcut && x.shortcut.key.toLowerCase() === e.key.toLowerCase());
  const st = useStore.getState();
  if (!a?.enabled(st)) return false;
  // The run's keys act on the playground only: on the Defences tab, Space must not start a run out of sight.
  if (st.view !== 'playground' && !ANY_VIEW.has(a.id)) return false;
  e.preventDefault();
  void a.perform();
  return true;
}
