import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor3D } from './tf.ts';
import { Sae } from './sae.ts';
import { parseClampRule } from './clamp.ts';
import { RecoverySite } from './site.ts';
import { RecoveryRun } from './recovery.ts';
import { resolveOptions, type RecoveryOptions } from './options.ts';
import { makeSyntheticProbeWorld, type SyntheticProbeWorld } from '../scenarios/synthetic-probe.ts';
import { activationsTensor, allTokenPositions, probeBehaviour } from '../scenarios/probe.ts';
import { wilson } from './stats.ts';
import { linearFeasibility } from './analyses.ts';
import { initNodeBackend } from '../engine/node-backend.ts';

// On wasm, not the suite's default cpu backend: several times faster, and what the CLI runs.
beforeAll(() => initNodeBackend('wasm'));

async function buildSite(world: SyntheticProbeWorld, features = world.conceptFeatures, clamp = 'zero') {
  const sae = Sae.create(world.config, world.arrays);
  const probe = probeBehaviour(world.probe, 0, world.acts);
  const h = activationsTensor(world.acts);
  const site = await RecoverySite.create({
    sae,
    features,
    clamp: parseClampRule(clamp),
    h,
    positions: allTokenPositions(world.acts),
    behaviour: probe.behaviour,
  });
  h.dispose();
  return {
    site,
    sae,
    dispose: () => {
      site.dispose();
      sae.dispose();
      probe.dispose();
    },
  };
}

/** Read W_enc[:, S]ᵀ δ and the defended pre-activations before/after for a finished run. */
async function encoderReadout(run: RecoveryRun, site: RecoverySite) {
  const delta = tf.tensor3d(await run.deltaValues(), [site.n, site.p, site.d]);
  const out = tf.tidy(() => {
    const full = tf.mul(delta, site.slotMask) as Tensor3D;
    const readout = tf.matMul(tf.reshape(full, [-1, site.d]), site.set.W_encS);
    const preBefore = site.set.preActs(site.hDefAtSlots);
    const preAfter = site.set.preActs(tf.add(site.hDefAtSlots, full));
    const zBefore = site.set.acts(site.hDefAtSlots);
    const zAfter = site.set.acts(tf.add(site.hDefAtSlots, full));
    const member = (h: tf.Tensor) => site.set.activeMask(h);
    const kept = tf.sub(1, tf.abs(tf.sub(member(tf.add(site.hDefAtSlots, full)), member(site.hDefAtSlots))));
    const maxAbs = (x: tf.Tensor) => tf.max(tf.abs(x)).dataSync()[0];
    return {
      readout: maxAbs(readout),
      deltaNorm: tf.norm(full).dataSync()[0],
      preShift: maxAbs(tf.sub(preAfter, preBefore)),
      // TopK: the pre-activations of S are fixed, but other features can push S in or out of the top k;
      // z_S must be unchanged wherever membership is kept.
      zShift: maxAbs(tf.mul(tf.sub(zAfter, zBefore), kept)),
      keptShare: tf.mean(kept).dataSync()[0],
    };
  });
  delta.dispose();
  return out;
}

describe('encoder projection with re-projection keeps the defended pre-activations fixed', () => {
  it.each(['standard', 'jumprelu', 'topk'] as const)('%s SAE', async (architecture) => {
    const world = makeSyntheticProbeWorld({ architecture, seed: 3, t: 2 });
    const { site, dispose } = await buildSite(world);
    const run = await RecoveryRun.create(site, { mode: 'encoder', reproject: true, steps: 40, lr: 0.05, budget: 4 });
    await run.run({ metricsEvery: 40 });
    const r = await encoderReadout(run, site);
    expect(r.deltaNorm).toBeGreaterThan(0.5); // the optimiser did move
    expect(r.readout / r.deltaNorm).toBeLessThan(1e-4); // W_enc[:,S]ᵀδ ≈ 0 (ridge 1e-4, float32)
    expect(r.preShift).toBeLessThan(1e-4);
    expect(r.zShift).toBeLessThan(1e-4);
    expect(r.keptShare).toBeGreaterThan(0.5);
    if (architecture !== 'topk') expect((await run.result()).aggregate.meanAbsDrift!).toBeLessThan(1e-4);
    run.dispose();
    dispose();
  });

  it('without re-projection δ drifts out of the null space (why the option exists)', async () => {
    const world = makeSyntheticProbeWorld({ seed: 3, t: 2 });
    const { site, dispose } = await buildSite(world);
    const run = await RecoveryRun.create(site, { mode: 'none', steps: 40, lr: 0.05, budget: 4 });
    await run.run({ metricsEvery: 40 });
    const r = await encoderReadout(run, site);
    expect(r.readout / r.deltaNorm).toBeGreaterThan(1e-2);
    run.dispose();
    dispose();
  });
});

