// The bridge between the page and the engine worker: requests go out, events come back into the store.
// Metrics are buffered and flushed at most ~10 times a second, so a fast run never floods React. The run
// survives what can go wrong under it: a lost GPU device moves it to the next backend and a crashed worker is
// restarted, each continuing from the last snapshot (the last completed step) with the history the page
// holds; a reload continues it from the copy kept in IndexedDB. The bridge's own state (the worker client,
// the last snapshot, the uploaded files, the metrics buffer) lives in one object.
import { EngineClient, EngineError } from '../engine/client.ts';
import { BACKEND_ORDER_NAMES } from './backends.ts';
import type { NextTokenView } from '../engine/protocol.ts';
import {
  FAULT_KINDS,
  type BackendName,
  type EngineEvent,
  type Fault,
  type ProbeFiles,
  type ReplyPayload,
  type Request,
  type RunConfig,
  type RunSnapshot,
  type ScenarioRequest,
} from '../engine/protocol.ts';
import type { RecoveryState } from '../core/recovery.ts';
import type { HistoryEntry, SampleMetrics } from '../core/metrics.ts';
import { isInputError } from '../core/errors.ts';
import type { ModelIndexEntry } from '../scenarios/builtin/assets.ts';
import { useStore } from './store.ts';
import { clearCurrentRun, type CurrentRun, saveCurrentRun, saveRun } from './persistence.ts';
import { configToHash, runSettings, type PlaygroundConfig } from './config.ts';
import { isModelScenario, modelScenarioRequest, specTransfer } from './model-inputs.ts';

const FLUSH_MS = 100;
/** Charts get about this many points over a run. */
const POINTS_PER_RUN = 60;
/** The run in progress is written to IndexedDB at most this often (and whenever it pauses). */
const SAVE_CURRENT_MS = 500;
/** A worker that crashes this often in one run is not restarted again. */
const MAX_RESTARTS = 3;
/** The engine's memory readout refreshes at most this often. */
const MEMORY_MS = 1000;

class Bridge {
  client: EngineClient | null = null;
  /** The last completed step's optimiser state; with the page's history it resumes the run anywhere. */
  lastSnapshot: RunSnapshot | null = null;
  /** A run restored after a reload: the next play or step starts the engine from it. */
  pendingResume: RunSnapshot | null = null;
  uploaded: ProbeFiles | null = null;
  triedBackends: BackendName[] = [];
  /** `?threads=`: asked of every engine this page starts, a restarted one included. */
  wasmThreads: number | undefined;
  restarts = 0;
  private lastSaved = 0;
  private lastMemory = 0;
  private saveFailureShown = false;
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  private pending: { entries: HistoryEntry[]; samples: SampleMetrics[] | null } = { entries: [], samples: null };
  private flushTimer: ReturnType<typeof setTimeout> | null = null;

  engine(): EngineClient {
    if (!this.client) {
      this.client = new EngineClient();
      this.client.on((e) => this.onEvent(e));
      this.client.onError((err) => void handleRunError(err));
    }
    return this.client;
  }

  /** A fresh worker (after a lost device): the old one is stopped and forgotten. */
  replaceEngine(): EngineClient {
    this.client?.terminate();
    this.client = null;
    return this.engine();
  }

  /** Forget the run on the page side: buffered metrics, the snapshot, the saved copy and the store's run state. */
  clearRun(): void {
    this.pending = { entries: [], samples: null };
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.flushTimer = null;
    this.saveTimer = null;
    this.lastSnapshot = null;
    this.pendingResume = null;
    this.restarts = 0;
    this.saveFailureShown = false;
    useStore.getState().clearRun();
    void clearCurrentRun().catch(() => undefined);
  }

  /** The state to continue from: the snapshot plus the history the page holds up to its step. */
  resumeState(): RecoveryState | undefined {
    const snap = this.lastSnapshot;
    if (!snap) return undefined;
    this.flush();
    return { ...snap, history: useStore.getState().history.filter((e) => e.step <= snap.step) };
  }

