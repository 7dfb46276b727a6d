// The detect defence's monitor (detector.ts) against a float64 reference of its calibration (the three statistics,
// their median/MAD standardisation, the conformal threshold), its coverage on held-out clean inputs, and the
// monitor as the recovery site, the metrics and the adaptive attacker's penalty use it (site.ts, sample-metrics.ts,
// optimiser-step.ts).
import { describe, expect, it } from 'vitest';
import { tf, type Tensor, type Tensor3D } from './tf.ts';
import { Sae, type SaeArrays, type SaeConfig } from './sae.ts';
import { DefendedSet } from './intervention.ts';
import { parseClampRule } from './clamp.ts';
import { clampedState } from './defence.ts';
import { Detector } from './detector.ts';
import { RecoverySite } from './site.ts';
import { sampleMetrics } from './sample-metrics.ts';
import { optimiserStep } from './optimiser-step.ts';
import { checkGradient } from './__fixtures__/gradient-check.ts';
import { resolveOptions } from './options.ts';
import { mulberry32, normals } from './rng.ts';
import { wilson } from './stats.ts';
import { probeBehaviour } from '../scenarios/probe.ts';

const D = 8,
  M = 24;

function randomSae(seed: number): { cfg: SaeConfig; arrays: SaeArrays } {
  const rand = mulberry32(seed);
  const W_dec = normals(rand, M * D);
  for (let f = 0; f < M; f++) {
    let s = 0;
    for (let j = 0; j < D; j++) s += W_dec[f * D + j] ** 2;
    for (let j = 0; j < D; j++) W_dec[f * D + j] /= Math.sqrt(s);
  }
  const noise = normals(rand, D * M);
  const W_enc = new Float32Array(D * M);
  for (let j = 0; j < D; j++) for (let f = 0; f < M; f++) W_enc[j * M + f] = W_dec[f * D + j] + 0.3 * noise[j * M + f];
  const b_enc = normals(rand, M).map((v) => 0.1 * v - 0.1);
  const b_dec = normals(rand, D).map((v) => 0.1 * v);
  const cfg: SaeConfig = {
    architecture: 'standard',
    dIn: D,
    dSae: M,
    applyBDecToInput: true,
    normalizeActivations: 'none',
    centerInput: false,
  };
  return { cfg, arrays: { W_enc, b_enc, W_dec, b_dec } };
}

type Vec = number[];
const dot = (a: Vec, b: Vec) => a.reduce((s, v, i) => s + v * b[i], 0);
const norm = (a: Vec) => Math.sqrt(dot(a, a));
const rowOf = (a: ArrayLike<number>, r: number, d = D): Vec => Array.from({ length: d }, (_, j) => a[r * d + j]);

/** The standard SAE in float64: z = ReLU((x − b_dec)·W_enc + b_enc), D(z) = z·W_dec + b_dec. */
function refEncode(a: SaeArrays, x: Vec): Vec {
  return Array.from({ length: M }, (_, f) => {
    let s = a.b_enc[f];
    for (let j = 0; j < D; j++) s += (x[j] - a.b_dec[j]) * a.W_enc[j * M + f];
    return Math.max(0, s);
  });
}
function refDecode(a: SaeArrays, z: Vec): Vec {
  return Array.from({ length: D }, (_, j) => {
    let s = a.b_dec[j];
    for (let f = 0; f < M; f++) s += z[f] * a.W_dec[f * D + j];
    return s;
  });
}

function gaussian(seed: number, n: number, sd = 1, shift?: ArrayLike<number>): Float32Array {
  const v = normals(mulberry32(seed), n).map((x) => sd * x);
  if (shift) for (let i = 0; i < n; i++) v[i] += shift[i % shift.length];
  return v;
}

/**
 * The calibration written out: μ over the calibration inputs' real positions, each statistic's lower median and
 * 1.4826·MAD (with the floors for a statistic that barely varies), a position's score the largest standardised
 * statistic, an input's the largest over its real positions, the threshold the ⌈(1 − α)(n + 1)⌉-th smallest.
 */
