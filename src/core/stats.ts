// Small statistics shared by the metrics and the reports.
import { mulberry32 } from './rng.ts';

/** Wilson score interval for k successes in n trials; null when n = 0 (no valid flips, nothing to estimate). */
export function wilson(k: number, n: number, z = 1.959963984540054): [number, number] | null {
  if (n <= 0) return null;
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** Mean of the values selected by `keep` (all when omitted); null for an empty selection. */
export function meanOf(values: ArrayLike<number>, keep?: ArrayLike<boolean>): number | null {
  let s = 0,
    n = 0;
  for (let i = 0; i < values.length; i++) {
    if (keep && !keep[i]) continue;
    s += values[i];
    n++;
  }
  return n ? s / n : null;
}

/** Median of the values; null when there are none. */
export function medianOf(values: ArrayLike<number>): number | null {
  const sorted = Array.from(values).sort((a, b) => a - b);
  const n = sorted.length;
  if (!n) return null;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/**
 * Percentile bootstrap interval for a statistic of several seeds' samples, resampling the structure the
 * data has: seeds with replacement, and — when every sample has its own δ — samples within each drawn seed.
 * When the samples of a seed share one δ they are one cluster and are not resampled within it (their errors
 * are not independent). Deterministic for a given `rngSeed`. Null when the statistic is undefined.
 */
export function clusteredBootstrap<T>(
  seeds: T[][],
  stat: (seeds: T[][]) => number | null,
  opts: { resampleWithin: boolean; reps?: number; level?: number; rngSeed?: number },
): [number, number] | null {
  const point = stat(seeds);
  if (point === null || seeds.length === 0) return null;
  const reps = opts.reps ?? 2000;
  const level = opts.level ?? 0.95;
  const rand = mulberry32(opts.rngSeed ?? 1);
  const draw = <U>(xs: U[]) => xs[Math.floor(rand() * xs.length)];
  const values: number[] = [];
  for (let r = 0; r < reps; r++) {
    const picked = seeds.map(() => {
      const s = draw(seeds);
      return opts.resampleWithin ? s.map(() => draw(s)) : s;
    });
    const v = stat(picked);
    if (v !== null && Number.isFinite(v)) values.push(v);
  }
  if (!values.length) return null;
  values.sort((a, b) => a - b);
  const q = (p: number) => values[Math.min(values.length - 1, Math.max(0, Math.round(p * (values.length - 1))))];
  return [q((1 - level) / 2), q(1 - (1 - level) / 2)];
}
