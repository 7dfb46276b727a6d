// The bridge between the page and the engine worker: requests go out, events come back into the store.
// Metrics are buffered and flushed at most ~10 times a second, so a fast run never floods React.
// A lost GPU device moves the run to the next backend, from its last snapshot.
import { EngineClient, EngineError } from '../engine/client.ts';
import { BACKEND_ORDER_NAMES } from './backends.ts';
import type { BackendName, EngineEvent, ProbeFiles, RunConfig, ScenarioRequest } from '../engine/protocol.ts';
import type { RecoveryState } from '../core/recovery.ts';
import type { HistoryEntry, SampleMetrics } from '../core/metrics.ts';
import type { ModelIndexEntry } from '../scenarios/builtin/assets.ts';
import { useStore } from './store.ts';
import { saveRun } from './persistence.ts';
import type { ScenarioChoice } from './config.ts';

let client: EngineClient | null = null;
let lastSnapshot: RecoveryState | null = null;
let uploaded: ProbeFiles | null = null;
let pending: { entries: HistoryEntry[]; samples: SampleMetrics[] | null } = { entries: [], samples: null };
let flushTimer: ReturnType<typeof setTimeout> | null = null;
let triedBackends: BackendName[] = [];

const FLUSH_MS = 100;

function flush(): void {
  flushTimer = null;
  const { entries, samples } = pending;
  pending = { entries: [], samples: null };
  if (!entries.length && !samples) return;
  useStore.setState((s) => ({
    history: mergeHistory(s.history, entries),
    samples: samples ?? s.samples,
    step: entries.length ? entries[entries.length - 1].step : s.step,
  }));
}

function mergeHistory(old: HistoryEntry[], add: HistoryEntry[]): HistoryEntry[] {
  if (!add.length) return old;
  const firstNew = add[0].step;
  return [...old.filter((e) => e.step < firstNew), ...add];
}

function onEvent(e: EngineEvent): void {
  const st = useStore.getState();
  switch (e.type) {
    case 'metrics':
      pending.entries.push(e.entry);
      if (e.samples) pending.samples = e.samples;
      if (!flushTimer) flushTimer = setTimeout(flush, FLUSH_MS);
      break;
    case 'status':
      st.set({ status: e.status === 'running' ? 'running' : e.status === 'done' ? 'done' : 'paused', step: e.step, totalSteps: e.totalSteps });
      break;
    case 'done':
      flush();
      st.set({ result: e.result, samples: e.result.samples, history: e.result.history, status: 'done' });
      void saveRun(e.result, st.config).catch(() => undefined);
      break;
    case 'snapshot':
      lastSnapshot = e.state;
      break;
    case 'backend':
      st.set({ backend: e.backend });
      break;
    case 'notice':
      st.notify({ kind: 'info', message: e.message });
      break;
  }
}

function connect(): EngineClient {
  const c = new EngineClient();
  c.on(onEvent);
  c.onError((err) => void handleRunError(err));
  return c;
}

export function engine(): EngineClient {
  if (!client) client = connect();
  return client;
}

/** Report an error in the page; the run state stays as it was. */
export function report(e: unknown, hint?: string): void {
  const err = e as Error;
  const code = e instanceof EngineError ? e.code : 'internal';
  const st = useStore.getState();
  st.notify({
    kind: 'error',
    message: err?.message ?? String(e),
    hint: hint ?? (code === 'input' ? 'Check the file or setting named above and try again.' : code === 'device' ? 'The run will continue on another backend.' : 'Reload the page if this persists; your saved runs are kept.'),
  });
  st.set({ busy: null, status: st.scenario ? (st.status === 'running' ? 'paused' : st.status === 'loading' ? 'ready' : st.status) : 'error' });
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
    const backend = await engine().request({ type: 'init', prefer });
    triedBackends = [backend.name];
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
  uploaded = files;
}

function scenarioRequest(choice: ScenarioChoice, sae: string | undefined, seed: number): ScenarioRequest | null {
  if (choice === 'probe-example') return { kind: 'probe-example' };
  if (choice === 'probe-upload') return uploaded ? { kind: 'probe', files: uploaded, name: 'Your probe' } : null;
  return { kind: 'builtin', scenario: choice, sae, seed };
}

/** Load the configured scenario, then apply the configured (or default) defence. */
export async function loadScenario(): Promise<void> {
  const st = useStore.getState();
  const { config } = st;
  const req = scenarioRequest(config.scenario, config.sae, config.run.seed);
  if (!req) {
    st.set({ scenario: null, defence: null, status: 'ready' });
    return;
  }
  st.set({ status: 'loading', scenario: null, defence: null, history: [], samples: [], result: null, imported: false, jacobian: null, replay: null, sweep: null });
  const info = await guarded('Loading the scenario', () => engine().request({ type: 'loadScenario', scenario: req }));
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
  const defence = await guarded('Applying the clamp', () => engine().request({ type: 'setDefence', features, clamp }));
  if (defence) useStore.getState().set({ defence, status: 'ready', history: [], samples: [], result: null, imported: false, step: 0, replay: null, jacobian: null });
}

