// The optimiser's whole state, saved and restored: what lets a run pause across a lost device or a reload and
// continue (on another backend too) exactly where it stopped.
import { tf, type Variable } from './tf.ts';
import type { HistoryEntry } from './metrics.ts';
import { RecoveryOptionError } from './options.ts';
import type { CheckpointValues, Checkpoints } from './checkpoints.ts';

export interface RecoveryState {
  step: number;
  delta: Float32Array;
  m: Float32Array;
  v: Float32Array;
  best?: CheckpointValues;
  history: HistoryEntry[];
}

/** The device-side part of a run's state: δ, Adam's moments and the checkpoints, if the run keeps them. */
export interface OptimiserVariables {
  delta: Variable;
  m: Variable;
  v: Variable;
  best: Checkpoints | null;
}

export async function saveState(vars: OptimiserVariables, step: number, history: readonly HistoryEntry[]): Promise<RecoveryState> {
  const [delta, m, v] = await Promise.all([vars.delta.data(), vars.m.data(), vars.v.data()]);
  const state: RecoveryState = {
    step,
    delta: delta as Float32Array,
    m: m as Float32Array,
    v: v as Float32Array,
    history: history.slice(),
  };
  if (vars.best) state.best = await vars.best.values();
  return state;
}

/** Write a saved state's tensors back (the caller restores the step count and history); refused on a size mismatch. */
export function restoreState(vars: OptimiserVariables, state: RecoveryState): void {
  const shape = vars.delta.shape;
  const size = shape.reduce((a, b) => a * b, 1);
  if (state.delta.length !== size || state.m.length !== size || state.v.length !== size) {
    throw new RecoveryOptionError(`saved state has ${state.delta.length} values, this run needs ${size}`);
  }
  tf.tidy(() => {
    vars.delta.assign(tf.tensor(state.delta, shape));
    vars.m.assign(tf.tensor(state.m, shape));
    vars.v.assign(tf.tensor(state.v, shape));
    if (state.best && vars.best) vars.best.restore(state.best, shape);
  });
}