function referenceCalibration(a: SaeArrays, h: Float32Array, mask: Float32Array, t: number, cal: number[], fpr: number) {
  const positionsOf = (idx: number[]) => idx.flatMap((i) => Array.from({ length: t }, (_, j) => i * t + j).filter((k) => mask[k]));
  const calPos = positionsOf(cal);
  const codes = new Map<number, Vec>();
  const code = (k: number) => {
    if (!codes.has(k)) codes.set(k, refEncode(a, rowOf(h, k)));
    return codes.get(k)!;
  };
  const mu = new Array<number>(M).fill(0);
  for (const k of calPos) code(k).forEach((v, f) => (mu[f] += v / calPos.length));
  const raw = (k: number) => {
    const x = rowOf(h, k);
    const z = code(k);
    const e = refDecode(a, z).map((v, j) => x[j] - v);
    return [norm(e), z.filter((v) => v > 0).length, norm(z.map((v, f) => v - mu[f]))];
  };
  const robust = (values: number[]) => {
    const s = [...values].sort((p, q) => p - q);
    const mid = Math.floor(0.5 * (s.length - 1));
    const centre = s[mid];
    const mad = values.map((v) => Math.abs(v - centre)).sort((p, q) => p - q)[mid] * 1.4826;
    return { centre, scale: Math.max(mad, 1e-3 * Math.max(Math.abs(centre), 1e-6), 1e-6) };
  };
  const calRaw = calPos.map(raw);
  const r = [0, 1, 2].map((k) => robust(calRaw.map((v) => v[k])));
  const positionScore = (k: number) => Math.max(...raw(k).map((v, s) => (v - r[s].centre) / r[s].scale));
  const inputScore = (i: number) => Math.max(...positionsOf([i]).map(positionScore));
  const calScores = cal.map(inputScore).sort((p, q) => p - q);
  const kth = Math.min(calScores.length, Math.ceil((1 - fpr) * (calScores.length + 1)));
  return { threshold: calScores[kth - 1], kth, calScores, inputScore, r };
}