// ---------------------------------------------------------------------------------------------------------
// An independent float64 implementation of the same run for the probe scenario with pooled [N, d]
// activations and a standard ReLU SAE: defended state, behaviour, gradient (analytic), projection
// (Gaussian elimination), Adam and the budget clip. The TF.js run must land on the same recovered scores.

function reference(world: SyntheticProbeWorld, features: number[], o: RecoveryOptions, alpha = 0): number[] {
  const { dIn: d, dSae: m } = world.config;
  const { W_enc, b_enc, W_dec, b_dec } = world.arrays;
  const { n } = world.acts;
  const w = Array.from(world.probe.w);
  const b = world.probe.b[0];
  const pre = (x: number[], f: number) => {
    let s = b_enc[f];
    for (let j = 0; j < d; j++) s += (x[j] - b_dec[j]) * W_enc[j * m + f];
    return s;
  };
  const hDef: number[][] = [];
  const zDef: number[][] = [];
  for (let i = 0; i < n; i++) {
    const h = Array.from(world.acts.h.subarray(i * d, (i + 1) * d));
    const z = features.map((f) => Math.max(0, pre(h, f)));
    // multiply-by-α clamp (α = 0: zero-ablation): h_def = h + (α − 1) Σ z_f W_dec[f]
    features.forEach((f, k) => {
      for (let j = 0; j < d; j++) h[j] += (alpha - 1) * z[k] * W_dec[f * d + j];
    });
    hDef.push(h);
    zDef.push(features.map((f) => Math.max(0, pre(h, f))));
  }
  // Projection P g = g − A (AᵀA + rI)⁻¹ Aᵀ g by Gaussian elimination.
  const s = features.length;
  const A = (j: number, k: number) => W_enc[j * m + features[k]];
  const project = (g: number[]) => {
    const M = Array.from({ length: s }, (_, a) =>
      Array.from({ length: s + 1 }, (_, c) => {
        if (c === s) return g.reduce((acc, gj, j) => acc + A(j, a) * gj, 0);
        let v = 0;
        for (let j = 0; j < d; j++) v += A(j, a) * A(j, c);
        return v + (a === c ? o.ridge : 0);
      }),
    );
    for (let col = 0; col < s; col++) {
      for (let r = col + 1; r < s; r++) {
        const f = M[r][col] / M[col][col];
        for (let c = col; c <= s; c++) M[r][c] -= f * M[col][c];
      }
    }
    const x = new Array(s).fill(0);
    for (let r = s - 1; r >= 0; r--) {
      let v = M[r][s];
      for (let c = r + 1; c < s; c++) v -= M[r][c] * x[c];
      x[r] = v / M[r][r];
    }
    return g.map((gj, j) => gj - x.reduce((acc, xk, k) => acc + A(j, k) * xk, 0));
  };
  const groups = o.delta === 'shared' ? 1 : n;
  const delta = Array.from({ length: groups }, () => new Array(d).fill(0));
  const mom = Array.from({ length: groups }, () => new Array(d).fill(0));
  const vel = Array.from({ length: groups }, () => new Array(d).fill(0));
  const { beta1, beta2, eps } = o.adam;
  for (let t = 1; t <= o.steps; t++) {
    const grads = delta.map(() => new Array(d).fill(0));
    for (let i = 0; i < n; i++) {
      const g = grads[o.delta === 'shared' ? 0 : i];
      const di = delta[o.delta === 'shared' ? 0 : i];
      for (let j = 0; j < d; j++) g[j] -= w[j] / n; // ∂(−mean B)/∂δ_i
      if (o.lambdaAct > 0) {
        const x = hDef[i].map((v, j) => v + di[j]);
        const den = zDef[i].reduce((a, v) => a + v * v, 0) + 1e-8;
        features.forEach((f, k) => {
          const p = pre(x, f);
          if (p <= 0) return;
          const coef = (o.lambdaAct * 2 * (p - zDef[i][k])) / den / n;
          for (let j = 0; j < d; j++) g[j] += coef * W_enc[j * m + f];
        });
      }
    }
    for (let gi = 0; gi < groups; gi++) {
      const g = o.mode === 'encoder' ? project(grads[gi]) : grads[gi];
      let next = delta[gi].map((dv, j) => {
        mom[gi][j] = beta1 * mom[gi][j] + (1 - beta1) * g[j];
        vel[gi][j] = beta2 * vel[gi][j] + (1 - beta2) * g[j] * g[j];
        const mh = mom[gi][j] / (1 - beta1 ** t);
        const vh = vel[gi][j] / (1 - beta2 ** t);
        return dv - (o.lr * mh) / (Math.sqrt(vh) + eps);
      });
      if (o.mode === 'encoder' && o.reproject) next = project(next);
      const norm = Math.sqrt(next.reduce((a, v) => a + v * v, 0));
      const scale = Math.min(1, o.budget / (norm + 1e-12));
      delta[gi] = next.map((v) => v * scale);
    }
  }
  return hDef.map((h, i) => {
    const di = delta[o.delta === 'shared' ? 0 : i];
    return h.reduce((acc, v, j) => acc + (v + di[j]) * w[j], b);
  });
}

