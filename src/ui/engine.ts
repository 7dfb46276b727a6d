// The bridge between the page and the engine worker: requests go out, events come back into the store.
// Metrics are buffered and flushed at most ~10 times a second, so a fast run never floods React. A lost GPU
// device moves the run to the next backend, from its last snapshot. The bridge's own state (the worker
// client, the last snapshot, the uploaded files, the metrics buffer) lives in one object.
import { EngineClient, EngineError } from '../engine/client.ts';
import { BACKEND_ORDER_NAMES } from './backends.ts';
import type { NextTokenView } from '../engine/protocol.ts';
import type { BackendName, EngineEvent, ProbeFiles, ReplyPayload, Request, RunConfig, ScenarioRequest } from '../engine/protocol.ts';
import type { RecoveryState } from '../core/recovery.ts';
import type { HistoryEntry, SampleMetrics } from '../core/metrics.ts';
import { isInputError } from '../core/errors.ts';
import type { ModelIndexEntry } from '../scenarios/builtin/assets.ts';
import { useStore } from './store.ts';
import { saveRun } from './persistence.ts';
import { runSettings, type PlaygroundConfig } from './config.ts';
import { isModelScenario, modelScenarioRequest, specTransfer } from './model-inputs.ts';

const FLUSH_MS = 100;
/** Charts get about this many points over a run. */
const POINTS_PER_RUN = 60;

class Bridge {
  client: EngineClient | null = null;
  lastSnapshot: RecoveryState | null = null;
  uploaded: ProbeFiles | null = null;
  triedBackends: BackendName[] = [];
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

  /** Forget the run on the page side: buffered metrics, the snapshot, and the store's run state. */
  clearRun(): void {
    this.pending = { entries: [], samples: null };
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.lastSnapshot = null;
    useStore.getState().clearRun();
  }

  private flush(): void {
    this.flushTimer = null;
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
        st.set({
          status: e.status === 'ready' ? 'ready' : e.status === 'running' ? 'running' : e.status === 'done' ? 'done' : 'paused',
          step: e.step,
          totalSteps: e.totalSteps,
        });
        break;
      case 'done':
        this.flush();
        st.set({ result: e.result, samples: e.result.samples, history: e.result.history, status: 'done' });
        void saveRun(e.result, st.config).catch((err) =>
          report(err, 'The run finished but could not be saved in this browser (storage full or blocked).'),
        );
        break;
      case 'snapshot':
        this.lastSnapshot = e.state;
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

export async function boot(prefer?: BackendName[]): Promise<void> {
  const st = useStore.getState();
  await guarded('Starting the engine', async () => {
    const backend = await request({ type: 'init', prefer });
    bridge.triedBackends = [backend.name];
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

function runConfig(resumeFrom?: RecoveryState): RunConfig {
  const { config } = useStore.getState();
  const simulate = new URLSearchParams(location.search).get('simulateDeviceLossAt');
  return {
    settings: config.run,
    metricsEvery: Math.max(1, Math.round(runSettings(config).steps / POINTS_PER_RUN)),
    stepDelayMs: config.stepDelayMs,
    resumeFrom,
    simulateDeviceLossAtStep: simulate && !resumeFrom ? Number(simulate) : undefined,
  };
}

export async function play(): Promise<void> {
  const st = useStore.getState();
  if (!st.defence) return;
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
  const fresh = st.status === 'ready' || st.status === 'done';
  if (fresh) {
    bridge.clearRun();
    st.set({ totalSteps: runSettings(st.config).steps });
  }
  const r = await guarded('Stepping', () => request({ type: 'step', count: 1, config: fresh ? runConfig() : undefined }));
  if (r) useStore.getState().set({ status: r.status === 'done' ? 'done' : 'paused', step: r.step });
}

export async function reset(): Promise<void> {
  await guarded('Resetting', () => request({ type: 'reset' }));
  bridge.clearRun();
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

/** The device is gone: start a fresh engine on the next backend and continue from the last snapshot. */
async function handleRunError(err: EngineError): Promise<void> {
  if (err.code !== 'device') {
    report(err);
    return;
  }
  const st = useStore.getState();
  const failed = st.backend?.name;
  const next = BACKEND_ORDER_NAMES.filter((b) => !bridge.triedBackends.includes(b));
  const from = bridge.lastSnapshot;
  st.notify({
    kind: 'info',
    message: `The ${failed} device was lost at step ${st.step}; continuing on ${next[0] ?? 'no other backend'} from step ${from?.step ?? 0}.`,
  });
  bridge.replaceEngine();
  try {
    const backend = await request({ type: 'init', prefer: next });
    bridge.triedBackends.push(backend.name);
    st.set({ backend });
    const req = await scenarioRequest(st.config);
    if (!req) return;
    await request({ type: 'loadScenario', scenario: req }, req.kind === 'model' ? specTransfer(req) : []);
    const d = useStore.getState().defence!;
    await request({ type: 'setDefence', features: d.features, clamp: d.clamp });
    await request({ type: 'start', config: runConfig(from ?? undefined) });
    useStore.getState().set({ status: 'running' });
  } catch (e) {
    report(e);
  }
}
