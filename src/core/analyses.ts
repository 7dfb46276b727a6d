// Analyses that explain a recovery (docs/method.md §5):
//  - the feature-map Jacobian J_S = diag(active)·A_Sᵀ at the δ slots: its spectrum, rank, the null-space
//    dimension d − rank, and how much of the behaviour gradient lies in that null space (why recovery is
//    possible at all);
//  - recovery-path attribution: split δ into the part that moves SAE features (clamped / non-clamped /
//    top-k non-clamped) and the residual part the SAE does not see, and replay each alone under the clamp;
//  - for behaviours linear in δ, the closed-form best δ: how many valid flips any optimiser could recover.
import { EigenvalueDecomposition, Matrix, solve } from 'ml-matrix';
import { tf, type Tensor, type Tensor3D } from './tf.ts';
import type { RecoverySite } from './site.ts';
import { wilson } from './stats.ts';
import { EncoderProjector } from './projection.ts';

export interface JacobianReport {
  /** Mean singular-value spectrum over the analysed slots (descending, zero-padded to |S|). */
  singularValues: number[];
  /** Median rank over the analysed slots. */
  rank: number;
  d: number;
  nullSpaceDim: number;
  /** Mean share of ‖∂B/∂h‖² in the null space of J_S (live rows only). */
  gradientNullShare: number;
  /** Same for all of S's encoder directions (the encoder projection's null space). */
  gradientEncoderNullShare: number;
  /** Mean number of live (active) defended rows per slot. */
  activeRows: number;
  slots: number;
}

/** Share of g's squared norm outside span(columns of A) (A given as d×k). */
export function nullSpaceShare(A: Matrix, g: Matrix): { share: number; singular: number[]; rank: number } {
  const k = A.columns;
  const gg = g.norm('frobenius') ** 2;
  if (k === 0) return { share: 1, singular: [], rank: 0 };
  const gram = A.transpose().mmul(A);
  const eig = new EigenvalueDecomposition(gram, { assumeSymmetric: true });
  const singular = eig.realEigenvalues.map((v) => Math.sqrt(Math.max(v, 0))).sort((a, b) => b - a);
  const tol = (singular[0] ?? 0) * 1e-6 * Math.max(A.rows, k);
  const rank = singular.filter((s) => s > tol).length;
  if (gg === 0) return { share: 0, singular, rank };
  for (let j = 0; j < k; j++) gram.set(j, j, gram.get(j, j) + 1e-10 * (1 + gram.get(j, j)));
  const x = solve(gram, A.transpose().mmul(g));
  const inRow = A.mmul(x).norm('frobenius') ** 2; // ml-matrix, not a tensor
  return { share: Math.min(1, Math.max(0, 1 - inRow / gg)), singular, rank };
}

/**
 * Jacobian analysis at δ = 0 (the defended state), over up to `maxSlots` valid (sample, slot) pairs.
 * Single-layer: the rows are the defended encoder directions of the features that are live at the slot.
 */
