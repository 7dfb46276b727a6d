// The defences at the hook (defence.ts, defence-kinds.ts) and the recovery site under them (site.ts), against an
// independent float64 reference written out from the SAE's weight arrays: encode, decode, the clamp, the
// error term and the span projection (by solving the normal equations, not by Gram–Schmidt).
import { describe, expect, it } from 'vitest';
import { tf, type Tensor3D } from './tf.ts';
import { Sae, type SaeArrays, type SaeConfig } from './sae.ts';
import { DefendedSet } from './intervention.ts';
import { parseClampRule, type ClampRule } from './clamp.ts';
import { clampedState, HookDefence, orthonormalBasis } from './defence.ts';
import { DefenceSpecError, HOOK_KINDS, type HookKind, defenceKey, parseDefence } from './defence-kinds.ts';
import { RecoverySite, type SiteDefence } from './site.ts';
import { RecoveryRun } from './recovery.ts';
import { mulberry32, normals } from './rng.ts';
import { probeBehaviour } from '../scenarios/probe.ts';
import { makeSyntheticProbeWorld } from '../scenarios/synthetic-probe.ts';
import { checkGradient } from './__fixtures__/gradient-check.ts';

// ---------------------------------------------------------------------------------------------------------
// A small random SAE and its float64 reference.

interface RandomSaeOptions {
  architecture?: SaeConfig['architecture'];
  d?: number;
  m?: number;
  k?: number;
  centerInput?: boolean;
  seed?: number;
}

function randomSae(o: RandomSaeOptions = {}): { cfg: SaeConfig; arrays: SaeArrays } {
  const { architecture = 'standard', d = 8, m = 24, k = 6, centerInput = false, seed = 1 } = o;
  const rand = mulberry32(seed);
  const W_dec = normals(rand, m * d);
  for (let f = 0; f < m; f++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += W_dec[f * d + j] ** 2;
    for (let j = 0; j < d; j++) W_dec[f * d + j] /= Math.sqrt(s);
  }
  const noise = normals(rand, d * m);
  const W_enc = new Float32Array(d * m);
  for (let j = 0; j < d; j++) for (let f = 0; f < m; f++) W_enc[j * m + f] = W_dec[f * d + j] + 0.3 * noise[j * m + f];
  const b_enc = normals(rand, m).map((v) => 0.1 * v - 0.1);
  const b_dec = normals(rand, d).map((v) => 0.1 * v);
  const threshold = Float32Array.from({ length: m }, () => 0.1 + 0.2 * rand());
  const cfg: SaeConfig = {
    architecture,
    dIn: d,
    dSae: m,
    applyBDecToInput: true,
    normalizeActivations: 'none',
    centerInput,
    k: architecture === 'topk' ? k : undefined,
  };
  return { cfg, arrays: { W_enc, b_enc, W_dec, b_dec, threshold: architecture === 'jumprelu' ? threshold : undefined } };
}

type Vec = number[];

const dot = (a: Vec, b: Vec) => a.reduce((s, v, i) => s + v * b[i], 0);
const add = (a: Vec, b: Vec) => a.map((v, i) => v + b[i]);
const sub = (a: Vec, b: Vec) => a.map((v, i) => v - b[i]);
const scale = (a: Vec, c: number) => a.map((v) => v * c);
const norm = (a: Vec) => Math.sqrt(dot(a, a));

function clampValue(z: number, rule: ClampRule): number {
  if (rule.kind === 'multiply') return z * rule.factor;
  if (!rule.onlyActive) return rule.value;
  return z > 0 ? rule.value : z;
}

/** Solve A x = b (small, dense, partial pivoting). */
function solve(A: number[][], b: Vec): Vec {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let v = M[r][n];
    for (let k = r + 1; k < n; k++) v -= M[r][k] * x[k];
    x[r] = v / M[r][r];
  }
  return x;
}

