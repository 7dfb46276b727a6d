// The page's side of the engine worker: the one client, and what the page keeps of the run the worker is doing.
// Metrics are buffered and flushed at most ~10 times a second, so a fast run never floods React; the last
// completed step's optimiser state (a snapshot) is kept, and written to IndexedDB at most every half second, so
// a lost device, a crashed worker or a reload continues the run from there with the history the page holds.
import { EngineClient, type EngineError } from '../../engine/client.ts';
import type { BackendName, EngineEvent, ProbeFiles, ReplyPayload, Request, RunSnapshot } from '../../engine/protocol.ts';
import type { RecoveryState } from '../../core/recovery-state.ts';
import type { HistoryEntry, SampleMetrics } from '../../core/metrics.ts';
import { useStore } from '../store.ts';
import { clearCurrentRun, type CurrentRun, saveCurrentRun, saveRun } from '../persistence.ts';
import { report } from './report.ts';

const FLUSH_MS = 100;
/** The run in progress is written to IndexedDB at most this often (and whenever it pauses). */
const SAVE_CURRENT_MS = 500;
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
  /** What follows an error no request waits for (a lost device, a crashed worker): failover.ts sets it at boot. */
  onEngineError: (err: EngineError) => void = (err) => report(err);
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
      this.client.onError((err) => this.onEngineError(err));
    }
    return this.client;
  }

  /** A fresh worker (after a lost device, a crash, or a change of backend): the old one is stopped and forgotten. */
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
      case 'matrixProgress':
        // Only while the page waits for a matrix (a late event after it finished is dropped).
        if (st.matrixProgress)
          st.set({ matrixProgress: { message: e.message, done: e.done, total: e.total, cancelling: st.matrixProgress.cancelling } });
        break;
    }
  }
}

export const bridge = new Bridge();
// Leaving the page (a reload, a closed tab): write the run in progress at once rather than at the next half-second.
globalThis.addEventListener?.('pagehide', () => {
  if (useStore.getState().status === 'running') bridge.saveNow();
});

function mergeHistory(old: HistoryEntry[], add: HistoryEntry[]): HistoryEntry[] {
  if (!add.length) return old;
  const firstNew = add[0].step;
  return [...old.filter((e) => e.step < firstNew), ...add];
}

/** One request to the engine (started on first use), resolved with its reply. */
export function request<T extends Request['type']>(
  req: Extract<Request, { type: T }>,
  transfer?: Transferable[],
): Promise<ReplyPayload[T]> {
  return bridge.engine().request(req, transfer);
}