  /** Keep the run in progress in IndexedDB, at most every SAVE_CURRENT_MS (a paused run at once). */
  private scheduleSave(now: boolean): void {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    const wait = now ? 0 : Math.max(0, this.lastSaved + SAVE_CURRENT_MS - Date.now());
    this.saveTimer = setTimeout(() => this.saveNow(), wait);
  }

  /** Write the run in progress to IndexedDB now (nothing to write for a finished run, or before the first snapshot). */
  saveNow(): void {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = null;
    const st = useStore.getState();
    const state = this.resumeState();
    if (!state || st.status === 'done') return;
    this.lastSaved = Date.now();
    const { history, ...snapshot } = state;
    const run: CurrentRun = { config: st.config, totalSteps: st.totalSteps, snapshot, history, savedAt: Date.now() };
    saveCurrentRun(run).catch((err) => {
      // Said once per run: the run goes on, and later saves keep trying quietly.
      if (this.saveFailureShown) return;
      this.saveFailureShown = true;
      report(err, 'The run goes on; a reload would lose the steps since the last save.');
    });
  }

  /** Ask the engine what it holds; a failure here only leaves the readout as it was. */
  readMemory(force = false): void {
    if (!this.client || (!force && Date.now() - this.lastMemory < MEMORY_MS)) return;
    this.lastMemory = Date.now();
    this.client
      .request({ type: 'memory' })
      .then((memory) => useStore.getState().set({ memory }))
      .catch(() => undefined);
  }

  flush(): void {
    this.flushTimer = null;
    this.readMemory();
    const { entries, samples } = this.pending;
    this.pending = { entries: [], samples: null };
    if (!entries.length && !samples) return;
    useStore.setState((s) => ({
      history: mergeHistory(s.history, entries),
      samples: samples ?? s.samples,
      step: entries.length ? entries[entries.length - 1].step : s.step,
    }));
  }

  private onEvent(e: EngineEvent): void {
    const st = useStore.getState();
    switch (e.type) {
      case 'metrics':
        this.pending.entries.push(e.entry);
        if (e.samples) this.pending.samples = e.samples;
        this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS);
        break;
      case 'status':
        this.readMemory(true);
        st.set({
          status: e.status === 'ready' ? 'ready' : e.status === 'running' ? 'running' : e.status === 'done' ? 'done' : 'paused',
          step: e.step,
          totalSteps: e.totalSteps,
        });
        break;
      case 'done':
        this.flush();
        if (this.saveTimer) clearTimeout(this.saveTimer);
        this.saveTimer = null;
        this.lastSnapshot = null;
        st.set({ result: e.result, samples: e.result.samples, history: e.result.history, status: 'done' });
        void saveRun(e.result, st.config).catch((err) => report(err, 'The result is still on this page: export it (e) to keep it.'));
        break;
      case 'snapshot':
        this.lastSnapshot = e.state;
        this.scheduleSave(st.status === 'paused');
        break;
      case 'backend':
        st.set({ backend: e.backend });
        break;
      case 'notice':
        st.notify({ kind: 'info', message: e.message });
        break;
    }
  }
}

const bridge = new Bridge();
// Leaving the page (a reload, a closed tab): write the run in progress at once rather than at the next half-second.
globalThis.addEventListener?.('pagehide', () => {
  if (useStore.getState().status === 'running') bridge.saveNow();
});

function mergeHistory(old: HistoryEntry[], add: HistoryEntry[]): HistoryEntry[] {
  if (!add.length) return old;
  const firstNew = add[0].step;
  return [...old.filter((e) => e.step < firstNew), ...add];
}

function request<T extends Request['type']>(req: Extract<Request, { type: T }>, transfer?: Transferable[]): Promise<ReplyPayload[T]> {
  return bridge.engine().request(req, transfer);
}

