// Moving a run to a fresh engine: after the device is lost (on the next backend), after the worker dies (on the
// same one), or when the user picks WebGPU over the faster default. The new engine is given the same scenario and
// defence; a run that was going continues from the last snapshot with the history the page holds, a paused one at
// the next play or step.
import type { EngineError } from '../../engine/client.ts';
import type { BackendName } from '../../engine/protocol.ts';
import type { RecoveryState } from '../../core/recovery-state.ts';
import { useStore } from '../store.ts';
import { BACKEND_ORDER_NAMES, backendsFromSearch } from '../backends.ts';
import { specTransfer } from '../model-inputs.ts';
import { bridge, request } from './bridge.ts';
import { guarded, report } from './report.ts';
import { runConfig } from './run.ts';
import { scenarioRequest } from './scenario.ts';

/** A worker that crashes this often in one run is not restarted again. */
const MAX_RESTARTS = 3;

/** The backends before `name` in the order count as tried (or skipped by the page's choice): a loss moves on from there. */
export function triedUpTo(name: BackendName): BackendName[] {
  return BACKEND_ORDER_NAMES.slice(0, BACKEND_ORDER_NAMES.indexOf(name) + 1);
}

/**
 * Replace the engine with one on the first of `prefer` that starts (`started` is told which), and load the page's
 * scenario and defence into it; `running`: continue the run from `from` at once, else keep a paused run's snapshot
 * for the next play or step.
 */
async function restartEngine(
  prefer: BackendName[],
  started: (name: BackendName) => void,
  running: boolean,
  from: RecoveryState | undefined,
): Promise<void> {
  const st = useStore.getState();
  bridge.replaceEngine();
  const backend = await request({ type: 'init', prefer, wasmThreads: bridge.wasmThreads });
  started(backend.name);
  st.set({ backend });
  const req = await scenarioRequest(st.config);
  if (!req) return;
  await request({ type: 'loadScenario', scenario: req }, req.kind === 'model' ? specTransfer(req) : []);
  const d = useStore.getState().defence;
  if (!d) return;
  await request({ type: 'setDefence', features: d.features, clamp: d.clamp, defence: d.choice });
  if (!running) {
    // A paused run lost with the old engine continues from its snapshot at the next play or step.
    if (useStore.getState().status === 'paused' && bridge.lastSnapshot) bridge.pendingResume = bridge.lastSnapshot;
    return;
  }
  await request({ type: 'start', config: runConfig(from) });
  useStore.getState().set({ status: 'running' });
}

/**
 * The device is gone, or the worker died: start a fresh engine (on the next backend after a lost device, on
 * the same one after a crash), load the same scenario and defence, and continue from the last snapshot.
 */
export async function handleRunError(err: EngineError): Promise<void> {
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
  try {
    await restartEngine(
      next,
      (name) => {
        if (!bridge.triedBackends.includes(name)) bridge.triedBackends.push(name);
      },
      running,
      from,
    );
  } catch (e) {
    report(e);
  }
}

/**
 * The user's choice of backend over the default (the badge's WebGPU button): a fresh engine on it, as
 * `?backend=NAME` would start one, which the address now carries so a reload or a copied link keeps it.
 */
export async function switchBackend(name: BackendName): Promise<void> {
  const url = new URL(location.href);
  url.searchParams.set('backend', name);
  history.replaceState(history.state, '', url);
  const prefer = backendsFromSearch(url.search) ?? [name];
  await guarded(`Starting ${name}`, () =>
    restartEngine(
      prefer,
      (started) => {
        bridge.triedBackends = triedUpTo(started);
      },
      false,
      undefined,
    ),
  );
}
