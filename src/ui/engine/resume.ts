// A run continued after a reload: brought back paused from its saved copy, and started in the engine from its
// snapshot at the next play or step.
import type { RecoveryState } from '../../core/recovery-state.ts';
import { useStore } from '../store.ts';
import { type CurrentRun, saveCurrentRun } from '../persistence.ts';
import { configToHash } from '../config.ts';
import { bridge } from './bridge.ts';

/** A run restored after a reload has no engine side yet: start it from its saved state. */
export function takePendingResume(): RecoveryState | undefined {
  if (!bridge.pendingResume) return undefined;
  bridge.lastSnapshot = bridge.pendingResume;
  bridge.pendingResume = null;
  return bridge.resumeState();
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