/** Report an error in the page; the run state stays as it was. */
export function report(e: unknown, hint?: string): void {
  const err = e as Error;
  const code = e instanceof EngineError ? e.code : isInputError(e) ? 'input' : 'internal';
  const st = useStore.getState();
  const hints = {
    input: 'Check the file or setting named above and try again.',
    device: 'The run will continue on another backend.',
    crash: 'The engine will be restarted and the run continued.',
    internal: 'Reload the page if this persists; your saved runs are kept.',
  };
  st.notify({ kind: 'error', message: err?.message ?? String(e), hint: hint ?? hints[code] });
  st.set({
    busy: null,
    status: st.scenario ? (st.status === 'running' ? 'paused' : st.status === 'loading' ? 'ready' : st.status) : 'error',
  });
}

async function guarded<T>(label: string, fn: () => Promise<T>): Promise<T | undefined> {
  useStore.getState().set({ busy: label });
  try {
    return await fn();
  } catch (e) {
    report(e);
    return undefined;
  } finally {
    useStore.getState().set({ busy: null });
  }
}

export async function boot(prefer?: BackendName[], wasmThreads?: number): Promise<void> {
  const st = useStore.getState();
  bridge.wasmThreads = wasmThreads;
  await guarded('Starting the engine', async () => {
    const backend = await request({ type: 'init', prefer, wasmThreads });
    // The ones before it in the order were tried (or skipped by `?backend=`): a lost device moves on from here.
    bridge.triedBackends = BACKEND_ORDER_NAMES.slice(0, BACKEND_ORDER_NAMES.indexOf(backend.name) + 1);
    st.set({ backend, status: 'loading' });
  });
  try {
    const res = await fetch(new URL('models/index.json', document.baseURI));
    if (res.ok) st.set({ modelIndex: (await res.json()).models as ModelIndexEntry[] });
  } catch {
    st.notify({ kind: 'info', message: 'The built-in model index could not be loaded; the probe scenario still works.' });
  }
  await loadScenario();
}

export function setUploadedProbe(files: ProbeFiles | null): void {
  bridge.uploaded = files;
}

/** The scenario to load; a real model's files come from the cache, local files or (after the load button) the Hub. */
async function scenarioRequest(config: PlaygroundConfig): Promise<ScenarioRequest | null> {
  const { scenario } = config;
  if (isModelScenario(scenario)) return modelScenarioRequest(scenario);
  if (scenario === 'probe-example') return { kind: 'probe-example' };
  if (scenario === 'probe') return bridge.uploaded ? { kind: 'probe', files: bridge.uploaded } : null;
  return { kind: 'builtin', scenario, sae: config.sae, seed: runSettings(config).seed };
}

/** Load the configured scenario, then apply the configured (or default) defence. */
export async function loadScenario(): Promise<void> {
  const st = useStore.getState();
  bridge.clearRun();
  st.set({ status: 'loading', scenario: null, defence: null, sweep: null });
  // A real model's files may have to be downloaded first: that is part of loading (undefined: it failed, and said so).
  const req = await guarded('Loading the scenario', () => scenarioRequest(st.config));
  if (req === undefined) return;
  if (!req) {
    useStore.getState().set({ scenario: null, defence: null, status: 'ready' });
    return;
  }
  const info = await guarded('Loading the scenario', () =>
    request({ type: 'loadScenario', scenario: req }, req.kind === 'model' ? specTransfer(req) : []),
  );
  if (!info) return;
  useStore.getState().set({ scenario: info });
  await applyDefence();
}

export async function applyDefence(): Promise<void> {
  const st = useStore.getState();
  const sc = st.scenario;
  if (!sc) return;
  const features = st.config.features ?? sc.defaults.features;
  const clamp = st.config.clamp ?? sc.defaults.clamp;
  const defence = await guarded('Applying the clamp', () => request({ type: 'setDefence', features, clamp }));
  if (!defence) return;
  bridge.clearRun();
  useStore.getState().set({ defence, status: 'ready' });
}