describe('the TF.js run equals an independent float64 computation of the same Adam run', () => {
  const world = makeSyntheticProbeWorld({ seed: 11, n: 12, d: 16, m: 48 });
  const cases: [string, Partial<RecoveryOptions>][] = [
    ['none, per-sample', { mode: 'none' }],
    ['encoder, per-sample', { mode: 'encoder' }],
    ['encoder + re-projection, shared δ', { mode: 'encoder', reproject: true, delta: 'shared' }],
    // The penalty divides by Σ z_def² + 1e-8: with a clamp that keeps the features on (×2) it is well conditioned.
    ['none with the λ_act drift penalty (clamp ×2)', { mode: 'none', lambdaAct: 5 }],
  ];
  it.each(cases)('%s', async (name, partial) => {
    const alpha = name.includes('×2') ? 2 : 0;
    const o = resolveOptions({ steps: 25, lr: 0.08, budget: 1.5, ...partial });
    const { site, dispose } = await buildSite(world, world.conceptFeatures, alpha ? `multiply:${alpha}` : 'zero');
    const run = await RecoveryRun.create(site, o);
    await run.run({ metricsEvery: 25 });
    const result = await run.result();
    const expected = reference(world, world.conceptFeatures, o, alpha);
    const got = result.samples.map((s) => s.recovered);
    const scale = Math.max(...expected.map(Math.abs));
    for (let i = 0; i < expected.length; i++) expect(Math.abs(got[i] - expected[i]) / scale).toBeLessThan(2e-4);
    // And the run did something: scores moved from the defended ones.
    expect(result.samples.some((s) => Math.abs(s.recovered - s.defended) > 0.1)).toBe(true);
    run.dispose();
    dispose();
  });
});

