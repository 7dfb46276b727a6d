// The relative budget on ragged δ positions: samples that use different numbers of slots (δ at every token of
// sentences of different lengths). The page once showed κ · median · √(padded slot count) while the run used
// the median count a sample uses; both now read one function, rhoForKappa.
import { beforeAll, describe, expect, it } from 'vitest';
import { Sae } from './sae.ts';
import { parseClampRule } from './clamp.ts';
import { RecoverySite } from './site.ts';
import { RecoveryRun } from './recovery.ts';
import { budgetBasis, relativeBudget, rhoForKappa } from './budget.ts';
import { makeSyntheticProbeWorld } from '../scenarios/synthetic-probe.ts';
import { activationsTensor, probeBehaviour } from '../scenarios/probe.ts';
import { initNodeBackend } from '../engine/node-backend.ts';

beforeAll(() => initNodeBackend('cpu'));

describe('relative budget on ragged δ positions', () => {
  it('is κ · median ‖h_def‖ · √(median slots a sample uses), not √(padded slots), for the run and the page alike', async () => {
    const world = makeSyntheticProbeWorld({ seed: 5, n: 8, t: 4 });
    const sae = Sae.create(world.config, world.arrays);
    const probe = probeBehaviour(world.probe, 0, world.acts);
    const h = activationsTensor(world.acts);
    // Six one-token samples and two four-token ones: 4 slots padded, a median of 1 used.
    const positions = Array.from({ length: 8 }, (_, i) => (i < 6 ? [0, -1, -1, -1] : [0, 1, 2, 3]));
    const site = await RecoverySite.create({
      sae,
      features: world.conceptFeatures,
      clamp: parseClampRule('zero'),
      h,
      positions,
      behaviour: probe.behaviour,
    });
    h.dispose();
    try {
      expect(site.p).toBe(4);
      const basis = budgetBasis(site);
      expect(basis.slotsPerSample).toBe(1);
      const kappa = 0.3;
      const run = await RecoveryRun.create(site, { mode: 'none', steps: 1, budgetRel: kappa });
      // What the engine sends the page (DefenceInfo carries the basis) gives exactly the ρ the run uses.
      expect(rhoForKappa(kappa, basis)).toBe(run.options.budget);
      expect(relativeBudget(site, kappa)).toBe(run.options.budget);
      // The padded count would have shown twice the ρ the run used (√4 against √1).
      const padded = kappa * site.baseline.slotNormMedian * Math.sqrt(site.p);
      expect(padded / run.options.budget).toBeCloseTo(2, 6);
      run.dispose();
    } finally {
      site.dispose();
      sae.dispose();
      probe.dispose();
    }
  });
});