/** The testing aid `?fault=KIND@STEP` (see FAULT_KINDS), applied to a fresh run only, never to a resumed one. */
function faultFromUrl(): Fault | undefined {
  const m = /^([a-z-]+)@(\d{1,6})$/.exec(new URLSearchParams(location.search).get('fault') ?? '');
  if (!m || !(FAULT_KINDS as readonly string[]).includes(m[1])) return undefined;
  return { kind: m[1] as Fault['kind'], atStep: Number(m[2]) };
}

function runConfig(resumeFrom?: RecoveryState): RunConfig {
  const { config } = useStore.getState();
  return {
    settings: config.run,
    metricsEvery: Math.max(1, Math.round(runSettings(config).steps / POINTS_PER_RUN)),
    stepDelayMs: config.stepDelayMs,
    resumeFrom,
    fault: resumeFrom ? undefined : faultFromUrl(),
  };
}

/** A run restored after a reload has no engine side yet: start it from its saved state. */
function takePendingResume(): RecoveryState | undefined {
  if (!bridge.pendingResume) return undefined;
  bridge.lastSnapshot = bridge.pendingResume;
  bridge.pendingResume = null;
  return bridge.resumeState();
}

export async function play(): Promise<void> {
  const st = useStore.getState();
  if (!st.defence) return;
  const restored = takePendingResume();
  if (restored) {
    const ok = await guarded('Continuing the restored run', () => request({ type: 'start', config: runConfig(restored) }));
    if (ok) useStore.getState().set({ status: 'running' });
    return;
  }
  if (st.status === 'paused') {
    await guarded('Resuming', () => request({ type: 'resume' }));
    return;
  }
  bridge.clearRun();
  st.set({ totalSteps: runSettings(st.config).steps });
  const ok = await guarded('Starting the run', () => request({ type: 'start', config: runConfig() }));
  if (ok) useStore.getState().set({ status: 'running' });
}

export async function pause(): Promise<void> {
  const r = await guarded('Pausing', () => request({ type: 'pause' }));
  if (r) useStore.getState().set({ status: r.status === 'done' ? 'done' : 'paused', step: r.step });
}

export async function stepOnce(): Promise<void> {
  const st = useStore.getState();
  if (!st.defence) return;
  const restored = takePendingResume();
  const fresh = !restored && (st.status === 'ready' || st.status === 'done');
  if (fresh) {
    bridge.clearRun();
    st.set({ totalSteps: runSettings(st.config).steps });
  }
  const config = restored ? runConfig(restored) : fresh ? runConfig() : undefined;
  const r = await guarded('Stepping', () => request({ type: 'step', count: 1, config }));
  if (r) useStore.getState().set({ status: r.status === 'done' ? 'done' : 'paused', step: r.step });
}

export async function reset(): Promise<void> {
  await guarded('Resetting', () => request({ type: 'reset' }));
  bridge.clearRun();
  bridge.readMemory(true);
  useStore.getState().set({ status: 'ready' });
}

export async function analyseJacobian(): Promise<void> {
  const j = await guarded('Analysing the Jacobian', () => request({ type: 'jacobian' }));
  if (j) useStore.getState().set({ jacobian: j });
}

export async function replayPath(): Promise<void> {
  const r = await guarded('Replaying the recovery path', () => request({ type: 'replay', topK: 8 }));
  if (r) useStore.getState().set({ replay: r });
}

/**
 * One prompt's top-k next tokens for the base, defended and recovered model. Not guarded: the next-token view
 * asks again as a run goes, and shows its own errors in place rather than as a notice each time.
 */
export function fetchNextTokens(sample: number, topK: number): Promise<NextTokenView> {
  return request({ type: 'nextTokens', sample, topK });
}

