// Chart data from the run history: decimation for long series and the Wilson band per point.
import type { HistoryEntry } from '../core/metrics.ts';
import { wilson } from '../core/stats.ts';

/** At most `max` points, evenly spaced, always keeping the first and the last. */
export function decimate<T>(xs: T[], max: number): T[] {
  if (xs.length <= max) return xs;
  const out: T[] = [];
  const stride = (xs.length - 1) / (max - 1);
  for (let i = 0; i < max; i++) out.push(xs[Math.round(i * stride)]);
  return out;
}

export interface ChartPoint {
  step: number;
  rate: number | null;
  band: [number, number] | null;
  relDrift: number | null;
  absDrift: number | null;
  residual: number | null;
  delta: number | null;
  objective: number | null;
  [pinned: string]: number | null | [number, number] | null;
}

/** One point per history entry; the CI band from recovered/valid (the rate × valid count). */
export function chartPoints(history: HistoryEntry[], validFlips: number, max = 200): ChartPoint[] {
  return decimate(history, max).map((h) => {
    const k = h.recoveryRate === null ? null : Math.round(h.recoveryRate * validFlips);
    return {
      step: h.step,
      rate: h.recoveryRate,
      band: k === null ? null : wilson(k, validFlips),
      relDrift: h.meanRelDrift,
      absDrift: h.meanAbsDrift,
      residual: h.residualNorm,
      delta: h.meanDeltaNorm,
      objective: h.objective,
    };
  });
}