/** The calibration's seeded split (Fisher–Yates with mulberry32(seed + 77); the first ⌈m/2⌉ calibrate). */
function split(m: number, seed: number) {
  const order = Array.from({ length: m }, (_, i) => i);
  const rand = mulberry32(seed + 77);
  for (let i = m - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return { cal: order.slice(0, Math.ceil(m / 2)).sort((p, q) => p - q), held: order.slice(Math.ceil(m / 2)).sort((p, q) => p - q) };
}

describe('Detector.calibrate', () => {
  const { cfg, arrays } = randomSae(3);
  const m = 400,
    t = 6;
  // Clean inputs from a Gaussian around b_dec; every fifth input has two padding tokens holding garbage.
  const h = gaussian(4, m * t * D, 1, arrays.b_dec);
  const mask = new Float32Array(m * t).fill(1);
  for (let i = 0; i < m; i += 5)
    for (const j of [4, 5]) {
      mask[i * t + j] = 0;
      h.fill(1e3, (i * t + j) * D, (i * t + j + 1) * D);
    }

  it('sets the conformal threshold on a seeded half and measures the FPR on the other', async () => {
    const sae = Sae.create(cfg, arrays);
    const ht = tf.tensor3d(h, [m, t, D]);
    const fpr = 0.05;
    const det = await Detector.calibrate(sae, { h: ht, mask }, fpr, 2);
    const c = det.calibration;
    expect(c).toMatchObject({ fpr, calibrationInputs: 200, heldOutInputs: 200 });
    const { cal, held } = split(m, 2);
    const ref = referenceCalibration(arrays, h, mask, t, cal, fpr);
    expect(ref.kth).toBe(191); // ⌈0.95 · 201⌉
    // The threshold is the kth smallest calibration score, and the held-out scores are the reference's.
    expect(det.threshold).toBeCloseTo(ref.threshold, 3);
    expect(ref.calScores[ref.kth - 1]).toBeLessThan(ref.calScores[ref.kth]); // no tie: the order statistic is unambiguous
    expect(c.heldOutScores).toHaveLength(200);
    c.heldOutScores.forEach((s, k) => expect(s, `held-out input ${held[k]}`).toBeCloseTo(ref.inputScore(held[k]), 3));
    // The detector's own scores agree for every input, and garbage at padded tokens is never read.
    const all = await det.inputScores(ht, mask);
    for (let i = 0; i < m; i += 7) expect(all[i]).toBeCloseTo(ref.inputScore(i), 3);
    // Held-out FPR: the flagged share, its Wilson interval, and that interval covers the nominal rate.
    const flagged = c.heldOutScores.filter((s) => s > det.threshold).length;
    expect(c.heldOutFpr).toBe(flagged / 200);
    expect(c.heldOutCi).toEqual(wilson(flagged, 200));
    const [lo, hi] = c.heldOutCi!;
    expect(lo).toBeLessThanOrEqual(c.heldOutFpr);
    expect(hi).toBeGreaterThanOrEqual(c.heldOutFpr);
    expect(lo).toBeLessThanOrEqual(fpr);
    expect(hi).toBeGreaterThanOrEqual(fpr);
    expect(flagged).toBeGreaterThan(0);
    // Exactly 200 − 190 = 10 calibration inputs score above the threshold (no ties on continuous scores).
    expect(ref.calScores.filter((s) => s > ref.threshold)).toHaveLength(200 - ref.kth);
    tf.dispose(ht);
    det.dispose();
    sae.dispose();
  });

  it('flags inputs far off the clean distribution, and only by their real tokens', async () => {
    const sae = Sae.create(cfg, arrays);
    const ht = tf.tensor3d(h, [m, t, D]);
    const det = await Detector.calibrate(sae, { h: ht, mask }, 0.01);
    const n = 20;
    const base = gaussian(5, n * t * D, 1, arrays.b_dec);
    const dir = gaussian(6, D);
    const unit = Array.from(dir, (v) => v / norm(Array.from(dir)));
    const shiftedAt = (tokens: number[], size: number) => {
      const out = Float32Array.from(base);
      for (let i = 0; i < n; i++) for (const j of tokens) for (let k = 0; k < D; k++) out[(i * t + j) * D + k] += size * unit[k];
      return out;
    };
    const fullMask = new Float32Array(n * t).fill(1);
    const scores = async (x: Float32Array, mk = fullMask) => {
      const xt = tf.tensor3d(x, [n, t, D]);
      const s = await det.inputScores(xt, mk);
      xt.dispose();
      return Array.from(s);
    };
    const clean = await scores(base);
    expect(clean.filter((s) => s > det.threshold).length).toBeLessThanOrEqual(2);
    // Far along one direction at every token, at one token, or scaled up: flagged.
    for (const s of await scores(shiftedAt([0, 1, 2, 3, 4, 5], 20))) expect(s).toBeGreaterThan(det.threshold);
    for (const s of await scores(shiftedAt([3], 20))) expect(s).toBeGreaterThan(det.threshold);
    for (const s of await scores(base.map((v) => 10 * v))) expect(s).toBeGreaterThan(det.threshold);
    // The same shift at a padded token changes nothing.
    const padMask = Float32Array.from(fullMask, (_, k) => (k % t === 3 ? 0 : 1));
    expect(await scores(shiftedAt([3], 20), padMask)).toEqual(await scores(base, padMask));
    tf.dispose(ht);
    det.dispose();
    sae.dispose();
  });

  it('refuses inputs of the wrong width and too few inputs', async () => {
    const sae = Sae.create(cfg, arrays);
    const wide = tf.zeros([10, 2, D + 1]) as Tensor3D;
    const few = tf.zeros([3, 2, D]) as Tensor3D;
    await expect(Detector.calibrate(sae, { h: wide, mask: new Float32Array(20).fill(1) }, 0.05)).rejects.toThrow(
      /clean inputs have d=9 but the SAE expects 8/,
    );
    await expect(Detector.calibrate(sae, { h: few, mask: new Float32Array(6).fill(1) }, 0.05)).rejects.toThrow(/at least 4 clean inputs/);
    tf.dispose([wide, few]);
    sae.dispose();
  });
});

// ---------------------------------------------------------------------------------------------------------
// The monitor at a recovery site: a linear read-out of raw activations, the paper's clamp, a detector calibrated on
// clean defended residuals. Samples are shifted far along a direction u orthogonal to the probe w and to the
// defended encoder columns: B and the defended features are unchanged, so the shifted copies differ from the
// originals only in being flagged.

describe('a site with a monitor', () => {
  const { cfg, arrays } = randomSae(8);
  const S = [1, 5, 9];
  const t = 3;
  const clamp = parseClampRule('zero');
  const w = Array.from({ length: D }, (_, j) => S.reduce((s, f) => s + arrays.W_dec[f * D + j], 0) + 0.3 * gaussian(9, D)[j]);
  // u ⊥ w and ⊥ W_enc[:, S] (Gram–Schmidt), unit norm.
  const basis: Vec[] = [];
  for (const v of [w, ...S.map((f) => Array.from({ length: D }, (_, j) => arrays.W_enc[j * M + f]))]) {
    const r = [...v];
    for (const q of basis) {
      const c = dot(q, r);
      r.forEach((_, j) => (r[j] -= c * q[j]));
    }
    basis.push(r.map((x) => x / norm(r)));
  }
  const u0 = Array.from(gaussian(10, D));
  for (const q of basis) {
    const c = dot(q, u0);
    u0.forEach((_, j) => (u0[j] -= c * q[j]));
  }
  const u = u0.map((x) => x / norm(u0));

  async function setup() {
    const sae = Sae.create(cfg, arrays);
    const set = new DefendedSet(sae, S);
    // The monitor: calibrated on the defended residual T(h) of 400 clean inputs.
    const cleanH = tf.tensor3d(gaussian(11, 400 * t * D, 1, arrays.b_dec), [400, t, D]);
    const seen = tf.tidy(() => clampedState(set, clamp, cleanH) as Tensor3D);
    const detector = await Detector.calibrate(sae, { h: seen, mask: new Float32Array(400 * t).fill(1) }, 0.01);
    tf.dispose([cleanH, seen]);
    // Candidates from the same distribution: B before and under the clamp (w·mean + b, b = 0.2), and the score.
    const pool = 80;
    const cand = gaussian(12, pool * t * D, 1, arrays.b_dec);
    const candT = tf.tensor3d(cand, [pool, t, D]);
    const candDef = tf.tidy(() => clampedState(set, clamp, candT) as Tensor3D);
    const defData = candDef.dataSync();
    const candScores = await detector.inputScores(candDef, new Float32Array(pool * t).fill(1));
    tf.dispose([candT, candDef]);
    set.dispose();
    const B = (x: ArrayLike<number>, i: number) => {
      let s = 0;
      for (let j = 0; j < t; j++) s += dot(w, rowOf(x, i * t + j));
      return s / t + 0.2;
    };
    const pick = (want: (base: number, def: number) => boolean) =>
      Array.from({ length: pool }, (_, i) => i)
        .filter((i) => candScores[i] <= detector.threshold && want(B(cand, i), B(defData, i)))
        .slice(0, 2);
    const unflipped = pick((b, d) => b > 0 && d > 0.3);
    const flips = pick((b, d) => b > 0 && d < -0.3);
    expect(unflipped).toHaveLength(2);
    expect(flips).toHaveLength(2);
    // Samples: unflipped ×2, flips ×2, the same four shifted by 40u at every token, the first flip shifted at a
    // padded token only.
    const order = [...unflipped, ...flips, ...unflipped, ...flips, flips[0]];
    const n = order.length;
    const h = new Float32Array(n * t * D);
    const mask = new Float32Array(n * t).fill(1);
    order.forEach((c, i) => h.set(cand.subarray(c * t * D, (c + 1) * t * D), i * t * D));
    for (let i = 4; i < 8; i++) for (let j = 0; j < t; j++) for (let k = 0; k < D; k++) h[(i * t + j) * D + k] += 40 * u[k];
    mask[8 * t + 2] = 0;
    for (let k = 0; k < D; k++) h[(8 * t + 2) * D + k] += 40 * u[k];
    const positions = Array.from({ length: n }, (_, i) => (i === 8 ? [0, 1, -1] : [0, 1, 2]));
    const probe = probeBehaviour({ d: D, classes: 1, w: Float32Array.from(w), b: new Float32Array([0.2]) }, 0, { n, t, mask });
    const ht = tf.tensor3d(h, [n, t, D]);
    const spec = { sae, features: S, clamp, h: ht, positions, behaviour: probe.behaviour };
    const site = await RecoverySite.create({ ...spec, defence: { kind: 'clamp', detector, mask } });
    const bare = await RecoverySite.create(spec);
    ht.dispose();
    return {
      site,
      bare,
      detector,
      mask,
      n,
      w,
      dispose: () => {
        site.dispose();
        bare.dispose();
        probe.dispose();
        detector.dispose();
        sae.dispose();
      },
    };
  }

  it('flags the shifted samples at baseline and counts a flagged sample as defended', async () => {
    const before = tf.memory().numTensors;
    const { site, bare, detector, mask, n, dispose } = await setup();
    const b = site.baseline;
    // The shift leaves B and the clamp alone.
    for (let i = 0; i < 4; i++) {
      expect(b.bBase[i + 4]).toBeCloseTo(b.bBase[i], 3);
      expect(b.bDef[i + 4]).toBeCloseTo(b.bDef[i], 3);
    }
    expect(b.flagged).toEqual([false, false, false, false, true, true, true, true, false]);
    expect(b.valid.slice(0, 8)).toEqual([false, false, true, true, true, true, true, true]);
    expect(bare.baseline.valid.slice(0, 8)).toEqual([false, false, true, true, false, false, true, true]);
    // The sample shifted at a padded token only: not flagged, so valid exactly when the clamp flips it.
    expect(b.valid[8]).toBe(b.bBase[8] > 0 && b.bDef[8] <= 0);
    expect(bare.baseline.flagged).toBeUndefined();
    // The site's score (slots scored apart from the rest) is the detector's score of the defended residual.
    const direct = await detector.inputScores(site.hDef, mask);
    expect(b.detectorScore).toHaveLength(n);
    b.detectorScore!.forEach((s, i) => expect(s).toBeCloseTo(direct[i], 3));
    tf.tidy(() => {
      site.detectorScores(tf.zeros([n, 3, D]) as Tensor3D)!.dataSync();
    });
    dispose();
    // The site, its monitor and the calibration free everything they made.
    expect(tf.memory().numTensors - before).toBe(0);
  });

  it('reports a recovery the monitor flags as no success', async () => {
    const { site, bare, detector, mask, n, w, dispose } = await setup();
    // δ along w at each used slot, enough to lift B to bDef + a > 0 (B pools over real tokens).
    const ww = dot(w, w);
    const data = new Float32Array(n * 3 * D);
    site.spec.positions.forEach((row, i) => {
      const a = Math.max(0, -site.baseline.bDef[i]) + 0.5;
      row.forEach((pos, k) => {
        if (pos >= 0) for (let j = 0; j < D; j++) data[(i * 3 + k) * D + j] = (a * w[j]) / ww;
      });
    });
    const metrics = await sampleMetrics(site, () => tf.tensor3d(data, [n, 3, D]));
    const plain = await sampleMetrics(bare, () => tf.tensor3d(data, [n, 3, D]));
    const delta = tf.tensor3d(data, [n, 3, D]);
    const hRec = tf.tidy(() => site.hRec(delta));
    const direct = await detector.inputScores(hRec, mask);
    tf.dispose([delta, hRec]);
    metrics.forEach((s, i) => {
      expect(s.recovered).toBeGreaterThan(0.4);
      expect(s.detectorScore!).toBeCloseTo(direct[i], 3);
      expect(s.flagged).toBe(s.detectorScore! > detector.threshold);
      expect(s.success).toBe(s.valid && s.recovered > 0 && !s.flagged);
      expect(plain[i].flagged).toBeUndefined();
    });
    // The shifted flips recover B but are flagged: no success, where without the monitor they were one.
    expect(metrics.map((s) => s.flagged)).toEqual([false, false, false, false, true, true, true, true, false]);
    expect(metrics.map((s) => s.success).slice(0, 8)).toEqual([false, false, true, true, false, false, false, false]);
    expect(plain.map((s) => s.success).slice(0, 8)).toEqual([false, false, true, true, false, false, true, true]);
    dispose();
  });

  it('the adaptive penalty: its gradient matches central differences, and the step adds λ·mean(max(0, score − τ))', async () => {
    const { site, detector, n, dispose } = await setup();
    const delta0 = gaussian(13, n * 3 * D, 0.8);
    for (let k = 0; k < D; k++) delta0[(8 * 3 + 2) * D + k] = 0; // the unused slot
    const penalty = (x: Tensor) => tf.relu(tf.sub(site.detectorScores(x as Tensor3D)!, detector.threshold));
    const active = tf.tidy(() => Array.from(penalty(tf.tensor3d(delta0, [n, 3, D])).dataSync()));
    expect(active.filter((v) => v > 0).length).toBeGreaterThanOrEqual(4);
    const coords = Array.from({ length: 12 }, (_, i) => (i * 53 + 7) % (8 * 3 * D));
    const r = checkGradient(penalty, delta0, [n, 3, D], coords);
    expect(r.checked).toBeGreaterThanOrEqual(8);
    expect(r.nonzero).toBeGreaterThanOrEqual(4);

    // One optimiser step's loss and raw gradient: −mean B + λ·mean(penalty), with λ = 3, and without it.
    const x0 = tf.tensor3d(delta0, [n, 3, D]);
    const zeros = tf.zerosLike(x0);
    const step = (lambdaDetect: number) => {
      const options = resolveOptions({ mode: 'none', lambdaDetect });
      const out = optimiserStep({ site, options, projector: null, columns: null }, { delta: x0, m: zeros, v: zeros }, 1);
      const read = { loss: out[5].dataSync()[0], raw: Array.from(out[3].dataSync()) };
      tf.dispose(out.filter((x) => x !== zeros && x !== x0));
      return read;
    };
    const expected = (lambda: number) =>
      tf.tidy(() => {
        const f = (x: Tensor) => {
          const full = tf.mul(x, site.slotMask) as Tensor3D;
          return tf.add(tf.neg(tf.mean(site.behaviourAt(full))), tf.mul(lambda, tf.mean(penalty(full)))) as tf.Scalar;
        };
        const { value, grad } = tf.valueAndGrad(f)(x0);
        return { loss: value.dataSync()[0], raw: Array.from(grad.dataSync()) };
      });
    for (const lambda of [0, 3]) {
      const got = step(lambda);
      const want = expected(lambda);
      expect(got.loss).toBeCloseTo(want.loss, 4);
      got.raw.forEach((v, i) => expect(v).toBeCloseTo(want.raw[i], 4));
    }
    expect(Math.abs(expected(3).loss - expected(0).loss)).toBeGreaterThan(0.1);
    tf.dispose([x0, zeros]);
    dispose();
  });
});