/** The SAE in float64, straight from its arrays (SAELens' forward, without norm rescaling). */
class RefSae {
  readonly d: number;
  readonly m: number;
  constructor(
    readonly cfg: SaeConfig,
    readonly a: SaeArrays,
  ) {
    this.d = cfg.dIn;
    this.m = cfg.dSae;
  }
  private mean(x: Vec): number {
    return this.cfg.centerInput ? x.reduce((s, v) => s + v, 0) / x.length : 0;
  }
  pre(x: Vec): Vec {
    const mu = this.mean(x);
    const xp = x.map((v, j) => v - mu - (this.cfg.applyBDecToInput ? this.a.b_dec[j] : 0));
    return Array.from({ length: this.m }, (_, f) => {
      let s = this.a.b_enc[f];
      for (let j = 0; j < this.d; j++) s += xp[j] * this.a.W_enc[j * this.m + f];
      return s;
    });
  }
  encode(x: Vec): Vec {
    const pre = this.pre(x);
    switch (this.cfg.architecture) {
      case 'standard':
        return pre.map((v) => Math.max(0, v));
      case 'jumprelu':
        return pre.map((v, f) => (v > this.a.threshold![f] ? Math.max(0, v) : 0));
      case 'topk': {
        const kth = [...pre].sort((p, q) => q - p)[this.cfg.k! - 1];
        return pre.map((v) => (v >= kth ? Math.max(0, v) : 0));
      }
    }
  }
  decode(z: Vec, x: Vec): Vec {
    const mu = this.mean(x);
    return Array.from({ length: this.d }, (_, j) => {
      let s = this.a.b_dec[j] + mu;
      for (let f = 0; f < this.m; f++) s += z[f] * this.a.W_dec[f * this.d + j];
      return s;
    });
  }
  error(x: Vec): Vec {
    return sub(x, this.decode(this.encode(x), x));
  }
  decRow(f: number): Vec {
    return Array.from(this.a.W_dec.subarray(f * this.d, (f + 1) * this.d));
  }
}

/** The defences written out in full: D(z′) + e(x) for the clamped state, the normal equations for the span. */
class RefDefence {
  constructor(
    readonly sae: RefSae,
    readonly S: readonly number[],
    readonly rule: ClampRule,
    readonly cap = 1,
  ) {}
  /** The full code with S clamped. */
  clampedCode(x: Vec): Vec {
    const z = this.sae.encode(x);
    for (const f of this.S) z[f] = clampValue(z[f], this.rule);
    return z;
  }
  /** D(z′): the clamped reconstruction, b_dec included. */
  recon(x: Vec): Vec {
    return this.sae.decode(this.clampedCode(x), x);
  }
  /** T(x) = D(z′) + e(x). */
  T(x: Vec): Vec {
    return add(this.recon(x), this.sae.error(x));
  }
  /** x − W_Sᵀ (W_S W_Sᵀ)⁻¹ W_S x over the independent rows `rows` (default all of S). */
  ablate(x: Vec, rows: readonly number[] = this.S): Vec {
    const W = rows.map((f) => this.sae.decRow(f));
    const a = solve(
      W.map((r) => W.map((q) => dot(r, q))),
      W.map((r) => dot(r, x)),
    );
    return W.reduce((acc, r, i) => sub(acc, scale(r, a[i])), x);
  }
  out(kind: HookKind, h: Vec, delta: Vec): Vec {
    switch (kind) {
      case 'clamp':
        return add(this.T(h), delta);
      case 'reclamp':
        return this.T(add(this.T(h), delta));
      case 'no-error-term':
        return this.recon(add(h, delta));
      case 'clip-error': {
        const x = add(h, delta);
        const e = this.sae.error(x);
        return add(this.recon(x), scale(e, Math.min(1, this.cap / norm(e))));
      }
      case 'ablate-span':
        return this.ablate(add(h, delta));
    }
  }
  zS(x: Vec): Vec {
    const z = this.sae.encode(x);
    return this.S.map((f) => z[f]);
  }
}

const rowOf = (a: ArrayLike<number>, r: number, d: number): Vec => Array.from({ length: d }, (_, j) => a[r * d + j]);

/** max |got − want| relative to max(1, max |want|). */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let err = 0,
    s = 1;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    s = Math.max(s, Math.abs(want[i]));
  }
  return err / s;
}

function gaussian(seed: number, n: number, sd = 1, shift?: Float32Array): Float32Array {
  const v = normals(mulberry32(seed), n).map((x) => sd * x);
  if (shift) for (let i = 0; i < n; i++) v[i] += shift[i % shift.length];
  return v;
}

const ARCHS: [string, RandomSaeOptions][] = [
  ['standard', { architecture: 'standard' }],
  ['jumprelu', { architecture: 'jumprelu' }],
  ['topk', { architecture: 'topk', k: 6 }],
  ['centred standard', { architecture: 'standard', centerInput: true }],
];
const RULES = ['zero', 'set:-5+', 'multiply:3'] as const;
const rule = (r: (typeof RULES)[number]): ClampRule => (r === 'set:-5+' ? parseClampRule('set:-5', true) : parseClampRule(r));
const S = [1, 5, 9];

// ---------------------------------------------------------------------------------------------------------

