// Per-sample metrics at a δ (docs/method.md §4): every number a sample row reports, computed on the device and
// read back in one transfer.
import { tf, type Tensor } from './tf.ts';
import type { RecoverySite } from './site.ts';
import { RATIO_MIN_DEFENDED_NORM, type SampleMetrics } from './metrics.ts';
import { clampDirection } from './clamp.ts';
import { fullDelta } from './optimiser-step.ts';

/** The metrics of every sample at the δ `reported` makes ([N|1, P, d]; made and freed inside one tf.tidy). */
export async function sampleMetrics(site: RecoverySite, reported: () => Tensor): Promise<SampleMetrics[]> {
  const { n } = site;
  const packed = tf.tidy(() => {
    const full = fullDelta(site, reported());
    const hRecAtSlots = site.outAtSlots(full);
    const zRec = site.defendedActs(full);
    const dz = tf.sub(zRec, site.zDef);
    const norm = (x: Tensor) => tf.sqrt(tf.sum(tf.square(tf.reshape(x, [n, -1])), 1));
    const slot = site.slotMask;
    const eligible = tf.mul(tf.cast(tf.lessEqual(site.zDef, 0), 'float32'), slot);
    const activeRec = tf.mul(tf.cast(tf.greater(zRec, 0), 'float32'), slot);
    const count = (x: Tensor) => tf.sum(tf.reshape(x, [n, -1]), 1);
    // Against the clamp: lowering features it pushed up, raising features it pushed down.
    const against = clampDirection(site.spec.clamp) === 'up' ? tf.sub(site.zDef, zRec) : dz;
    return tf.stack([
      site.behaviourAt(full),
      norm(dz),
      norm(tf.mul(site.set.decodeDelta(dz, hRecAtSlots), slot)),
      norm(tf.relu(against)),
      count(eligible),
      count(tf.mul(eligible, activeRec)),
      norm(full),
      norm(tf.mul(site.sae.error(hRecAtSlots), slot)),
      count(activeRec),
      site.detectorScores(full) ?? tf.zeros([n]),
    ]);
  });
  const data = await packed.data();
  packed.dispose();
  const col = (k: number, i: number) => data[k * n + i];
  const { baseline } = site;
  const out: SampleMetrics[] = [];
  for (let i = 0; i < n; i++) {
    const bRec = col(0, i);
    const valid = baseline.valid[i];
    const zNorm = baseline.zDefNorm[i];
    const relative = (v: number) => (zNorm > RATIO_MIN_DEFENDED_NORM ? v / zNorm : null);
    const span = baseline.bBase[i] - baseline.bDef[i];
    const detector = site.detector;
    // A sample the monitor flags counts as defended: its recovery does not reach the user.
    const flagged = detector ? col(9, i) > detector.threshold : false;
    out.push({
      index: i,
      base: baseline.bBase[i],
      defended: baseline.bDef[i],
      recovered: bRec,
      valid,
      success: valid && bRec > 0 && !flagged,
      ...(detector && { detectorScore: col(9, i), flagged }),
      defendedNorm: zNorm,
      relDrift: relative(col(1, i)),
      absDrift: col(1, i),
      decodeDrift: col(2, i),
      floorViolation: relative(col(3, i)),
      eligible: col(4, i),
      reactivated: col(5, i),
      activeRecovered: col(8, i),
      deltaNorm: col(6, i),
      deltaOverResidual: col(6, i) / (baseline.hDefNorm[i] + 1e-8),
      recoveredFraction: span !== 0 ? (bRec - baseline.bDef[i]) / span : null,
      residualNormBase: baseline.residualBase[i],
      residualNormDefended: baseline.residualDef[i],
      residualNormRecovered: col(7, i),
    });
  }
  return out;
}
