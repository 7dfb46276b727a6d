// The next-token view: for one prompt, what the model would say next at its read-out position — the base model,
// the defended model (the clamp active, the SAE's error term kept) and the recovered model (the clamp active plus
// the run's δ) — each as the top-k tokens with probabilities, and B's own logit readout (e.g. logit[target] −
// logit[contrast]) read from the same logits. All three start from the residual at the hook: the defended and the
// recovered residuals are the recovery site's (core/site.ts), so the view shows what the run optimises, not a
// second construction of it.
import { InputError } from '../core/errors.ts';
import { tf, type Tensor3D } from '../core/tf.ts';
import type { RecoverySite } from '../core/site.ts';
import type { LoadedScenario, ScenarioLm } from './loaded.ts';

export class NextTokenInputError extends InputError {
  override name = 'NextTokenInputError';
}

/** More than this is a table nobody reads, and each token costs a read-back. */
export const MAX_TOP_K = 50;

export interface NextToken {
  id: number;
  /** The token as text (byte-level tokens decoded one at a time). */
  text: string;
  prob: number;
  logit: number;
}

export interface NextTokenColumn {
  /** Most probable first. */
  tokens: NextToken[];
  /** B's readout on these logits (Σ weight · logit over its terms); null when B is not a logit readout. */
  readout: number | null;
  /**
   * B's tokens as this model sees them, in the order of the view's `terms` (null with them): wherever they rank,
   * so a target pushed out of the top k still shows. rank 1 is the most probable token.
   */
  terms: (NextToken & { rank: number })[] | null;
}

export interface NextTokenView {
  sample: number;
  /** The token position whose next token is predicted: B's read-out position, else the prompt's last token. */
  position: number;
  /** The prompt's tokens up to and including `position`. */
  prompt: string[];
  /** B's terms for this prompt (e.g. +1 on the target, −1 on the contrast); null when B is not a logit readout. */
  terms: { id: number; text: string; weight: number }[] | null;
  base: NextTokenColumn;
  defended: NextTokenColumn;
  recovered: NextTokenColumn;
  /** The run step whose δ the recovered column adds; null before any run (δ = 0). */
  step: number | null;
}

/** The scenario's language model, or an input error saying why this scenario has none. */
export function requireLanguageModel(sc: LoadedScenario): ScenarioLm {
  if (!sc.lm) {
    throw new NextTokenInputError(
      `the next-token view needs a language model, and "${sc.title}" reads activations without one (no tokens to predict)`,
    );
  }
  return sc.lm;
}

/**
 * The view for one sample. `delta` is δ [N, P, d] as the site takes it, from the run at `step` (zeros and null
 * before any run: the recovered column then equals the defended one).
 */
export async function nextTokenView(
  sc: LoadedScenario,
  site: RecoverySite,
  { delta, step }: { delta: Tensor3D; step: number | null },
  sample: number,
  topK: number,
): Promise<NextTokenView> {
  const lm = requireLanguageModel(sc);
  const [n, t, d] = sc.h.shape;
  if (!Number.isInteger(sample) || sample < 0 || sample >= n)
    throw new NextTokenInputError(`prompt ${sample} does not exist: this scenario has prompts 0..${n - 1}`);
  const { vocabSize } = lm.model.config;
  const maxK = Math.min(MAX_TOP_K, vocabSize);
  if (!Number.isInteger(topK) || topK < 1 || topK > maxK)
    throw new NextTokenInputError(`top-k must be a whole number in 1..${maxK}, got ${topK}`);
  const position = lm.readout?.at[sample] ?? lastRealToken(sc.mask, sample, t);
  const row = lm.readout?.terms[sample] ?? null;
  const termIds = row ? row.map(([id]) => id) : [];
  // Causal attention: the logits at `position` depend on nothing after it, so the rows are cut there.
  const [top, topIdx, logZ, termLogits, termRanks] = tf.tidy(() => {
    const upTo = (x: Tensor3D) => tf.slice(x, [sample, 0, 0], [1, position + 1, d]);
    const x = tf.concat([upTo(sc.h), upTo(site.hDef), upTo(site.hRec(delta))], 0) as Tensor3D;
    const logits = tf.reshape(lm.model.forwardFrom(lm.hook, x, { logitsAt: [position, position, position] }), [3, vocabSize]);
    const best = tf.topk(logits, topK);
    const terms = termIds.length ? tf.gather(logits, tf.tensor1d(termIds, 'int32'), 1) : tf.zeros([3, 0]);
    // How many tokens each term's token trails: [3, C, V] comparisons, C is 2 for a logit difference.
    const above = tf.sum(tf.cast(tf.greater(tf.expandDims(logits, 1), tf.expandDims(terms, 2)), 'int32'), 2);
    return [best.values, best.indices, tf.logSumExp(logits, 1), terms, above];
  });
  try {
    const [values, indices, z, picked, trailing] = await Promise.all([
      top.data(),
      topIdx.data(),
      logZ.data(),
      termLogits.data(),
      termRanks.data(),
    ]);
    const text = (id: number) => lm.tokenizer.tokenStrings([id])[0];
    const column = (m: number): NextTokenColumn => ({
      tokens: Array.from({ length: topK }, (_, k) => {
        const logit = values[m * topK + k];
        const id = indices[m * topK + k];
        return { id, text: text(id), logit, prob: Math.exp(logit - z[m]) };
      }),
      readout: row ? row.reduce((s, [, w], c) => s + w * picked[m * row.length + c], 0) : null,
      terms: row
        ? row.map(([id], c) => {
            const logit = picked[m * row.length + c];
            return { id, text: text(id), logit, prob: Math.exp(logit - z[m]), rank: trailing[m * row.length + c] + 1 };
          })
        : null,
    });
    return {
      sample,
      position,
      prompt: (sc.samples[sample]?.tokens ?? []).slice(0, position + 1),
      terms: row ? row.map(([id, weight]) => ({ id, text: text(id), weight })) : null,
      base: column(0),
      defended: column(1),
      recovered: column(2),
      step,
    };
  } finally {
    tf.dispose([top, topIdx, logZ, termLogits, termRanks]);
  }
}

function lastRealToken(mask: Float32Array, sample: number, t: number): number {
  for (let j = t - 1; j >= 0; j--) if (mask[sample * t + j]) return j;
  return t - 1;
}
