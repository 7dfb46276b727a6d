// The report's figures pooled over seeds (report-runs.ts collects them per seed): every valid flip of every seed,
// with 95% intervals from a bootstrap that resamples seeds, and samples within a seed only when each sample has its
// own δ. report-markdown.ts writes them out.
import { clusteredBootstrap, meanOf } from '../core/stats.ts';
import type { SeedRun } from './report-runs.ts';

/** One valid flip of one seed, with what the tables read. */
interface Flip {
  success: boolean;
  absDrift: number;
  relDrift: number | null;
  eligible: number;
  reactivated: number;
  zeroReactivation: boolean;
  deltaOverResidual: number;
  feasible: boolean | null;
}

function flips(run: SeedRun): Flip[] {
  const out: Flip[] = [];
  run.valid.forEach((v, i) => {
    if (!v) return;
    out.push({
      success: run.success[i],
      absDrift: run.absDrift[i],
      relDrift: run.relDrift[i],
      eligible: run.eligible[i],
      reactivated: run.reactivated[i],
      zeroReactivation: run.success[i] && run.reactivated[i] === 0,
      deltaOverResidual: run.deltaOverResidual[i],
      feasible: run.feasible ? run.feasible[i] : null,
    });
  });
  return out;
}

type Stat = (seeds: Flip[][]) => number | null;
const share =
  (f: (x: Flip) => boolean): Stat =>
  (seeds) => {
    const all = seeds.flat();
    return all.length ? all.filter(f).length / all.length : null;
  };
const mean =
  (f: (x: Flip) => number | null): Stat =>
  (seeds) =>
    meanOf(
      seeds
        .flat()
        .map(f)
        .filter((v): v is number => v !== null),
    );
const pooledReactivation: Stat = (seeds) => {
  const all = seeds.flat();
  const e = all.reduce((a, x) => a + x.eligible, 0);
  return e ? all.reduce((a, x) => a + x.reactivated, 0) / e : null;
};
const perPromptReactivation = mean((x) => (x.eligible > 0 ? x.reactivated / x.eligible : null));

export interface Figure {
  value: number | null;
  ci: [number, number] | null;
}

export interface Pooled {
  seeds: number;
  valid: number;
  recovered: number;
  rate: Figure;
  absDrift: Figure;
  relDrift: { value: number | null; included: number; excluded: number };
  reactivation: number | null;
  reactivationPerPrompt: number | null;
  zeroReactivation: Figure;
  deltaOverResidual: number | null;
  rho: number | null;
  feasible: number | null;
}

export function pool(runs: SeedRun[], shared: boolean): Pooled {
  const seeds = runs.map(flips);
  const all = seeds.flat();
  const figure = (stat: Stat, salt: number): Figure => ({
    value: stat(seeds),
    ci: clusteredBootstrap(seeds, stat, { resampleWithin: !shared, rngSeed: salt }),
  });
  const rel = all.map((x) => x.relDrift).filter((v): v is number => v !== null);
  return {
    seeds: runs.length,
    valid: all.length,
    recovered: all.filter((x) => x.success).length,
    rate: figure(
      share((x) => x.success),
      1,
    ),
    absDrift: figure(
      mean((x) => x.absDrift),
      2,
    ),
    relDrift: { value: meanOf(rel), included: rel.length, excluded: all.length - rel.length },
    reactivation: pooledReactivation(seeds),
    reactivationPerPrompt: perPromptReactivation(seeds),
    zeroReactivation: figure(
      share((x) => x.zeroReactivation),
      3,
    ),
    deltaOverResidual: mean((x) => x.deltaOverResidual)(seeds),
    rho: meanOf(runs.map((r) => r.rho)),
    feasible: runs.every((r) => r.feasible) && runs.length ? all.filter((x) => x.feasible).length : null,
  };
}