function runConfig(resumeFrom?: RecoveryState): RunConfig {
  const { config } = useStore.getState();
  const r = config.run;
  const simulate = new URLSearchParams(location.search).get('simulateDeviceLossAt');
  return {
    options: { mode: r.mode, delta: r.delta, steps: r.steps, lr: r.lr, budget: r.budget, lambdaAct: r.lambdaAct, seed: r.seed, reproject: r.reproject },
    positions: r.positions,
    metricsEvery: Math.max(1, Math.round(r.steps / 60)),
    stepDelayMs: config.stepDelayMs,
    resumeFrom,
    simulateDeviceLossAtStep: simulate && !resumeFrom ? Number(simulate) : undefined,
  };
}

export async function play(): Promise<void> {
  const st = useStore.getState();
  if (!st.defence) return;
  if (st.status === 'paused') {
    await guarded('Resuming', () => engine().request({ type: 'resume' }));
    return;
  }
  lastSnapshot = null;
  st.set({ history: [], samples: [], result: null, imported: false, replay: null, step: 0, totalSteps: st.config.run.steps });
  const ok = await guarded('Starting the run', () => engine().request({ type: 'start', config: runConfig() }));
  if (ok) useStore.getState().set({ status: 'running' });
}

export async function pause(): Promise<void> {
  const r = await guarded('Pausing', () => engine().request({ type: 'pause' }));
  if (r) useStore.getState().set({ status: r.status === 'done' ? 'done' : 'paused', step: r.step });
}

export async function stepOnce(): Promise<void> {
  const st = useStore.getState();
  if (!st.defence) return;
  const fresh = st.status === 'ready' || st.status === 'done';
  if (fresh) st.set({ history: [], samples: [], result: null, imported: false, totalSteps: st.config.run.steps });
  const r = await guarded('Stepping', () => engine().request({ type: 'step', count: 1, config: fresh ? runConfig() : undefined }));
  if (r) useStore.getState().set({ status: r.status === 'done' ? 'done' : 'paused', step: r.step });
}

export async function reset(): Promise<void> {
  await guarded('Resetting', () => engine().request({ type: 'reset' }));
  lastSnapshot = null;
  useStore.getState().set({ status: 'ready', step: 0, history: [], samples: [], result: null, imported: false, replay: null });
}

export async function analyse(kind: 'jacobian' | 'replay' | 'budget-sweep'): Promise<void> {
  const st = useStore.getState();
  if (kind === 'jacobian') {
    const j = await guarded('Analysing the Jacobian', () => engine().request({ type: 'analyse', analysis: 'jacobian' }));
    if (j) st.set({ jacobian: j as never });
  } else if (kind === 'replay') {
    const r = await guarded('Replaying the recovery path', () => engine().request({ type: 'analyse', analysis: 'replay', topK: 8 }));
    if (r) st.set({ replay: r as never });
  } else {
    const r = await guarded('Sweeping the budget', () => engine().request({ type: 'analyse', analysis: 'budget-sweep', budgets: [0.25, 0.5, 1, 2, 5, 10, 20] }));
    if (r) st.set({ sweep: r as never });
  }
}

/** The device is gone: start a fresh engine on the next backend and continue from the last snapshot. */
async function handleRunError(err: EngineError): Promise<void> {
  if (err.code !== 'device') {
    report(err);
    return;
  }
  const st = useStore.getState();
  const failed = st.backend?.name;
  const next = BACKEND_ORDER_NAMES.filter((b) => !triedBackends.includes(b));
  st.notify({ kind: 'info', message: `The ${failed} device was lost at step ${st.step}; continuing on ${next[0] ?? 'no other backend'} from step ${lastSnapshot?.step ?? 0}.` });
  client?.terminate();
  client = connect();
  try {
    const backend = await engine().request({ type: 'init', prefer: next });
    triedBackends.push(backend.name);
    st.set({ backend });
    const req = scenarioRequest(st.config.scenario, st.config.sae, st.config.run.seed);
    if (!req) return;
    await engine().request({ type: 'loadScenario', scenario: req });
    const d = useStore.getState().defence!;
    await engine().request({ type: 'setDefence', features: d.features, clamp: d.clamp });
    await engine().request({ type: 'start', config: runConfig(lastSnapshot ?? undefined) });
    useStore.getState().set({ status: 'running' });
  } catch (e) {
    report(e);
  }
}