describe('parseDefence', () => {
  it('reads one hook operator plus multi-layer and detect, in any order', () => {
    const a = parseDefence('detect,no-error-term');
    expect(a).toEqual({
      ids: ['no-error-term', 'detect'],
      hook: 'no-error-term',
      multiLayer: false,
      detect: true,
      clipPercentile: 99,
      detectFpr: 0.01,
    });
    const b = parseDefence(' reclamp + multi-layer ');
    expect(b.ids).toEqual(['reclamp', 'multi-layer']);
    expect(b).toMatchObject({ hook: 'reclamp', multiLayer: true, detect: false });
    expect(parseDefence('multi-layer')).toMatchObject({ hook: 'clamp', multiLayer: true });
    expect(parseDefence('detect')).toMatchObject({ hook: 'clamp', detect: true, ids: ['detect'] });
    expect(parseDefence('clip-error', { clipPercentile: 95 })).toMatchObject({ hook: 'clip-error', clipPercentile: 95 });
    expect(parseDefence('ablate-span,detect', { detectFpr: 0.05 })).toMatchObject({ hook: 'ablate-span', detect: true, detectFpr: 0.05 });
    expect(parseDefence('clip-error', { clipPercentile: 100 }).clipPercentile).toBe(100);
    expect(parseDefence('detect', { detectFpr: 0.5 }).detectFpr).toBe(0.5);
    // The key reads back to the same choice.
    const c = parseDefence('detect+multi-layer+clip-error', { clipPercentile: 90 });
    expect(defenceKey(c)).toBe('clip-error+multi-layer+detect');
    expect(parseDefence(defenceKey(c), { clipPercentile: 90 })).toEqual(c);
  });

  it('refuses unknown ids, two hook operators, duplicates and out-of-range settings with a reason', () => {
    const err = (text: string, settings?: { clipPercentile?: number; detectFpr?: number }) => {
      try {
        parseDefence(text, settings);
      } catch (e) {
        expect(e).toBeInstanceOf(DefenceSpecError);
        return (e as Error).message;
      }
      throw new Error(`parseDefence("${text}") did not throw`);
    };
    expect(err('')).toMatch(/no defence given: choose from clamp, no-error-term/);
    expect(err(' , ')).toMatch(/no defence given/);
    expect(err('clamp,firewall')).toMatch(/"firewall" is not a defence: choose from clamp, no-error-term, clip-error/);
    expect(err('no-error-term,reclamp')).toMatch(/no-error-term and reclamp both act at the hook/);
    expect(err('clamp,ablate-span,detect')).toMatch(/clamp and ablate-span both act at the hook/);
    expect(err('detect,detect')).toMatch(/defence "detect" is listed twice/);
    expect(err('ablate-span,multi-layer')).toMatch(/ablate-span already acts at every later layer: it does not combine with multi-layer/);
    expect(err('clip-error', { clipPercentile: 0 })).toMatch(/clip percentile must be in \(0, 100\], got 0/);
    expect(err('clip-error', { clipPercentile: 101 })).toMatch(/clip percentile must be in \(0, 100\], got 101/);
    expect(err('clip-error', { clipPercentile: Number.NaN })).toMatch(/clip percentile .* got NaN/);
    expect(err('detect', { detectFpr: 0 })).toMatch(/false-positive rate must be in \(0, 0.5\], got 0/);
    expect(err('detect', { detectFpr: 0.6 })).toMatch(/false-positive rate must be in \(0, 0.5\], got 0.6/);
  });
});

