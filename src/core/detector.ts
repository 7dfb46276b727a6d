// The `detect` defence's monitor (docs/defences.md): at each position of the residual the model reads at the hook,
// three statistics of the SAE — the error norm ‖e(x)‖, the L0 of E(x), and the distance ‖E(x) − μ‖ of the feature
// vector from the clean inputs' mean — each standardised by its median and MAD on clean positions; a position's
// score is the largest of the three, an input's the largest over its real positions. The threshold is the
// ⌈(1 − α)(n + 1)⌉-th smallest of n clean calibration inputs' scores (a conformal quantile: on exchangeable clean
// inputs the false-positive rate is at most α), and the held-out half of the clean inputs measures it.
// The score is differentiable through the error norm and the distance (an L0 has no gradient): the adaptive
// attacker's penalty λ · max(0, score − threshold) descends it.
import { tf, type Tensor, type Tensor1D, type Tensor3D } from './tf.ts';
import type { Sae } from './sae.ts';
import { InputError } from './errors.ts';
import { wilson } from './stats.ts';
import { mulberry32 } from './rng.ts';

export const DETECTOR_STATS = ['error norm', 'L0', 'feature distance'] as const;

export interface DetectorCalibration {
  fpr: number;
  threshold: number;
  calibrationInputs: number;
  heldOutInputs: number;
  /** Held-out clean inputs flagged, over held-out clean inputs, with the Wilson interval. */
  heldOutFpr: number;
  heldOutCi: [number, number] | null;
  /** The clean held-out inputs' scores (for a ROC against attacked inputs). */
  heldOutScores: number[];
}

/** Clean inputs: residuals [M, T, d] at the hook (as the model reads them) and which tokens are real [M·T]. */
export interface CleanInputs {
  h: Tensor3D;
  mask: Float32Array;
}

const CHUNK_POSITIONS = 2048;

function robust(values: Float32Array): { centre: number; scale: number } {
  const sorted = Float64Array.from(values).sort();
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))];
  const centre = q(0.5);
  const dev = Float64Array.from(values, (v) => Math.abs(v - centre)).sort();
  const mad = dev[Math.floor(0.5 * (dev.length - 1))] * 1.4826;
  // A statistic that barely varies on clean text (an L0 that is always k) gets a unit scale: any change counts.
  return { centre, scale: Math.max(mad, 1e-3 * Math.max(Math.abs(centre), 1e-6), 1e-6) };
}

export class Detector {
  private constructor(
    readonly sae: Sae,
    private readonly mu: Tensor1D,
    private readonly centre: Tensor1D,
    private readonly scale: Tensor1D,
    readonly calibration: DetectorCalibration,
  ) {}

  /** The three raw statistics per position, [..., 3]. */
  private static raw(sae: Sae, mu: Tensor1D, x: Tensor): Tensor {
    const z = sae.encode(x);
    const err = tf.sqrt(tf.add(tf.sum(tf.square(sae.error(x)), -1), 1e-12));
    const l0 = tf.sum(tf.step(z), -1);
    const dist = tf.sqrt(tf.add(tf.sum(tf.square(tf.sub(z, mu)), -1), 1e-12));
    return tf.stack([err, l0, dist], -1);
  }

  /** Per-position score, [...] for x [..., d]: the largest standardised statistic. */
  positionScores(x: Tensor): Tensor {
    return tf.max(tf.div(tf.sub(Detector.raw(this.sae, this.mu, x), this.centre), this.scale), -1);
  }

  /** Each input's score, the largest over its real positions: [M] for x [M, T, d] and mask [M·T]. */
  async inputScores(x: Tensor3D, mask: Float32Array): Promise<Float32Array> {
    const [m, t] = x.shape;
    const out = new Float32Array(m).fill(Number.NEGATIVE_INFINITY);
    const rows = Math.max(1, Math.floor(CHUNK_POSITIONS / t));
    for (let s = 0; s < m; s += rows) {
      const e = Math.min(m, s + rows);
      const sc = tf.tidy(() => this.positionScores(tf.slice(x, [s, 0, 0], [e - s, t, x.shape[2]])));
      const v = await sc.data();
      sc.dispose();
      for (let i = s; i < e; i++) for (let j = 0; j < t; j++) if (mask[i * t + j]) out[i] = Math.max(out[i], v[(i - s) * t + j]);
    }
    return out;
  }