describe('run control', () => {
  let ctx: Awaited<ReturnType<typeof buildSite>>;
  beforeAll(async () => {
    ctx = await buildSite(makeSyntheticProbeWorld({ seed: 5, t: 2, n: 10 }));
  });
  afterAll(() => ctx.dispose());

  it('pause and resume give the same result as one uninterrupted run', async () => {
    const opts = {
      mode: 'jacobian' as const,
      steps: 12,
      lr: 0.05,
      budget: 2,
      jacobian: { exactMaxRows: 0, probes: 3, correctionSteps: 2, correctionLr: 0.05 },
    };
    const a = await RecoveryRun.create(ctx.site, opts);
    await a.run();
    const b = await RecoveryRun.create(ctx.site, opts);
    let calls = 0;
    const status = await b.run({ onMetrics: () => void (++calls === 5 && b.pause()) });
    expect(status).toBe('paused');
    expect(b.step).toBeLessThan(12);
    expect(await b.run()).toBe('done');
    expect(await b.deltaValues()).toEqual(await a.deltaValues());
    // Export the state mid-way and continue in a fresh run (what a lost device does).
    const c = await RecoveryRun.create(ctx.site, opts);
    for (let i = 0; i < 7; i++) c.stepOnce();
    const state = await c.exportState();
    const d = await RecoveryRun.create(ctx.site, opts);
    d.importState(state);
    await d.run();
    expect(await d.deltaValues()).toEqual(await a.deltaValues());
    [a, b, c, d].forEach((r) => r.dispose());
  });

  it('is deterministic given the seed, and the sketch depends on it', async () => {
    const opts = {
      mode: 'jacobian' as const,
      steps: 6,
      lr: 0.05,
      budget: 2,
      jacobian: { exactMaxRows: 0, probes: 2, correctionSteps: 0, correctionLr: 0 },
    };
    const values = async (seed: number) => {
      const r = await RecoveryRun.create(ctx.site, { ...opts, seed });
      await r.run();
      const v = await r.deltaValues();
      r.dispose();
      return Array.from(v);
    };
    expect(await values(1)).toEqual(await values(1));
    expect(await values(1)).not.toEqual(await values(2));
  });

  it('keeps the tensor count flat over 2,000 steps in every mode', async () => {
    const modes: Partial<RecoveryOptions>[] = [
      { mode: 'none', lambdaAct: 1, lambdaDec: 1 },
      { mode: 'encoder', reproject: true },
      { mode: 'jacobian' },
      {
        mode: 'jacobian',
        delta: 'shared',
        jacobian: { exactMaxRows: 0, probes: 2, correctionSteps: 1, correctionLr: 0.05 },
        checkpointMaxRelDrift: 0.5,
      },
    ];
    for (const m of modes) {
      const run = await RecoveryRun.create(ctx.site, { ...m, steps: 2000, lr: 0.01, budget: 1 });
      run.stepOnce();
      await run.record();
      const before = tf.memory().numTensors;
      await run.run({ metricsEvery: 500 });
      expect(run.step).toBe(2000);
      expect(tf.memory().numTensors).toBe(before);
      const beforeDispose = tf.memory().numTensors;
      run.dispose();
      expect(tf.memory().numTensors).toBeLessThan(beforeDispose);
    }
  }, 300_000);

  it("drift-constrained checkpoints follow the paper's rule: best admissible B, else best B − 80·drift, every 10 steps", async () => {
    // Amplify the concept features (×3) so the defended state keeps them on and relative drift is defined.
    const amp = await buildSite(makeSyntheticProbeWorld({ seed: 5, t: 2, n: 10 }), undefined, 'multiply:3');
    const opts = { mode: 'none' as const, steps: 30, lr: 0.1, budget: 3 };
    // The trajectory without selection, read at the checkpoints (steps 10, 20, 30).
    const plain = await RecoveryRun.create(amp.site, opts);
    const seen: { b: number; rel: number }[][] = [];
    for (let step = 1; step <= 30; step++) {
      plain.stepOnce();
      if (step % 10 === 0)
        seen.push((await plain.sampleMetrics()).map((x) => ({ b: x.recovered, rel: x.absDrift / (x.defendedNorm + 1e-8) })));
    }
    // A cap that some samples meet at some checkpoint and others never do.
    const lowest = seen[0].map((_, i) => Math.min(...seen.map((c) => c[i].rel))).sort((a, b) => a - b);
    const tau = lowest[Math.floor(lowest.length / 2)];
    const picked = await RecoveryRun.create(amp.site, { ...opts, checkpointMaxRelDrift: tau });
    await picked.run({ metricsEvery: 30 });
    const reported = await picked.sampleMetrics();
    let admissible = 0;
    let fallback = 0;
    reported.forEach((r, i) => {
      const candidates = seen.map((c) => c[i]);
      const ok = candidates.filter((c) => c.rel <= tau);
      const best = ok.length
        ? ok.reduce((a, c) => (c.b > a.b ? c : a))
        : candidates.reduce((a, c) => (c.b - 80 * c.rel > a.b - 80 * a.rel ? c : a));
      if (ok.length) admissible++;
      else fallback++;
      expect(r.recovered).toBeCloseTo(best.b, 4);
    });
    expect(admissible).toBeGreaterThan(0);
    expect(fallback).toBeGreaterThan(0);
    [picked, plain].forEach((r) => r.dispose());
    amp.dispose();
  });

  it('a relative budget is κ · median ‖h_def‖ at the δ positions · √P (P: δ positions a sample uses), reported as the ρ used', async () => {
    const run = await RecoveryRun.create(ctx.site, { mode: 'none', steps: 3, budget: 1, budgetRel: 0.2 });
    const expected = 0.2 * ctx.site.baseline.slotNormMedian * Math.sqrt(ctx.site.p);
    expect(ctx.site.p).toBe(2);
    expect(run.options.budget).toBeCloseTo(expected, 6);
    await run.run();
    const { samples, config } = await run.result();
    expect(config).toMatchObject({ budgetRel: 0.2, budget: run.options.budget });
    for (const x of samples) expect(x.deltaNorm).toBeLessThanOrEqual(run.options.budget * (1 + 1e-5));
    run.dispose();
  });
});