describe.each(ARCHS)('hook defences on a %s SAE against the float64 reference', (_name, opts) => {
  const { cfg, arrays } = randomSae({ ...opts, seed: 11 });
  const ref = new RefSae(cfg, arrays);
  const [n, t, d] = [4, 3, cfg.dIn];
  const hData = gaussian(21, n * t * d, 1.5, arrays.b_dec);
  const deltaData = gaussian(22, n * t * d, 0.6);
  const rows = n * t;

  it.each(RULES)('clamp, reclamp, no-error-term, clip-error and ablate-span under %s', async (r) => {
    const sae = Sae.create(cfg, arrays);
    const set = new DefendedSet(sae, S);
    const h = tf.tensor3d(hData, [n, t, d]);
    const delta = tf.tensor3d(deltaData, [n, t, d]);
    const hc = clampedState(set, rule(r), h);
    // The clip sits at the median error norm of h + δ, so both sides of the cap are exercised.
    const errNorms = Array.from({ length: rows }, (_, i) => norm(ref.error(add(rowOf(hData, i, d), rowOf(deltaData, i, d)))));
    const cap = [...errNorms].sort((a, b) => a - b)[Math.floor(rows / 2)];
    expect(errNorms.some((v) => v > cap * 1.01) && errNorms.some((v) => v < cap * 0.99)).toBe(true);
    const rd = new RefDefence(ref, S, rule(r), cap);
    // The defended features are not all off: the clamp does something.
    expect(Array.from({ length: rows }, (_, i) => rd.zS(rowOf(hData, i, d))).some((z) => z.some((v) => v > 0))).toBe(true);
    for (const kind of HOOK_KINDS) {
      const def = await HookDefence.create(kind, set, rule(r), { errorCap: cap });
      const got = tf.tidy(() => def.apply(h, hc, delta).dataSync());
      const gotNoDelta = tf.tidy(() => def.apply(h, hc, null).dataSync());
      const want: number[] = [];
      const wantNoDelta: number[] = [];
      for (let i = 0; i < rows; i++) {
        want.push(...rd.out(kind, rowOf(hData, i, d), rowOf(deltaData, i, d)));
        wantNoDelta.push(...rd.out(kind, rowOf(hData, i, d), new Array(d).fill(0)));
      }
      expect(relErr(got, want), kind).toBeLessThan(1e-5);
      expect(relErr(gotNoDelta, wantNoDelta), `${kind} without δ`).toBeLessThan(1e-5);
      def.dispose();
    }
    tf.dispose([h, delta, hc]);
    set.dispose();
    sae.dispose();
  });

  it('clip-error caps the error part, and is T(x) with no cap and D(clamp(E(x))) with a zero cap', async () => {
    const sae = Sae.create(cfg, arrays);
    const set = new DefendedSet(sae, S);
    const rl = parseClampRule('zero');
    const h = tf.tensor3d(hData, [n, t, d]);
    const delta = tf.tensor3d(deltaData, [n, t, d]);
    const hc = clampedState(set, rl, h);
    const x = tf.add(h, delta);
    const net = await HookDefence.create('no-error-term', set, rl);
    const recon = tf.tidy(() => net.apply(h, hc, delta).dataSync());
    const capped = async (cap: number) => {
      const def = await HookDefence.create('clip-error', set, rl, { errorCap: cap });
      const out = tf.tidy(() => def.apply(h, hc, delta).dataSync());
      def.dispose();
      return out;
    };
    const errorNorms = (out: ArrayLike<number>) => Array.from({ length: rows }, (_, i) => norm(sub(rowOf(out, i, d), rowOf(recon, i, d))));
    const rawNorms = tf.tidy(() => Array.from(tf.norm(sae.error(x), 'euclidean', -1).dataSync()));
    for (const cap of [0.05, 0.2, 0.5]) {
      const out = await capped(cap);
      const norms = errorNorms(out);
      norms.forEach((v, i) => {
        expect(v).toBeLessThanOrEqual(cap * (1 + 1e-4) + 1e-6);
        // Below the cap the error is kept whole; above it its norm is the cap.
        expect(v).toBeCloseTo(Math.min(cap, rawNorms[i]), 4);
      });
    }
    const huge = await capped(1e9);
    const T = tf.tidy(() => clampedState(set, rl, x).dataSync());
    expect(relErr(huge, T)).toBeLessThan(1e-5);
    // T(x) = D(clamp(E(x))) + e(x): the written-out sum too.
    const e = tf.tidy(() => sae.error(x).dataSync());
    expect(
      relErr(
        huge,
        Float32Array.from(recon, (v, i) => v + e[i]),
      ),
    ).toBeLessThan(1e-5);
    expect(relErr(await capped(0), recon)).toBeLessThan(1e-6);
    await expect(HookDefence.create('clip-error', set, rl)).rejects.toThrow(/clip-error needs a finite, non-negative cap/);
    await expect(HookDefence.create('clip-error', set, rl, { errorCap: -1 })).rejects.toThrow(/non-negative cap/);
    await expect(HookDefence.create('clip-error', set, rl, { errorCap: Number.POSITIVE_INFINITY })).rejects.toThrow(/finite/);
    net.dispose();
    tf.dispose([h, delta, hc, x]);
    set.dispose();
    sae.dispose();
  });
});

