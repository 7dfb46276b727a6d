import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ratesAt, roc } from './roc.ts';

describe('roc', () => {
  it('separates perfectly: the curve goes up the left edge, AUC 1', () => {
    const r = roc([1, 2, 3], [4, 5]);
    expect(r.auc).toBe(1);
    expect(r.points[0]).toEqual({ fpr: 0, tpr: 0, threshold: Number.POSITIVE_INFINITY });
    expect(r.points.at(-1)).toMatchObject({ fpr: 1, tpr: 1 });
    // Both attacked inputs are flagged before the first clean one.
    expect(r.points.map((p) => [p.fpr, p.tpr])).toEqual([
      [0, 0],
      [0, 0.5],
      [0, 1],
      [1 / 3, 1],
      [2 / 3, 1],
      [1, 1],
    ]);
  });

  it('is 0 when every attacked score is below every clean one, ½ on identical sets', () => {
    expect(roc([4, 5], [1, 2]).auc).toBe(0);
    expect(roc([1, 2, 3], [1, 2, 3]).auc).toBeCloseTo(0.5, 12);
  });

  it('counts a tie between clean and attacked as a half, and moves both rates in one step', () => {
    const r = roc([1, 2], [2, 3]);
    // Pairs (a > c): 3>1, 3>2, 2>1 = 3 of 4; the tie 2=2 counts ½.
    expect(r.auc).toBeCloseTo(3.5 / 4, 12);
    expect(r.points.map((p) => [p.fpr, p.tpr])).toEqual([
      [0, 0],
      [0, 0.5],
      [0.5, 1],
      [1, 1],
    ]);
  });

  it('labels each point with the threshold that flags exactly its inputs (score > threshold)', () => {
    const clean = [0.1, 0.4, 0.4, 0.9];
    const attacked = [0.3, 0.5, 1.2];
    for (const p of roc(clean, attacked).points) {
      if (!Number.isFinite(p.threshold)) continue;
      expect(ratesAt(clean, attacked, p.threshold)).toEqual({ fpr: p.fpr, tpr: p.tpr });
    }
    expect(ratesAt(clean, attacked, 0.4)).toEqual({ fpr: 0.25, tpr: 2 / 3 });
  });

  it('has no curve without inputs on both sides, and leaves out non-finite scores', () => {
    expect(roc([], [1])).toEqual({ points: [], auc: null });
    expect(roc([1], [])).toEqual({ points: [], auc: null });
    expect(roc([1, Number.NaN], [2, Number.POSITIVE_INFINITY]).auc).toBe(1);
    expect(ratesAt([], [], 0)).toEqual({ fpr: null, tpr: null });
  });

  it('AUC is the Mann–Whitney statistic, and the curve is monotone from (0, 0) to (1, 1)', () => {
    const scores = fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 30 });
    fc.assert(
      fc.property(scores, scores, (clean, attacked) => {
        const r = roc(clean, attacked);
        let wins = 0;
        for (const a of attacked) for (const c of clean) wins += a > c ? 1 : a === c ? 0.5 : 0;
        expect(r.auc).toBeCloseTo(wins / (clean.length * attacked.length), 10);
        expect(r.points[0]).toMatchObject({ fpr: 0, tpr: 0 });
        expect(r.points.at(-1)).toMatchObject({ fpr: 1, tpr: 1 });
        for (let i = 1; i < r.points.length; i++) {
          expect(r.points[i].fpr).toBeGreaterThanOrEqual(r.points[i - 1].fpr);
          expect(r.points[i].tpr).toBeGreaterThanOrEqual(r.points[i - 1].tpr);
          expect(r.points[i].threshold).toBeLessThan(r.points[i - 1].threshold);
        }
      }),
    );
  });
});