  /**
   * Calibrate on clean inputs: a seeded half of them sets μ, the standardisation and the threshold at false-positive
   * rate `fpr`; the other half measures the false-positive rate.
   */
  static async calibrate(sae: Sae, clean: CleanInputs, fpr: number, seed = 0): Promise<Detector> {
    const [m, t, d] = clean.h.shape;
    if (d !== sae.dIn) throw new InputError(`clean inputs have d=${d} but the SAE expects ${sae.dIn}`);
    if (m < 4) throw new InputError(`the detector needs at least 4 clean inputs to calibrate, got ${m}`);
    const order = Array.from({ length: m }, (_, i) => i);
    const rand = mulberry32(seed + 77);
    for (let i = m - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const calIdx = order.slice(0, Math.ceil(m / 2)).sort((a, b) => a - b);
    // The conformal bound needs ⌈(1 − α)(n + 1)⌉ ≤ n; with fewer inputs no threshold keeps the rate at α.
    if (Math.ceil((1 - fpr) * (calIdx.length + 1)) > calIdx.length)
      throw new InputError(
        `a false-positive rate of ${fpr} needs at least ${Math.ceil(1 / fpr) - 1} clean calibration inputs (half of the clean inputs), got ${calIdx.length}`,
      );
    const heldIdx = order.slice(Math.ceil(m / 2)).sort((a, b) => a - b);
    const pick = (idx: number[]) => ({
      h: tf.tidy(() => tf.gather(clean.h, tf.tensor1d(idx, 'int32')) as Tensor3D),
      mask: Float32Array.from(idx.flatMap((i) => Array.from(clean.mask.subarray(i * t, (i + 1) * t)))),
    });
    const cal = pick(calIdx);
    const held = pick(heldIdx);
    try {
      // μ: the mean feature vector over the calibration inputs' real positions.
      const rowsOf = (x: Tensor3D, mask: Float32Array) => {
        const keep = Array.from(mask.keys()).filter((k) => mask[k]);
        return tf.gather(tf.reshape(x, [-1, d]), tf.tensor1d(keep, 'int32'));
      };
      const mu = tf.tidy(() => tf.mean(sae.encode(rowsOf(cal.h, cal.mask)), 0) as Tensor1D);
      const rawT = tf.tidy(() => Detector.raw(sae, mu, rowsOf(cal.h, cal.mask)));
      const raw = (await rawT.data()) as Float32Array;
      rawT.dispose();
      const n = raw.length / 3;
      const stat = (k: number) => Float32Array.from({ length: n }, (_, i) => raw[i * 3 + k]);
      const r = [0, 1, 2].map((k) => robust(stat(k)));
      const centre = tf.tensor1d(r.map((x) => x.centre));
      const scale = tf.tensor1d(r.map((x) => x.scale));
      const provisional = new Detector(sae, mu, centre, scale, {} as DetectorCalibration);
      const calScores = Array.from(await provisional.inputScores(cal.h, cal.mask)).sort((a, b) => a - b);
      const k = Math.ceil((1 - fpr) * (calScores.length + 1));
      const threshold = calScores[k - 1];
      const heldScores = Array.from(await provisional.inputScores(held.h, held.mask));
      const flagged = heldScores.filter((s) => s > threshold).length;
      return new Detector(sae, mu, centre, scale, {
        fpr,
        threshold,
        calibrationInputs: calIdx.length,
        heldOutInputs: heldIdx.length,
        heldOutFpr: flagged / heldIdx.length,
        heldOutCi: wilson(flagged, heldIdx.length),
        heldOutScores: heldScores,
      });
    } finally {
      tf.dispose([cal.h, held.h]);
    }
  }

  get threshold(): number {
    return this.calibration.threshold;
  }

  dispose(): void {
    tf.dispose([this.mu, this.centre, this.scale]);
  }
}
