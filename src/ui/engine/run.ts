// The run's controls: play, pause, one step, reset, each a request to the engine with the page's run settings.
import { FAULT_KINDS, type Fault, type RunConfig } from '../../engine/protocol.ts';
import type { RecoveryState } from '../../core/recovery-state.ts';
import { useStore } from '../store.ts';
import { runSettings } from '../config.ts';
import { bridge, request } from './bridge.ts';
import { guarded } from './report.ts';
import { takePendingResume } from './resume.ts';

/** Charts get about this many points over a run. */
const POINTS_PER_RUN = 60;

/** The testing aid `?fault=KIND@STEP` (see FAULT_KINDS), applied to a fresh run only, never to a resumed one. */
function faultFromUrl(): Fault | undefined {
  const m = /^([a-z-]+)@(\d{1,6})$/.exec(new URLSearchParams(location.search).get('fault') ?? '');
  if (!m || !(FAULT_KINDS as readonly string[]).includes(m[1])) return undefined;
  return { kind: m[1] as Fault['kind'], atStep: Number(m[2]) };
}

export function runConfig(resumeFrom?: RecoveryState): RunConfig {
  const { config } = useStore.getState();
  return {
    settings: config.run,
    metricsEvery: Math.max(1, Math.round(runSettings(config).steps / POINTS_PER_RUN)),
    stepDelayMs: config.stepDelayMs,
    resumeFrom,
    fault: resumeFrom ? undefined : faultFromUrl(),
  };
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
