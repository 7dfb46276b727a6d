import { describe, expect, it } from 'vitest';
import { clusteredBootstrap, medianOf, wilson } from './stats.ts';
import { mulberry32 } from './rng.ts';

const pooledRate = (seeds: number[][]) => {
  const all = seeds.flat();
  return all.length ? all.reduce((a, b) => a + b, 0) / all.length : null;
};

describe('clustered bootstrap', () => {
  it('is deterministic and brackets the point estimate', () => {
    const rand = mulberry32(3);
    const seeds = Array.from({ length: 5 }, () => Array.from({ length: 30 }, () => (rand() < 0.6 ? 1 : 0)));
    const a = clusteredBootstrap(seeds, pooledRate, { resampleWithin: true });
    expect(a).toEqual(clusteredBootstrap(seeds, pooledRate, { resampleWithin: true }));
    const p = pooledRate(seeds)!;
    expect(a![0]).toBeLessThan(p);
    expect(a![1]).toBeGreaterThan(p);
    // With 150 independent samples it is close to the Wilson interval of the pooled count.
    const k = seeds.flat().filter(Boolean).length;
    const w = wilson(k, 150)!;
    expect(Math.abs(a![0] - w[0])).toBeLessThan(0.04);
    expect(Math.abs(a![1] - w[1])).toBeLessThan(0.04);
  });

  it('is wider when samples share a δ and the seeds disagree (clusters, not samples, are the unit)', () => {
    // Seeds that differ a lot: within-seed resampling would pretend 150 independent draws.
    const seeds = [0.2, 0.9, 0.3, 0.8, 0.5].map((p) => Array.from({ length: 30 }, (_, i) => (i < p * 30 ? 1 : 0)));
    const naive = clusteredBootstrap([seeds.flat()], pooledRate, { resampleWithin: true })!;
    const clustered = clusteredBootstrap(seeds, pooledRate, { resampleWithin: false })!;
    expect(clustered[1] - clustered[0]).toBeGreaterThan(1.5 * (naive[1] - naive[0]));
    // Resampling within the seeds as well adds the samples' own noise on top of the seeds'.
    const both = clusteredBootstrap(seeds, pooledRate, { resampleWithin: true })!;
    expect(both[1] - both[0]).toBeGreaterThanOrEqual(clustered[1] - clustered[0] - 0.02);
    // A single cluster has no spread at all: the interval collapses onto the point.
    expect(clusteredBootstrap([seeds[0]], pooledRate, { resampleWithin: false })).toEqual([0.2, 0.2]);
  });

  it('is null when the statistic is undefined', () => {
    expect(clusteredBootstrap([[], []], pooledRate, { resampleWithin: true })).toBeNull();
  });
});

describe('median', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(medianOf([3, 1, 2])).toBe(2);
    expect(medianOf([4, 1, 3, 2])).toBe(2.5);
    expect(medianOf([])).toBeNull();
  });
});
