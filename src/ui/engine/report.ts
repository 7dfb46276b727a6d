// How a failed engine request reaches the user: a notice in words with what to do, and the page's state put back
// to where it can go on from.
import { EngineError } from '../../engine/client.ts';
import { isInputError } from '../../core/errors.ts';
import { useStore } from '../store.ts';

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

/** Run one user-visible engine job: the page shows `label` while it lasts, and a failure is reported, not thrown. */
export async function guarded<T>(label: string, fn: () => Promise<T>): Promise<T | undefined> {
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
