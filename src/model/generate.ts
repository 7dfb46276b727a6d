// Next-token distributions and greedy generation over any LanguageModel: what the refusal experiments read
// (does the model, clamped and perturbed, still refuse?) and what the next-token view shows. Both read the logits
// at one position per row only (a 256,000-token vocabulary at every position would be gigabytes).
import { tf, type Tensor2D, type Tensor3D } from '../core/tf.ts';
import { ModelInputError } from './errors.ts';
import type { HookFn, LanguageModel } from './types.ts';

/** Log-probabilities of the next token after position at[b] of each row b of right-padded ids: [B, V]. */
export function nextTokenLogProbs(model: LanguageModel, ids: number[][], at: readonly number[], hooks?: Record<string, HookFn>): Tensor2D {
  return tf.tidy(() => {
    const logits = model.forward(ids, { hooks, logitsAt: at }) as Tensor3D;
    return tf.logSoftmax(tf.reshape(logits, [ids.length, -1]), -1) as Tensor2D;
  });
}

export interface GreedyOptions {
  /** New tokens per prompt at most. */
  maxNew: number;
  /** The id right-padding fills with (any id: padded keys are masked out). */
  padId: number;
  /** A prompt stops after emitting a token for which this is true (e.g. an end-of-turn token). */
  stop?: (id: number) => boolean;
  /**
   * Hooks for one forward pass over the still-running prompts: `rows` are their indices into the prompts, `T` the
   * padded length of this pass (each row's real length is its prompt plus what it has generated so far).
   */
  hooks?: (rows: readonly number[], T: number) => Record<string, HookFn>;
}

/**
 * Greedy continuation of each prompt: at every step the still-running prompts are run as one right-padded batch
 * and each takes its most probable next token. Stops at maxNew, at a stop token, or at the model's context.
 */
export async function greedy(model: LanguageModel, prompts: readonly number[][], o: GreedyOptions): Promise<number[][]> {
  if (!Number.isInteger(o.maxNew) || o.maxNew < 0) throw new ModelInputError(`maxNew must be a whole number ≥ 0, got ${o.maxNew}`);
  const out: number[][] = prompts.map(() => []);
  const seqs = prompts.map((p) => [...p]);
  for (let step = 0; step < o.maxNew; step++) {
    const rows = seqs.map((_, i) => i).filter((i) => !(out[i].length && o.stop?.(out[i][out[i].length - 1])));
    if (!rows.length) break;
    const T = Math.max(...rows.map((i) => seqs[i].length));
    if (T >= model.config.nCtx) break;
    const ids = rows.map((i) => [...seqs[i], ...Array(T - seqs[i].length).fill(o.padId)]);
    const next = tf.tidy(() => {
      const logits = model.forward(ids, { hooks: o.hooks?.(rows, T), logitsAt: rows.map((i) => seqs[i].length - 1) });
      return tf.argMax(tf.reshape(logits, [rows.length, -1]), 1);
    });
    const chosen = await next.data();
    next.dispose();
    rows.forEach((i, b) => {
      seqs[i].push(chosen[b]);
      out[i].push(chosen[b]);
    });
  }
  return out;
}
