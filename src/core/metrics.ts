// The metrics of docs/method.md §4 and their aggregation. Names are the ones shown in the UI and written in JSON
// (schemas/recovery-result.schema.json). Everything headline is over the valid flips V; `all` repeats
// the means over every sample.
import { meanOf, medianOf, wilson } from './stats.ts';

/**
 * Relative drift and floor violation divide by ‖z_S(h_def)‖; below this norm the ratio means nothing (a clamp to
 * zero leaves the defended features at ≈ 0, and 1e-8 in the denominator turns any movement into 1e+8), so such
 * samples get null and are counted as excluded.
 */
export const RATIO_MIN_DEFENDED_NORM = 1e-3;

/** A per-sample ratio summarised over the samples where it is defined. */
export interface RatioSummary {
  mean: number | null;
  median: number | null;
  /** Samples where the ratio is defined (‖z_S(h_def)‖ > RATIO_MIN_DEFENDED_NORM), and where it is not. */
  included: number;
  excluded: number;
}

export interface SampleMetrics {
  index: number;
  /** B without the clamp, with the clamp, and under the clamp + δ. */
  base: number;
  defended: number;
  recovered: number;
  /** Valid flip: B > 0 before the clamp and ≤ 0 after. */
  valid: boolean;
  /** Valid and B > 0 again under the active clamp (and, under a monitor, not flagged). */
  success: boolean;
  /** Under the detect defence: the monitor's score at this δ and whether it passes the threshold. */
  detectorScore?: number;
  flagged?: boolean;
  /** ‖z_S(h_def)‖ over the δ slots, z re-encoded: the denominator of the relative metrics. */
  defendedNorm: number;
  /** ‖z_S(h_rec) − z_S(h_def)‖ / ‖z_S(h_def)‖ over the δ slots, z re-encoded; null when ‖z_S(h_def)‖ ≤ 1e-3. */
  relDrift: number | null;
  absDrift: number;
  /** ‖(z_S(h_rec) − z_S(h_def))·W_dec[S]‖. */
  decodeDrift: number;
  /**
   * How far δ moves the defended features against the clamp, relative to ‖z_S(h_def)‖ (null like relDrift):
   * ‖[z_S^def − z_S^rec]₊‖ for a clamp that pushes features up (multiply α ≥ 1, set c > 0), ‖[z_S^rec − z_S^def]₊‖
   * for one that pushes them down (zero-ablation, set c ≤ 0, multiply α < 1).
   */
  floorViolation: number | null;
  /** Defended (slot, feature) pairs with z ≤ 0 in h_def, and how many of them are > 0 in h_rec. */
  eligible: number;
  reactivated: number;
  /** Defended (slot, feature) pairs with z > 0 in h_rec, eligible or not. */
  activeRecovered: number;
  deltaNorm: number;
  /**
   * ‖δ‖ / ‖h_def‖ over the slots: δ's size against the residual it is added to. (Not the paper's "relative Δ
   * norm", which divides by the defended feature state's norm — hence the different name.)
   */
  deltaOverResidual: number;
  /** (B_rec − B_def) / (B_base − B_def); null when the clamp did not move B. */
  recoveredFraction: number | null;
  /** SAE error norms ‖e(·)‖ over the δ slots. */
  residualNormBase: number;
  residualNormDefended: number;
  residualNormRecovered: number;
}

export interface Aggregate {
  samples: number;
  validFlips: number;
  /** Valid flips recovered. */
  recovered: number;
  /** Under the detect defence: valid flips the monitor flags at the reported δ, over the valid flips. */
  detectionRate?: number | null;
  recoveryRate: number | null;
  ci95: [number, number] | null;
  relDrift: RatioSummary;
  meanAbsDrift: number | null;
  meanDecodeDrift: number | null;
  floorViolation: RatioSummary;
  /** Pooled over V: Σ reactivated / Σ eligible. */
  reactivation: number | null;
  /** The paper's: mean over the valid flips with eligible pairs of reactivated / eligible. */
  reactivationPerPrompt: number | null;
  meanDeltaNorm: number | null;
  meanDeltaOverResidual: number | null;
  meanRecoveredFraction: number | null;
  /**
   * Zero-reactivation recovery (the paper's TPP contrast): recovered valid flips where no eligible defended pair (z ≤ 0
   * in h_def) turned on, over V — a recovery that did not undo the clamp itself.
   */
  zeroReactivationRate: number | null;
  residualNorm: { base: number | null; defended: number | null; recovered: number | null };
  all: {
    /** Samples with B > 0 under clamp + δ, over all samples. */
    positiveRecovered: number;
    meanRecoveredScore: number | null;
    relDrift: RatioSummary;
    meanAbsDrift: number | null;
    meanDecodeDrift: number | null;
    reactivation: number | null;
    meanDeltaNorm: number | null;
  };
}

