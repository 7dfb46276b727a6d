// Drift-constrained checkpoint selection (the paper's refusal rule, docs/method.md §3): per budget group (a
// sample, or the whole shared δ) the best δ so far whose relative drift is within the cap, and the best by
// B − w · drift as the fallback. RecoveryRun (recovery.ts) decides when to look; this keeps the candidates.
import { tf, type Tensor, type Variable } from './tf.ts';
import type { RecoverySite } from './site.ts';
import type { RecoveryOptions } from './options.ts';
import { fullDelta } from './optimiser-step.ts';

/** The checkpoints' values as a saved state holds them. */
export interface CheckpointValues {
  delta: Float32Array;
  score: Float32Array;
  fallbackDelta: Float32Array;
  fallbackScore: Float32Array;
}

const KEYS = ['delta', 'score', 'fallbackDelta', 'fallbackScore'] as const;

export class Checkpoints {
  /** Scores are −∞ until a checkpoint is seen; δ = 0 is no candidate. */
  private constructor(
    readonly delta: Variable,
    readonly score: Variable,
    readonly fallbackDelta: Variable,
    readonly fallbackScore: Variable,
  ) {}

  /** For δ of `shape` ([N|1, P, d]): one candidate per budget group. */
  static create(shape: [number, number, number]): Checkpoints {
    const zeros = () => tf.tidy(() => tf.variable(tf.zeros(shape), false));
    const none = () => tf.tidy(() => tf.variable(tf.fill([shape[0]], Number.NEGATIVE_INFINITY), false));
    return new Checkpoints(zeros(), none(), zeros(), none());
  }

  /** Look at the current δ: keep it where it beats the admissible best, or the fallback best. */
  update(site: RecoverySite, options: RecoveryOptions, current: Variable): void {
    const tau = options.checkpointMaxRelDrift!;
    const next = tf.tidy(() => {
      const full = fullDelta(site, current);
      const b = site.behaviourAt(full);
      const dz = tf.sub(site.defendedActs(full), site.zDef);
      const zNorm = tf.sqrt(tf.sum(tf.square(site.zDef), [1, 2]));
      const rel = tf.div(tf.sqrt(tf.sum(tf.square(dz), [1, 2])), tf.add(zNorm, 1e-8));
      const shared = options.delta === 'shared';
      const score: Tensor = shared ? tf.reshape(tf.mean(b), [1]) : b;
      const drift: Tensor = shared ? tf.reshape(tf.mean(rel), [1]) : rel;
      const fallback = tf.sub(score, tf.mul(options.checkpointFallbackWeight, drift));
      const keep = (better: Tensor, cur: Variable) => tf.where(tf.broadcastTo(tf.reshape(better, [-1, 1, 1]), cur.shape), current, cur);
      const better = tf.logicalAnd(tf.lessEqual(drift, tau), tf.greater(score, this.score));
      const betterFallback = tf.greater(fallback, this.fallbackScore);
      return {
        delta: keep(better, this.delta),
        score: tf.where(better, score, this.score),
        fallbackDelta: keep(betterFallback, this.fallbackDelta),
        fallbackScore: tf.where(betterFallback, fallback, this.fallbackScore),
      };
    });
    for (const k of KEYS) this[k].assign(next[k]);
    tf.dispose(Object.values(next));
  }

  /**
   * Per budget group the best admissible checkpoint, else the best fallback, else (before the first checkpoint)
   * the current δ. Caller disposes.
   */
  reported(current: Variable): Tensor {
    return tf.tidy(() => {
      const pick = (has: Tensor, a: Tensor, b: Tensor) => tf.where(tf.broadcastTo(tf.reshape(has, [-1, 1, 1]), a.shape), a, b);
      const finite = (x: Tensor) => tf.greater(x, Number.NEGATIVE_INFINITY);
      return pick(finite(this.score), this.delta, pick(finite(this.fallbackScore), this.fallbackDelta, current));
    });
  }

  async values(): Promise<CheckpointValues> {
    const [delta, score, fallbackDelta, fallbackScore] = (await Promise.all(KEYS.map((k) => this[k].data()))) as Float32Array[];
    return { delta, score, fallbackDelta, fallbackScore };
  }

  /** Restore saved values (δ of `shape`); call inside a tf.tidy. */
  restore(values: CheckpointValues, shape: number[]): void {
    this.delta.assign(tf.tensor(values.delta, shape));
    this.score.assign(tf.tensor1d(values.score));
    this.fallbackDelta.assign(tf.tensor(values.fallbackDelta, shape));
    this.fallbackScore.assign(tf.tensor1d(values.fallbackScore));
  }

  dispose(): void {
    tf.dispose(KEYS.map((k) => this[k]));
  }
}