describe('the L2 projected-gradient optimiser on linear probes', () => {
  // B is affine in δ, so the best δ has a closed form (linearFeasibility): no optimiser can recover more valid
  // flips than are feasible, and projected gradient should reach nearly all of them.
  it.each(['none', 'encoder'] as const)(
    '%s mode: PGD recovers ≥ 95% of the feasible valid flips, Adam no more than are feasible',
    async (mode) => {
      let feasible = 0;
      let pgd = 0;
      let adam = 0;
      for (const seed of [11, 12, 13, 14, 15]) {
        const { site, dispose } = await buildSite(makeSyntheticProbeWorld({ seed, t: 1, n: 40 }));
        const budget = mode === 'none' ? 1 : 2;
        const f = await linearFeasibility(site, mode, budget);
        // δ stays in the feasible set only when it is re-projected (Adam's per-coordinate scaling leaks out of it).
        const opts = { mode, reproject: true, steps: 60, lr: 0.5, budget, seed };
        const runWith = async (optimizer: 'adam' | 'pgd', lr: number) => {
          const run = await RecoveryRun.create(site, { ...opts, optimizer, lr });
          await run.run({ metricsEvery: 60 });
          const a = (await run.result()).aggregate;
          run.dispose();
          return a.recovered;
        };
        const p = await runWith('pgd', 0.5);
        const a = await runWith('adam', 0.05);
        expect(p).toBeLessThanOrEqual(f.feasible);
        expect(a).toBeLessThanOrEqual(f.feasible);
        feasible += f.feasible;
        pgd += p;
        adam += a;
        dispose();
      }
      expect(feasible).toBeGreaterThan(20);
      expect(pgd).toBeGreaterThanOrEqual(Math.ceil(0.95 * feasible));
      expect(adam).toBeLessThanOrEqual(pgd);
    },
  );
});

describe('option validation', () => {
  it.each([
    [{ steps: 0 }, /steps must be a positive number/],
    [{ steps: 2.5 }, /steps must be a whole number/],
    [{ lr: NaN }, /lr must be a positive number/],
    [{ budget: -1 }, /budget must be a positive number/],
    [{ steps: 1e9 }, /above the limit/],
    [{ mode: 'magic' as never }, /mode must be none, encoder or jacobian/],
    [{ lambdaAct: -1 }, /lambda-act/],
    [{ optimizer: 'sgd' as never }, /optimizer must be adam or pgd, got "sgd"/],
    [{ budgetRel: 0 }, /budget-rel must be a positive number, got 0/],
    [{ checkpointEvery: 0 }, /checkpoint interval must be a whole number ≥ 1, got 0/],
  ] as [Partial<RecoveryOptions>, RegExp][])('%o', (partial, msg) => {
    expect(() => resolveOptions(partial)).toThrow(msg);
  });
});

describe('Wilson interval', () => {
  it("matches the paper's 23/24 interval [79.8, 99.3] and known values", () => {
    const [lo, hi] = wilson(23, 24)!;
    expect(lo).toBeCloseTo(0.798, 3);
    expect(hi).toBeCloseTo(0.993, 3);
    expect(wilson(0, 0)).toBeNull();
    const [lo2, hi2] = wilson(37, 37)!;
    expect(hi2).toBe(1);
    expect(lo2).toBeCloseTo(0.906, 3);
  });
});