export interface HistoryEntry {
  step: number;
  /** Mean B over all samples at this step (the quantity maximised, before penalties). */
  objective: number | null;
  /** The minimised loss of the last step: −mean B + penalties. */
  loss: number | null;
  recoveryRate: number | null;
  /** Mean relative drift over the valid flips where it is defined (null when none is). */
  meanRelDrift: number | null;
  meanAbsDrift: number | null;
  meanDeltaNorm: number | null;
  /** Mean ‖e(h_rec)‖ over V (over all samples when V is empty). */
  residualNorm: number | null;
  /** cos(raw gradient, projected gradient) of the last step. */
  projectionCosine: number | null;
}

export interface RecoveryResult {
  config: Record<string, unknown>;
  samples: SampleMetrics[];
  aggregate: Aggregate;
  history: HistoryEntry[];
}

function pooled(samples: SampleMetrics[], keep: (s: SampleMetrics) => boolean): number | null {
  let num = 0,
    den = 0;
  for (const s of samples) {
    if (!keep(s)) continue;
    num += s.reactivated;
    den += s.eligible;
  }
  return den ? num / den : null;
}

/** A ratio over the selected samples where it is defined. */
export function ratioSummary(values: (number | null)[], keep?: boolean[]): RatioSummary {
  const chosen = values.filter((_, i) => !keep || keep[i]);
  const defined = chosen.filter((v): v is number => v !== null && Number.isFinite(v));
  return { mean: meanOf(defined), median: medianOf(defined), included: defined.length, excluded: chosen.length - defined.length };
}

function perPrompt(samples: SampleMetrics[]): number | null {
  return meanOf(samples.filter((s) => s.valid && s.eligible > 0).map((s) => s.reactivated / s.eligible));
}

export function summarise(samples: SampleMetrics[]): Aggregate {
  const valid = samples.map((s) => s.valid);
  const V = samples.filter((s) => s.valid);
  const recovered = V.filter((s) => s.success).length;
  const pick = (f: (s: SampleMetrics) => number) => samples.map(f);
  const overV = (f: (s: SampleMetrics) => number) => meanOf(pick(f), valid);
  const overAll = (f: (s: SampleMetrics) => number) => meanOf(pick(f));
  const residualKeep = V.length ? valid : undefined;
  const fractions = V.filter((s) => s.recoveredFraction !== null).map((s) => s.recoveredFraction!);
  const monitored = samples.some((s) => s.flagged !== undefined);
  return {
    samples: samples.length,
    validFlips: V.length,
    recovered,
    ...(monitored && { detectionRate: V.length ? V.filter((s) => s.flagged).length / V.length : null }),
    recoveryRate: V.length ? recovered / V.length : null,
    ci95: wilson(recovered, V.length),
    relDrift: ratioSummary(
      samples.map((s) => s.relDrift),
      valid,
    ),
    meanAbsDrift: overV((s) => s.absDrift),
    meanDecodeDrift: overV((s) => s.decodeDrift),
    floorViolation: ratioSummary(
      samples.map((s) => s.floorViolation),
      valid,
    ),
    reactivation: pooled(samples, (s) => s.valid),
    reactivationPerPrompt: perPrompt(samples),
    meanDeltaNorm: overV((s) => s.deltaNorm),
    meanDeltaOverResidual: overV((s) => s.deltaOverResidual),
    meanRecoveredFraction: meanOf(fractions),
    zeroReactivationRate: V.length ? V.filter((s) => s.success && s.reactivated === 0).length / V.length : null,
    residualNorm: {
      base: meanOf(
        pick((s) => s.residualNormBase),
        residualKeep,
      ),
      defended: meanOf(
        pick((s) => s.residualNormDefended),
        residualKeep,
      ),
      recovered: meanOf(
        pick((s) => s.residualNormRecovered),
        residualKeep,
      ),
    },
    all: {
      positiveRecovered: samples.filter((s) => s.recovered > 0).length,
      meanRecoveredScore: overAll((s) => s.recovered),
      relDrift: ratioSummary(samples.map((s) => s.relDrift)),
      meanAbsDrift: overAll((s) => s.absDrift),
      meanDecodeDrift: overAll((s) => s.decodeDrift),
      reactivation: pooled(samples, () => true),
      meanDeltaNorm: overAll((s) => s.deltaNorm),
    },
  };
}
