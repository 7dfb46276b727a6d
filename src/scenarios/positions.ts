// The δ position sets every loaded scenario offers: its own (default), every real token, and the last one.
import type { DeltaPositions } from './catalog.ts';

export function positionSets(mask: Float32Array, n: number, t: number, own: number[][]): Record<DeltaPositions, number[][]> {
  const all = Array.from({ length: n }, (_, i) => Array.from({ length: t }, (_, j) => (mask[i * t + j] ? j : -1)));
  return { default: own, all, last: all.map((row) => [Math.max(...row)]) };
}
