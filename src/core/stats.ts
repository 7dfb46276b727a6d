// Small statistics shared by the metrics and the reports.

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