export async function sweepBudget(): Promise<void> {
  const run = runSettings(useStore.getState().config);
  const relative = run.budgetRel !== null;
  // Relative: κ over the paper's range; absolute: around the run's own ρ, from a twentieth of it to twice it.
  const budgets = relative ? [0.05, 0.1, 0.2, 0.3, 0.5] : [0.05, 0.1, 0.25, 0.5, 1, 2].map((f) => Number((f * run.budget).toPrecision(3)));
  const r = await guarded('Sweeping the budget', () => request({ type: 'budgetSweep', budgets, relative }));
  if (r) useStore.getState().set({ sweep: r });
}

/**
 * The device is gone, or the worker died: start a fresh engine (on the next backend after a lost device, on
 * the same one after a crash), load the same scenario and defence, and continue from the last snapshot.
 */
async function handleRunError(err: EngineError): Promise<void> {
  const st = useStore.getState();
  const crashed = err.code === 'crash';
  if ((err.code !== 'device' && !crashed) || !st.defence) {
    report(err);
    return;
  }
  if (crashed && ++bridge.restarts > MAX_RESTARTS) {
    report(err, `The engine crashed ${MAX_RESTARTS + 1} times in this run; it was not restarted again. Reload the page to start over.`);
    return;
  }
  const failed = st.backend?.name;
  const next = crashed
    ? [...(failed ? [failed] : []), ...BACKEND_ORDER_NAMES.filter((b) => b !== failed && !bridge.triedBackends.includes(b))]
    : BACKEND_ORDER_NAMES.filter((b) => !bridge.triedBackends.includes(b));
  // Only a run that was going is continued; otherwise the new engine gets the scenario and clamp and waits.
  const running = st.status === 'running';
  const from = bridge.resumeState();
  // The charts may trail the engine by a flush; the snapshot is the step it had completed.
  const at = Math.max(useStore.getState().step, from?.step ?? 0);
  const what = crashed ? `The engine worker crashed at step ${at} (${err.message})` : `The ${failed} device was lost at step ${at}`;
  st.notify({
    kind: 'info',
    message: running
      ? `${what}; continuing on ${next[0] ?? 'no other backend'} from step ${from?.step ?? 0}.`
      : `${crashed ? `The engine worker crashed (${err.message})` : `The ${failed} device was lost`}; restarted on ${next[0] ?? 'no other backend'}.`,
  });
  bridge.replaceEngine();
  try {
    const backend = await request({ type: 'init', prefer: next, wasmThreads: bridge.wasmThreads });
    if (!bridge.triedBackends.includes(backend.name)) bridge.triedBackends.push(backend.name);
    st.set({ backend });
    const req = await scenarioRequest(st.config);
    if (!req) return;
    await request({ type: 'loadScenario', scenario: req }, req.kind === 'model' ? specTransfer(req) : []);
    const d = useStore.getState().defence!;
    await request({ type: 'setDefence', features: d.features, clamp: d.clamp });
    if (!running) {
      // A paused run lost with the old engine continues from its snapshot at the next play or step.
      if (useStore.getState().status === 'paused' && bridge.lastSnapshot) bridge.pendingResume = bridge.lastSnapshot;
      return;
    }
    await request({ type: 'start', config: runConfig(from) });
    useStore.getState().set({ status: 'running' });
  } catch (e) {
    report(e);
  }
}

/**
 * After a reload: bring back the run that was in progress if it belongs to this configuration, with its
 * history, paused at its last saved step; play continues it. Returns whether it did.
 */
export function restoreCurrentRun(run: CurrentRun): boolean {
  const st = useStore.getState();
  if (!st.defence || configToHash(run.config) !== configToHash(st.config)) return false;
  bridge.pendingResume = run.snapshot;
  st.set({ history: run.history, step: run.snapshot.step, totalSteps: run.totalSteps, status: 'paused' });
  // Loading the scenario cleared the saved copy: keep it, so another reload before play still finds it.
  void saveCurrentRun(run).catch(() => undefined);
  st.notify({
    kind: 'info',
    message: `Restored the run in progress at step ${run.snapshot.step} of ${run.totalSteps}; press play to continue it.`,
  });
  return true;
}
