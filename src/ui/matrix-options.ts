// What the Defences tab's "Run the matrix" runs: how many seeds, which projection modes, which defences. Kept in this
// browser (not in links: a link carries one run's configuration); a stale or hand-edited entry falls back to the
// defaults (one seed, every mode, the seven defences), which finish in about a minute on the built-in scenarios.
import { z } from 'zod';
import { DEFENCE_IDS } from '../core/defence-kinds.ts';
import { PROJECTION_MODES } from '../core/options.ts';
import { loadLocal, saveLocal } from './local-settings.ts';

/** Seeds a matrix from the page may use (each loads the scenario again and repeats every attack). */
export const MAX_PAGE_MATRIX_SEEDS = 5;

export const matrixOptionsSchema = z.object({
  seeds: z.number().int().min(1).max(MAX_PAGE_MATRIX_SEEDS),
  modes: z.array(z.enum(PROJECTION_MODES)).min(1),
  defences: z.array(z.enum(DEFENCE_IDS)).min(1),
});
export type MatrixOptions = z.infer<typeof matrixOptionsSchema>;

export const DEFAULT_MATRIX_OPTIONS: MatrixOptions = { seeds: 1, modes: [...PROJECTION_MODES], defences: [...DEFENCE_IDS] };

const STORAGE_KEY = 'unclamp-defence-matrix-v1';

export function loadMatrixOptions(): MatrixOptions {
  return loadLocal(STORAGE_KEY, matrixOptionsSchema, DEFAULT_MATRIX_OPTIONS);
}

export function saveMatrixOptions(o: MatrixOptions): void {
  saveLocal(STORAGE_KEY, o);
}

/** The data seeds the matrix loads: 0, 1, …, as the matrix's own default (seeds 0–4) starts. */
export const matrixSeeds = (o: MatrixOptions): number[] => Array.from({ length: o.seeds }, (_, i) => i);

/** Toggle one item of a list, kept in the order of `all`. */
export function toggled<T>(list: readonly T[], item: T, on: boolean, all: readonly T[]): T[] {
  return all.filter((x) => (x === item ? on : list.includes(x)));
}
