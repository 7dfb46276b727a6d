// The δ position sets every loaded scenario offers: its own (default), every real token, and the last one.
import type { DeltaPositions } from './catalog.ts';

/**
 * `own` rows may differ in length (a prompt set places any number of δ positions per prompt): they are padded with
 * −1, the unused slot, to the longest.
 */
export function positionSets(mask: Float32Array, n: number, t: number, own: number[][]): Record<DeltaPositions, number[][]> {
  const p = Math.max(0, ...own.map((row) => row.length));
  const all = Array.from({ length: n }, (_, i) => Array.from({ length: t }, (_, j) => (mask[i * t + j] ? j : -1)));
  return {
    default: own.map((row) => [...row, ...Array(p - row.length).fill(-1)]),
    all,
    last: all.map((row) => [Math.max(...row)]),
  };
}

/**
 * Why one shared δ cannot use these per-prompt positions, or null when it can. A shared δ is [1, P, d]: its k-th
 * slot is added at each prompt's own k-th position (so prompts of different lengths share δ at, say, their last
 * token), which needs every prompt to have the same number of positions. `source` names the set in the message.
 */
export function sharedDeltaProblem(rows: readonly (readonly number[])[], source = 'the prompt set'): string | null {
  const j = rows.findIndex((row) => row.length !== rows[0].length);
  if (j < 0) return null;
  const prompt = (i: number) =>
    `prompt ${i + 1} has ${rows[i].length} (${rows[i].length === 1 ? 'position' : 'positions'} ${rows[i].join(', ')})`;
  return (
    `${source}: one shared δ needs the same number of δ positions in every prompt (its k-th slot goes to each prompt's k-th position), ` +
    `but ${prompt(0)} and ${prompt(j)}: give every prompt the same number of "delta_positions", or run δ per sample`
  );
}