export async function jacobianAnalysis(site: RecoverySite, maxSlots = 256): Promise<JacobianReport> {
  const { n, p, d } = site;
  const s = site.set.size;
  const [activeT, gradT, AT] = tf.tidy(() => {
    const zero = tf.zeros([n, p, d]) as Tensor3D;
    const active = site.activeMask(zero);
    const grad = tf.grad((x: Tensor) => tf.sum(site.behaviourAt(tf.mul(x, site.slotMask) as Tensor3D)))(zero);
    return [active, grad, site.set.encoderDirections()];
  });
  const [active, grad, A] = await Promise.all([activeT.data(), gradT.data(), AT.data()]);
  tf.dispose([activeT, gradT, AT]);
  const slotMask = await site.slotMask.data();

  const Afull = new Matrix(d, s);
  for (let i = 0; i < d; i++) for (let j = 0; j < s; j++) Afull.set(i, j, A[i * s + j]);
  const slots: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    if (!site.baseline.valid[i]) continue;
    for (let k = 0; k < p; k++) if (slotMask[i * p + k]) slots.push([i, k]);
  }
  // Evenly spaced subsample when there are many slots (e.g. δ at every token).
  const picked =
    slots.length <= maxSlots ? slots : Array.from({ length: maxSlots }, (_, j) => slots[Math.floor((j * slots.length) / maxSlots)]);
  const spectrum = new Array(s).fill(0);
  const ranks: number[] = [];
  let share = 0,
    encShare = 0,
    rows = 0;
  for (const [i, k] of picked) {
    const off = (i * p + k) * d;
    const g = new Matrix(d, 1);
    for (let j = 0; j < d; j++) g.set(j, 0, grad[off + j]);
    const live = [...Array(s).keys()].filter((j) => active[(i * p + k) * s + j] > 0);
    const Aact = new Matrix(d, live.length);
    live.forEach((col, c) => {
      for (let r = 0; r < d; r++) Aact.set(r, c, Afull.get(r, col));
    });
    const res = nullSpaceShare(Aact, g);
    res.singular.forEach((v, j) => (spectrum[j] += v));
    ranks.push(res.rank);
    share += res.share;
    encShare += nullSpaceShare(Afull, g).share;
    rows += live.length;
  }
  const m = Math.max(1, picked.length);
  ranks.sort((a, b) => a - b);
  const rank = ranks.length ? ranks[Math.floor(ranks.length / 2)] : 0;
  return {
    singularValues: spectrum.map((v) => v / m),
    rank,
    d,
    nullSpaceDim: d - rank,
    gradientNullShare: picked.length ? share / m : 1,
    gradientEncoderNullShare: picked.length ? encShare / m : 1,
    activeRows: rows / m,
    slots: picked.length,
  };
}

/** The parts of δ the replay adds alone under the clamp, in the order reports list them. */
export const REPLAY_PARTS = [
  'full',
  'residual',
  'non-clamped features',
  'clamped features',
  'top-k non-clamped',
  'knock out top-k non-clamped',
] as const;
export type ReplayPart = (typeof REPLAY_PARTS)[number];

export interface ReplayReport {
  part: ReplayPart;
  recovered: number;
  validFlips: number;
  rate: number | null;
  ci95: [number, number] | null;
  /** Mean over valid flips of ‖part‖ / ‖δ‖. */
  normShare: number | null;
  /** Per sample: B > 0 when this part is replayed alone (every sample, valid or not). */
  positive: boolean[];
}

/**
 * Recovery-path attribution with replay. `delta` is the found δ at the slots, [N, P, d] (already broadcast).
 *   Δ_feat = D(E(h_rec)) − D(E(h_def)) = clamped part + non-clamped part;  δ_res = δ − Δ_feat.
 * Each part is replayed alone as the additive δ under the active clamp.
 */