describe('ablate-span', () => {
  const { cfg, arrays } = randomSae({ seed: 5, d: 10, m: 20 });
  const d = cfg.dIn;
  const x = gaussian(31, 7 * d, 2);

  async function check(arr: SaeArrays, features: number[], independent: number[]) {
    const sae = Sae.create(cfg, arr);
    const set = new DefendedSet(sae, features);
    const def = await HookDefence.create('ablate-span', set, parseClampRule('zero'));
    expect(def.span!.shape).toEqual([independent.length, d]);
    const rd = new RefDefence(new RefSae(cfg, arr), features, parseClampRule('zero'));
    const xt = tf.tensor2d(x, [7, d]);
    const out = tf.tidy(() => def.apply(xt, xt, null));
    const o = out.dataSync();
    const want = Array.from({ length: 7 }, (_, i) => rd.ablate(rowOf(x, i, d), independent)).flat();
    expect(relErr(o, want)).toBeLessThan(1e-5);
    // Orthogonal to every defended decoder row (dependent ones included), and idempotent.
    for (let i = 0; i < 7; i++)
      for (const f of features) expect(Math.abs(dot(rowOf(o, i, d), rowOf(arr.W_dec, f, d)))).toBeLessThan(1e-5 * norm(rowOf(x, i, d)));
    const twice = tf.tidy(() => def.apply(out, out, null).dataSync());
    expect(relErr(twice, o)).toBeLessThan(1e-6);
    // δ enters before the projection: P⊥(h + δ) = P⊥h + P⊥δ, so the component of δ along the span is gone.
    const delta = tf.tensor2d(gaussian(32, 7 * d), [7, d]);
    const withDelta = tf.tidy(() => def.apply(xt, xt, delta).dataSync());
    const sumParts = tf.tidy(() => tf.add(def.apply(xt, xt, null), def.apply(delta, delta, null)).dataSync());
    expect(relErr(withDelta, sumParts)).toBeLessThan(1e-5);
    tf.dispose([xt, out, delta]);
    def.dispose();
    set.dispose();
    sae.dispose();
  }

  it('is x − W_Sᵀ(W_S W_Sᵀ)⁻¹W_S x: orthogonal to W_dec[S], idempotent', async () => {
    await check(arrays, [2, 4, 7, 11], [2, 4, 7, 11]);
  });

  it('drops a dependent decoder row (rank 2 for three rows in a plane)', async () => {
    const W_dec = Float32Array.from(arrays.W_dec);
    for (let j = 0; j < d; j++) W_dec[7 * d + j] = W_dec[2 * d + j] - 2 * W_dec[4 * d + j];
    const arr = { ...arrays, W_dec };
    const { data, rank } = orthonormalBasis(Float32Array.from([2, 4, 7].flatMap((f) => rowOf(W_dec, f, d))), 3, d);
    expect(rank).toBe(2);
    // Orthonormal rows.
    for (let a = 0; a < rank; a++)
      for (let b = 0; b < rank; b++) expect(dot(rowOf(data, a, d), rowOf(data, b, d))).toBeCloseTo(a === b ? 1 : 0, 6);
    await check(arr, [2, 4, 7], [2, 4]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// The site over raw activations with a linear read-out: B = mean over real tokens of w·h + b.

const SITE_N = 6,
  SITE_T = 3;
const SITE_POSITIONS = [
  [0, 2],
  [1, -1],
  [2, 0],
  [-1, 1],
  [0, 1],
  [2, -1],
];

interface ProbeSiteWorld {
  cfg: SaeConfig;
  arrays: SaeArrays;
  h: Float32Array;
  w: Float32Array;
  b: number;
}

function probeSiteWorld(seed = 41, arch: RandomSaeOptions = {}): ProbeSiteWorld {
  const { cfg, arrays } = randomSae({ ...arch, seed });
  const d = cfg.dIn;
  return { cfg, arrays, h: gaussian(seed + 1, SITE_N * SITE_T * d, 1.5, arrays.b_dec), w: gaussian(seed + 2, d), b: 0.1 };
}

async function probeSite(
  world: ProbeSiteWorld,
  clamp: ClampRule,
  defence: SiteDefence | undefined,
  positions: number[][] = SITE_POSITIONS,
  t = SITE_T,
) {
  const sae = Sae.create(world.cfg, world.arrays);
  const n = positions.length;
  const d = world.cfg.dIn;
  const probe = probeBehaviour({ d, classes: 1, w: world.w, b: new Float32Array([world.b]) }, 0, {
    n,
    t,
    mask: new Float32Array(n * t).fill(1),
  });
  const h = tf.tensor3d(world.h.subarray(0, n * t * d), [n, t, d]);
  const site = await RecoverySite.create({ sae, features: S, clamp, h, positions, behaviour: probe.behaviour, defence });
  h.dispose();
  return {
    site,
    dispose: () => {
      site.dispose();
      probe.dispose();
      sae.dispose();
    },
  };
}

/** B and z_S at the slots from the reference, for δ [N, P, d] (zero on unused slots). */
function referenceReadout(
  world: ProbeSiteWorld,
  rd: RefDefence,
  kind: HookKind,
  delta: Float32Array,
  positions = SITE_POSITIONS,
  t = SITE_T,
) {
  const d = world.cfg.dIn;
  const p = positions[0].length;
  const B: number[] = [];
  const zS: number[] = [];
  positions.forEach((row, i) => {
    let s = 0;
    for (let tok = 0; tok < t; tok++) {
      const k = row.indexOf(tok);
      const dl = k >= 0 ? rowOf(delta, i * p + k, d) : new Array(d).fill(0);
      s += dot(Array.from(world.w), rd.out(kind, rowOf(world.h, i * t + tok, d), dl));
    }
    B.push(s / t + world.b);
    row.forEach((tok, k) => {
      if (tok < 0) zS.push(...S.map(() => 0));
      else zS.push(...rd.zS(rd.out(kind, rowOf(world.h, i * t + tok, d), rowOf(delta, i * p + k, d))));
    });
  });
  return { B, zS };
}

function slotDelta(seed: number, positions: number[][], d: number, sd = 0.7): Float32Array {
  const p = positions[0].length;
  const v = gaussian(seed, positions.length * p * d, sd);
  positions.forEach((row, i) => row.forEach((tok, k) => tok < 0 && v.fill(0, (i * p + k) * d, (i * p + k + 1) * d)));
  return v;
}

describe('a linear read-out through the site under each hook defence', () => {
  it.each([
    ['standard', {}],
    ['topk', { architecture: 'topk', k: 6 }],
  ] as [string, RandomSaeOptions][])('%s SAE: B(δ), z_S(δ) and the baseline match the closed forms', async (_name, arch) => {
    const world = probeSiteWorld(41, arch);
    const d = world.cfg.dIn;
    const clamp = parseClampRule('set:-2', true);
    const cap = 0.3;
    const rd = new RefDefence(new RefSae(world.cfg, world.arrays), S, clamp, cap);
    const deltaData = slotDelta(43, SITE_POSITIONS, d);
    const zero = new Float32Array(deltaData.length);
    for (const kind of HOOK_KINDS) {
      const { site, dispose } = await probeSite(world, clamp, { kind, params: { errorCap: cap } });
      const delta = tf.tensor3d(deltaData, [SITE_N, 2, d]);
      const got = tf.tidy(() => site.behaviourAt(delta).dataSync());
      const gotZ = tf.tidy(() => site.defendedActs(delta).dataSync());
      const want = referenceReadout(world, rd, kind, deltaData);
      expect(relErr(got, want.B), kind).toBeLessThan(1e-5);
      expect(relErr(gotZ, want.zS), `${kind} z_S`).toBeLessThan(1e-5);
      // Without δ: the baseline's B under the defence, and B before it.
      const want0 = referenceReadout(world, rd, kind, zero);
      expect(relErr(site.baseline.bDef, want0.B), `${kind} bDef`).toBeLessThan(1e-5);
      expect(relErr(site.zDef.dataSync(), want0.zS), `${kind} zDef`).toBeLessThan(1e-5);
      const bBase = SITE_POSITIONS.map((_, i) => {
        let s = 0;
        for (let tok = 0; tok < SITE_T; tok++) s += dot(Array.from(world.w), rowOf(world.h, i * SITE_T + tok, d));
        return s / SITE_T + world.b;
      });
      expect(relErr(site.baseline.bBase, bBase)).toBeLessThan(1e-5);
      // The residual the model reads at the hook: δ's change at the slots, the defended residual elsewhere.
      const hRec = tf.tidy(() => site.hRec(delta).dataSync());
      SITE_POSITIONS.forEach((row, i) => {
        for (let tok = 0; tok < SITE_T; tok++) {
          const k = row.indexOf(tok);
          const dl = k >= 0 ? rowOf(deltaData, i * 2 + k, d) : new Array(d).fill(0);
          expect(relErr(rowOf(hRec, i * SITE_T + tok, d), rd.out(kind, rowOf(world.h, i * SITE_T + tok, d), dl))).toBeLessThan(1e-5);
        }
      });
      delta.dispose();
      dispose();
    }
  });

  it('no-error-term and ablate-span at one position: B = w·D(clamp(E(h + δ))) + b and B = w·P⊥(h + δ) + b', async () => {
    const world = probeSiteWorld(51);
    const d = world.cfg.dIn;
    const clamp = parseClampRule('zero');
    const positions = [[0], [0], [0]];
    const deltaData = slotDelta(52, positions, d, 1);
    const rd = new RefDefence(new RefSae(world.cfg, world.arrays), S, clamp);
    for (const kind of ['no-error-term', 'ablate-span'] as const) {
      const { site, dispose } = await probeSite(world, clamp, { kind }, positions, 1);
      const delta = tf.tensor3d(deltaData, [3, 1, d]);
      const got = tf.tidy(() => site.behaviourAt(delta).dataSync());
      positions.forEach((_, i) => {
        const x = add(rowOf(world.h, i, d), rowOf(deltaData, i, d));
        const out = kind === 'no-error-term' ? rd.recon(x) : rd.ablate(x);
        expect(got[i]).toBeCloseTo(dot(Array.from(world.w), out) + world.b, 4);
      });
      delta.dispose();
      dispose();
    }
  });

  it('without a defence the site is the paper’s clamp, value for value', async () => {
    const world = probeSiteWorld(61);
    const d = world.cfg.dIn;
    const clamp = parseClampRule('multiply:0.5');
    const a = await probeSite(world, clamp, undefined);
    const b = await probeSite(world, clamp, { kind: 'clamp' });
    const delta = tf.tensor3d(slotDelta(62, SITE_POSITIONS, d), [SITE_N, 2, d]);
    const read = (s: RecoverySite) =>
      tf.tidy(() => ({
        B: Array.from(s.behaviourAt(delta).dataSync()),
        z: Array.from(s.defendedActs(delta).dataSync()),
        out: Array.from(s.outAtSlots(delta).dataSync()),
        hDef: Array.from(s.hDef.dataSync()),
        zDef: Array.from(s.zDef.dataSync()),
      }));
    expect(read(a.site)).toEqual(read(b.site));
    expect(a.site.baseline).toEqual(b.site.baseline);
    expect(a.site.defence.kind).toBe('clamp');
    expect(a.site.affineEncoder).toBe(true);
    delta.dispose();
    a.dispose();
    b.dispose();
  });

  it('a site under each defence frees every tensor it made (a refused clip-error too)', async () => {
    const world = probeSiteWorld(91);
    const d = world.cfg.dIn;
    const delta = tf.tensor3d(slotDelta(92, SITE_POSITIONS, d), [SITE_N, 2, d]);
    for (const kind of HOOK_KINDS) {
      const before = tf.memory().numTensors;
      const { site, dispose } = await probeSite(world, parseClampRule('zero'), { kind, params: { errorCap: 0.5 } });
      tf.tidy(() => {
        for (const x of [site.behaviourAt(delta), site.defendedActs(delta), site.hRec(delta), site.activeMask(delta)]) x.dataSync();
      });
      dispose();
      expect(tf.memory().numTensors - before, kind).toBe(0);
    }
    const sae = Sae.create(world.cfg, world.arrays);
    const set = new DefendedSet(sae, S);
    const before = tf.memory().numTensors;
    await expect(HookDefence.create('clip-error', set, parseClampRule('zero'))).rejects.toThrow(/cap/);
    expect(tf.memory().numTensors - before).toBe(0);
    set.dispose();
    sae.dispose();
    delta.dispose();
  });

  it('refuses a fixed perturbation under another defence, and a token mask of the wrong size', async () => {
    const world = probeSiteWorld(71);
    const d = world.cfg.dIn;
    const sae = Sae.create(world.cfg, world.arrays);
    const h = tf.tensor3d(world.h, [SITE_N, SITE_T, d]);
    const fixed = tf.zerosLike(h);
    const behaviour = (x: Tensor3D) => tf.sum(x, [1, 2]) as tf.Tensor1D;
    const spec = { sae, features: S, clamp: parseClampRule('zero'), h, positions: SITE_POSITIONS, behaviour };
    await expect(RecoverySite.create({ ...spec, fixed, defence: { kind: 'reclamp' } })).rejects.toThrow(
      /fixed perturbation .* not reclamp/,
    );
    await expect(RecoverySite.create({ ...spec, defence: { kind: 'no-error-term', mask: new Float32Array(5) } })).rejects.toThrow(
      /token mask has 5 entries, expected 18/,
    );
    await expect(RecoverySite.create({ ...spec, defence: { kind: 'clip-error' } })).rejects.toThrow(/clip-error needs/);
    tf.dispose([h, fixed]);
    sae.dispose();
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('reclamp under an encoder-projected attack', () => {
  // With W_enc[:,S]ᵀδ = 0, z_S(T(h) + δ) = z_S(T(h)): re-clamping moves T(h) + δ by exactly what it moves T(h), so
  // B_reclamp(δ) − B_clamp(δ) = B_reclamp(0) − B_clamp(0) per sample for a linear read-out.
  it.each(['zero', 'multiply:0.5'])('%s: the re-clamp adds a δ-independent offset', async (clampText) => {
    const world = makeSyntheticProbeWorld({ seed: 3, t: 2, n: 12 });
    const { n, t, d } = world.acts;
    const clamp = parseClampRule(clampText);
    const positions = Array.from({ length: n }, () => [0, 1]);
    const sae = Sae.create(world.config, world.arrays);
    const probe = probeBehaviour(world.probe, 0, world.acts);
    const h = tf.tensor3d(world.acts.h, [n, t, d]);
    const make = (kind: HookKind) =>
      RecoverySite.create({ sae, features: world.conceptFeatures, clamp, h, positions, behaviour: probe.behaviour, defence: { kind } });
    const reclamp = await make('reclamp');
    const plain = await make('clamp');
    const run = await RecoveryRun.create(reclamp, { mode: 'encoder', reproject: true, steps: 30, lr: 0.05, budget: 4 });
    await run.run({ metricsEvery: 30 });
    const delta = tf.tensor3d(await run.deltaValues(), [n, 2, d]);
    const random = tf.tidy(
      () => tf.mul(tf.randomNormal([n, 2, d], 0, 1, 'float32', 9), tf.div(tf.norm(delta), Math.sqrt(n * 2 * d))) as Tensor3D,
    );
    const B = (s: RecoverySite, x: Tensor3D) => tf.tidy(() => Array.from(s.behaviourAt(x).dataSync()));
    const offset0 = reclamp.baseline.bDef.map((v, i) => v - plain.baseline.bDef[i]);
    const bR = B(reclamp, delta);
    const bC = B(plain, delta);
    // The attack moved B, and re-clamping h_def is not a no-op here.
    expect(tf.tidy(() => tf.norm(delta).dataSync()[0])).toBeGreaterThan(1);
    expect(Math.max(...bC.map((v, i) => Math.abs(v - plain.baseline.bDef[i])))).toBeGreaterThan(0.5);
    expect(Math.max(...offset0.map(Math.abs))).toBeGreaterThan(0.1);
    const dev = bR.map((v, i) => Math.abs(v - bC[i] - offset0[i]));
    expect(Math.max(...dev)).toBeLessThan(2e-4);
    // A δ of the same size that is not encoder-orthogonal breaks it: the check can fail.
    const rR = B(reclamp, random);
    const rC = B(plain, random);
    expect(Math.max(...rR.map((v, i) => Math.abs(v - rC[i] - offset0[i])))).toBeGreaterThan(0.1);
    tf.dispose([delta, random, h]);
    run.dispose();
    reclamp.dispose();
    plain.dispose();
    probe.dispose();
    sae.dispose();
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('gradients through each hook defence', () => {
  it.each(HOOK_KINDS)('%s: ∂ΣB/∂δ matches central differences', async (kind) => {
    const world = probeSiteWorld(81);
    const d = world.cfg.dIn;
    const positions = [
      [0, 1],
      [1, 2],
      [2, 0],
    ];
    const clamp = parseClampRule('set:-1', true);
    const rs = new RefSae(world.cfg, world.arrays);
    const deltaData = slotDelta(82, positions, d, 0.5);
    // The cap between the error norms at the slots: some clipped, some not (and none at the kink ‖e‖ = cap, where the
    // central difference averages the two sides).
    const norms = positions.flatMap((row, i) =>
      row.map((tok, k) => norm(rs.error(add(rowOf(world.h, i * 3 + tok, d), rowOf(deltaData, i * 2 + k, d))))),
    );
    const sorted = [...norms].sort((a, b) => a - b);
    const cap = (sorted[2] + sorted[3]) / 2;
    const { site, dispose } = await probeSite(world, clamp, { kind, params: { errorCap: cap } }, positions);
    const coords = Array.from({ length: 10 }, (_, i) => (i * 37 + 5) % deltaData.length);
    const r = checkGradient((x) => site.behaviourAt(x as Tensor3D), deltaData, [3, 2, d], coords);
    expect(r.checked).toBeGreaterThanOrEqual(8);
    expect(r.nonzero).toBeGreaterThanOrEqual(6);
    dispose();
  });
});
