// The report's parts, run in separate workers, merge into the data one process running every part would write.
import { describe, expect, it } from 'vitest';
import { mergeParts, type ScenarioData, type ScenarioPartData, type SeedRun } from './report-runs.ts';

const meta = {
  title: 'T',
  behaviour: 'B',
  featureRule: 'top-2 r',
  clamp: 'zero',
  sae: { id: 'relu', name: 'relu-128', architecture: 'standard' },
  k: 2,
  shared: false,
  dModel: 64,
};

const seedRun = (seed: number): SeedRun => ({
  seed,
  rho: 1,
  valid: [true],
  success: [seed % 2 === 0],
  absDrift: [0.1],
  relDrift: [null],
  eligible: [1],
  reactivated: [0],
  activeRecovered: [1],
  deltaOverResidual: [0.3],
  feasible: null,
});

function part(seed: number, which: 'defence' | 'ladder'): ScenarioPartData {
  const defence = which === 'defence';
  return {
    id: 'tpp',
    meta: defence ? meta : null,
    settings: {} as ScenarioData['settings'],
    linear: true,
    seeds: [seed],
    runs: defence ? { none: [seedRun(seed)], encoder: [seedRun(seed)] } : { 'topk:none': [seedRun(seed)] },
    ladder: { rungs: [{ sae: 'low', ev: 0.7, width: 64 }], seeds: defence ? [] : [{ seed, k: 2, rungs: [] }] },
    extras: defence ? [{ seed, tppScore: seed }] : [],
    stage2: [],
  };
}

describe('mergeParts', () => {
  it('puts every seed once, runs and ladder seeds in seed order, and the meta of the defence part', () => {
    const merged = mergeParts([part(0, 'defence'), part(0, 'ladder'), part(1, 'defence'), part(1, 'ladder')]);
    expect(merged.seeds).toEqual([0, 1]);
    expect(merged.title).toBe('T');
    expect(Object.keys(merged.runs)).toEqual(['none', 'encoder', 'topk:none']);
    for (const runs of Object.values(merged.runs)) expect(runs.map((r) => r.seed)).toEqual([0, 1]);
    expect(merged.ladder.seeds.map((s) => s.seed)).toEqual([0, 1]);
    expect(merged.extras).toEqual([
      { seed: 0, tppScore: 0 },
      { seed: 1, tppScore: 1 },
    ]);
    // The same key order as a scenario's data written in one piece, so results.json does not reorder.
    expect(Object.keys(merged).slice(0, 3)).toEqual(['id', 'title', 'behaviour']);
  });

  it('refuses parts without a defence part (nothing says what the scenario is)', () => {
    expect(() => mergeParts([part(0, 'ladder')])).toThrow(/no defence part/);
  });
});