export async function recoveryPathReplay(site: RecoverySite, delta: Tensor3D, topK = 8): Promise<ReplayReport[]> {
  const { n, p } = site;
  const sae = site.sae;
  const parts = REPLAY_PARTS;
  const packed = tf.tidy(() => {
    const full = tf.mul(delta, site.slotMask) as Tensor3D;
    const hRec = tf.add(site.hDefAtSlots, full);
    const featPart = tf.sub(sae.reconstruct(hRec), sae.reconstruct(site.hDefAtSlots));
    const zRecS = site.set.acts(hRec);
    const zDefS = site.set.acts(site.hDefAtSlots);
    const clamped = site.set.decodeDelta(tf.sub(zRecS, zDefS), hRec);
    const nonClamped = tf.sub(featPart, clamped);
    // Top-k non-clamped features by the size of their decoder contribution |Δz_f|·‖W_dec[f]‖, per slot.
    const dz = tf.sub(sae.encode(hRec), sae.encode(site.hDefAtSlots)); // [N, P, m]
    const decNorm = tf.norm(sae.W_dec, 'euclidean', 1); // [m]
    const notS = tf.sub(1, tf.sum(tf.oneHot(tf.tensor1d(site.set.indices, 'int32'), sae.dSae), 0));
    const score = tf.mul(tf.mul(tf.abs(dz), decNorm), notS);
    const k = Math.min(topK, sae.dSae);
    const kth = tf.slice(tf.topk(score, k).values, [0, 0, k - 1], [n, p, 1]);
    const keep = tf.mul(tf.sub(1, tf.step(tf.sub(kth, score))), tf.step(score)); // score ≥ kth and > 0
    const topPart = sae.decodeDelta(tf.mul(dz, keep), sae.W_dec, hRec);
    const replays = [full, tf.sub(full, featPart), nonClamped, clamped, topPart, tf.sub(full, topPart)].map(
      (x) => tf.mul(x, site.slotMask) as Tensor3D,
    );
    const rowNorm = (x: Tensor) => tf.sqrt(tf.sum(tf.square(tf.reshape(x, [n, -1])), 1));
    const dn = rowNorm(full);
    return tf.stack(replays.flatMap((x) => [site.behaviourAt(x), tf.div(rowNorm(x), tf.add(dn, 1e-12))]));
  });
  const data = await packed.data();
  packed.dispose();
  const valid = site.baseline.valid;
  const nValid = valid.filter(Boolean).length;
  return parts.map((part, j) => {
    const positive = Array.from({ length: n }, (_, i) => data[2 * j * n + i] > 0);
    let recovered = 0,
      share = 0;
    for (let i = 0; i < n; i++) {
      if (!valid[i]) continue;
      if (data[2 * j * n + i] > 0) recovered++;
      share += data[(2 * j + 1) * n + i];
    }
    return {
      part,
      recovered,
      validFlips: nValid,
      rate: nValid ? recovered / nValid : null,
      ci95: wilson(recovered, nValid),
      normShare: nValid ? share / nValid : null,
      positive,
    };
  });
}

export interface FeasibilityReport {
  /** Valid flips that some δ within the budget (and, in encoder mode, orthogonal to the defended directions) recovers. */
  feasible: number;
  validFlips: number;
  perSample: boolean[];
}

/**
 * For a behaviour that is affine in δ (a linear probe on the residual), the best per-sample δ has a closed
 * form: B_i(h_def + δ) = B_def,i + w_i·δ with w_i = ∂B_i/∂δ, so the most B can reach under ‖δ_i‖ ≤ ρ is
 * B_def,i + ρ‖P w_i‖, P = I (mode none) or the encoder projection (mode encoder). A valid flip is recoverable at
 * all iff that is > 0: the count an optimiser should reach, and the gap it leaves (docs/method.md §5.3).
 */
export async function linearFeasibility(
  site: RecoverySite,
  mode: 'none' | 'encoder',
  budget: number,
  ridge = 1e-4,
): Promise<FeasibilityReport> {
  const { n, p, d } = site;
  const projector = mode === 'encoder' ? await EncoderProjector.create(site.set.encoderDirections(), ridge) : null;
  try {
    const reachT = tf.tidy(() => {
      const zero = tf.zeros([n, p, d]);
      const w = tf.grad((x: Tensor) => tf.sum(site.behaviourAt(tf.mul(x, site.slotMask) as Tensor3D)))(zero);
      const pw = projector ? tf.mul(projector.project(w), site.slotMask) : w;
      return tf.sqrt(tf.sum(tf.square(tf.reshape(pw, [n, -1])), 1));
    });
    const reach = await reachT.data();
    reachT.dispose();
    const { bDef, valid } = site.baseline;
    const perSample = Array.from({ length: n }, (_, i) => valid[i] && bDef[i] + budget * reach[i] > 0);
    return { feasible: perSample.filter(Boolean).length, validFlips: valid.filter(Boolean).length, perSample };
  } finally {
    projector?.dispose();
  }
}
