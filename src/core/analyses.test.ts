import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { tf, type Tensor3D } from './tf.ts';
import { Sae } from './sae.ts';
import { parseClampRule } from './clamp.ts';
import { RecoverySite } from './site.ts';
import { RecoveryRun } from './recovery.ts';
import { jacobianAnalysis, nullSpaceShare, recoveryPathReplay } from './analyses.ts';
import { makeSyntheticProbeWorld } from '../scenarios/synthetic-probe.ts';
import { activationsTensor, allTokenPositions, probeBehaviour } from '../scenarios/probe.ts';

async function site(seed: number) {
  const world = makeSyntheticProbeWorld({ seed, n: 24, t: 2, d: 20, m: 64 });
  const sae = Sae.create(world.config, world.arrays);
  const probe = probeBehaviour(world.probe, 0, world.acts);
  const h = activationsTensor(world.acts);
  const s = await RecoverySite.create({
    sae,
    features: world.conceptFeatures,
    clamp: parseClampRule('zero'),
    h,
    positions: allTokenPositions(world.acts),
    behaviour: probe.behaviour,
  });
  h.dispose();
  return {
    site: s,
    dispose: () => {
      s.dispose();
      sae.dispose();
      probe.dispose();
    },
  };
}

describe('null-space share', () => {
  it('is exact on a hand-made case', () => {
    // span{e1, e2} in R^4; g = e1 + e3 has half its squared norm outside the span.
    const A = new Matrix([
      [1, 0],
      [0, 1],
      [0, 0],
      [0, 0],
    ]);
    const g = new Matrix([[1], [0], [1], [0]]);
    const r = nullSpaceShare(A, g);
    expect(r.share).toBeCloseTo(0.5, 8);
    expect(r.rank).toBe(2);
    expect(r.singular).toEqual([1, 1]);
    // Dependent columns do not add rank.
    expect(
      nullSpaceShare(
        new Matrix([
          [1, 2],
          [0, 0],
          [0, 0],
        ]),
        new Matrix([[0], [1], [0]]),
      ).rank,
    ).toBe(1);
  });
});

describe('Jacobian analysis', () => {
  it('reports rank, null-space dimension and gradient shares on the defended state', async () => {
    const { site: s, dispose } = await site(2);
    const r = await jacobianAnalysis(s);
    expect(r.d).toBe(20);
    expect(r.slots).toBeGreaterThan(0);
    expect(r.rank).toBeLessThanOrEqual(4);
    expect(r.nullSpaceDim).toBe(20 - r.rank);
    expect(r.gradientNullShare).toBeGreaterThanOrEqual(0);
    expect(r.gradientNullShare).toBeLessThanOrEqual(1);
    // The encoder null space (all of S) is contained in the live-rows null space, so it holds less of g.
    expect(r.gradientEncoderNullShare).toBeLessThanOrEqual(r.gradientNullShare + 1e-9);
    // In this world the probe reads along the defended features, so the encoder projection removes most of g.
    expect(r.gradientEncoderNullShare).toBeLessThan(0.5);
    dispose();
  });
});

describe('recovery-path replay', () => {
  it('splits δ exactly into residual + non-clamped + clamped parts, and replays each', async () => {
    const { site: s, dispose } = await site(4);
    const run = await RecoveryRun.create(s, { mode: 'none', steps: 60, lr: 0.05, budget: 3 });
    await run.run({ metricsEvery: 60 });
    const delta = tf.tensor3d(await run.deltaValues(), [s.n, s.p, s.d]);
    const rows = await recoveryPathReplay(s, delta as Tensor3D, 4);
    const by = Object.fromEntries(rows.map((r) => [r.part, r]));
    const agg = (await run.result()).aggregate;
    expect(by.full.recovered).toBe(agg.recovered);
    expect(by.full.normShare).toBeCloseTo(1, 5);
    expect(rows.every((r) => r.validFlips === agg.validFlips)).toBe(true);
    // B is linear in h for a probe, so the parts' effects add up to the full δ's effect.
    const effect = (x: tf.Tensor) =>
      tf.tidy(() => Array.from(tf.sub(s.behaviourAt(x as Tensor3D), s.behaviourAt(tf.zerosLike(x) as Tensor3D)).dataSync()));
    const sae = s.sae;
    const parts = tf.tidy(() => {
      const full = tf.mul(delta, s.slotMask);
      const hRec = tf.add(s.hDefAtSlots, full);
      const feat = tf.sub(sae.reconstruct(hRec), sae.reconstruct(s.hDefAtSlots));
      return [full, tf.sub(full, feat), feat];
    });
    const [eFull, eRes, eFeat] = parts.map(effect);
    for (let i = 0; i < eFull.length; i++) expect(eRes[i] + eFeat[i]).toBeCloseTo(eFull[i], 3);
    tf.dispose([...parts, delta]);
    run.dispose();
    dispose();
  });
});
