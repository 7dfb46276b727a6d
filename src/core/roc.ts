// The detector's ROC from its scores: clean inputs (negatives) against attacked ones (positives), an input flagged
// when its score passes the threshold (score > t, as the monitor flags: core/detector.ts). Pure arithmetic, no
// TensorFlow.js: the page draws it from a defence matrix's score arrays.

export interface RocPoint {
  /** Share of clean inputs flagged at this threshold. */
  fpr: number;
  /** Share of attacked inputs flagged at this threshold. */
  tpr: number;
  /** Flagged when score > threshold; +∞ for the first point (nothing flagged). */
  threshold: number;
}

export interface Roc {
  /** From (0, 0) to (1, 1), one point per distinct score (tied scores move both rates in one step). */
  points: RocPoint[];
  /** Area under the curve: P(attacked score > clean score) + ½ P(equal); null when either set is empty. */
  auc: number | null;
}

/** Non-finite scores (a NaN from a broken read-back) are left out: they are neither flagged nor passed. */
const finite = (xs: readonly number[]) => xs.filter((x) => Number.isFinite(x));

export function roc(clean: readonly number[], attacked: readonly number[]): Roc {
  const neg = finite(clean);
  const pos = finite(attacked);
  if (!neg.length || !pos.length) return { points: [], auc: null };
  const all = [...neg.map((s) => ({ s, pos: false })), ...pos.map((s) => ({ s, pos: true }))].sort((a, b) => b.s - a.s);
  const points: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Number.POSITIVE_INFINITY }];
  let fp = 0;
  let tp = 0;
  let auc = 0;
  for (let i = 0; i < all.length; ) {
    // Every input with this score is flagged once the threshold drops below it.
    const s = all[i].s;
    const [fp0, tp0] = [fp, tp];
    for (; i < all.length && all[i].s === s; i++) {
      if (all[i].pos) tp++;
      else fp++;
    }
    // Trapezoid: a tie between clean and attacked scores counts a half.
    auc += ((fp - fp0) / neg.length) * ((tp + tp0) / 2 / pos.length);
    // The next threshold down: just below s (a threshold equal to the next score flags exactly these).
    points.push({ fpr: fp / neg.length, tpr: tp / pos.length, threshold: i < all.length ? all[i].s : Number.NEGATIVE_INFINITY });
  }
  return { points, auc };
}

/** The rates at one threshold (the detector's own): what share of each set passes it. */
export function ratesAt(
  clean: readonly number[],
  attacked: readonly number[],
  threshold: number,
): { fpr: number | null; tpr: number | null } {
  const neg = finite(clean);
  const pos = finite(attacked);
  return {
    fpr: neg.length ? neg.filter((s) => s > threshold).length / neg.length : null,
    tpr: pos.length ? pos.filter((s) => s > threshold).length / pos.length : null,
  };
}
