// After loading a real model and an SAE: does the SAE read this model's activations the way it was trained to?
// L0, explained variance at the hook, and the model's next-token loss with the SAE's reconstruction spliced in
// against without — on the scenario's own prompts. A cfg read wrong (apply_b_dec_to_input, the normalisation,
// the hook, processed against unprocessed weights) shows as a poor explained variance or a large loss jump.
import { tf, type Tensor, type Tensor3D } from '../core/tf.ts';
import type { Sae } from '../core/sae.ts';
import { SAE_CHECK_CHUNK_BYTES, saeCheckChunkRows } from '../model/memory-plan.ts';
import type { LanguageModel } from '../model/types.ts';

export interface SaeCheck {
  /** Mean number of active features per real token. */
  l0: number;
  /** 1 − Σ‖h − ĥ‖² / Σ‖h − mean h‖² over real tokens. */
  explainedVariance: number;
  /**
   * Mean next-token cross-entropy (nats) over the prompts' real tokens, clean and with ĥ spliced in at the hook; null
   * when the run keeps only some tokens' unembedding rows (a cross-entropy needs every token's logit).
   */
  lossClean: number | null;
  lossSpliced: number | null;
  warnings: string[];
}

/** Thresholds beyond which a published SAE is almost certainly being read wrong. */
const MIN_EV = 0.5;
const MAX_LOSS_JUMP = 1.5;

/**
 * `ids` are right-padded [N][T] with `lengths` real tokens each; `h` the residual at the hook for them. The SAE's
 * encoding and the model's forwards run a chunk of prompts at a time, sized so that a chunk's largest tensor (its
 * [rows·T, d_sae] activations; its [rows·T, V] logits: 3 MB a token for GPT-2, 1 MB for Gemma-2's 256,000-token
 * vocabulary) stays under `chunkBytes` (saeCheckChunkRows); the forwards from the hook on, since the layers before
 * it gave `h` already (and a large model may not keep them).
 */
export async function checkSae(
  model: LanguageModel,
  sae: Sae,
  hook: string,
  ids: number[][],
  lengths: number[],
  h: Tensor3D,
  chunkBytes = SAE_CHECK_CHUNK_BYTES,
): Promise<SaeCheck> {
  const [n, t, d] = h.shape;
  const rowsFor = (width: number) => saeCheckChunkRows(t, width, chunkBytes);
  const mask = new Float32Array(n * t);
  lengths.forEach((l, i) => mask.fill(1, i * t, i * t + l));
  const tokens = lengths.reduce((a, l) => a + l, 0);
  // Pass 1: L0, the error energy, and Σh, Σ‖h‖² for the variance, at real tokens, a chunk of prompts at a time (z
  // encoded once per chunk), the chunks' sums added in float64: fewer float32 additions in a row than one sum over
  // every token (the variance is a difference of two such sums).
  let l0Sum = 0;
  let errSum = 0;
  let hSqSum = 0;
  const hSum = new Float64Array(d);
  const encodeRows = rowsFor(sae.dSae);
  for (let s = 0; s < n; s += encodeRows) {
    const rows = Math.min(encodeRows, n - s);
    const sums = tf.tidy(() => {
      const hc = tf.slice(h, [s, 0, 0], [rows, t, d]);
      const m = tf.reshape(tf.tensor2d(mask.subarray(s * t, (s + rows) * t), [rows, t]), [rows, t, 1]);
      const z = sae.encode(hc);
      const err = tf.mul(tf.sub(hc, sae.decodeFor(z, hc)), m);
      const scalars = tf.stack([tf.sum(tf.mul(tf.step(z), m)), tf.sum(tf.square(err)), tf.sum(tf.mul(tf.square(hc), m))]);
      return [scalars, tf.sum(tf.mul(hc, m), [0, 1])];
    });
    const [[l0, e, sq], hs] = await Promise.all(sums.map((x) => x.data()));
    tf.dispose(sums);
    l0Sum += l0;
    errSum += e;
    hSqSum += sq;
    hs.forEach((v, j) => {
      hSum[j] += v;
    });
  }
  const l0 = l0Sum / tokens;
  const variance = hSqSum - hSum.reduce((a, v) => a + v * v, 0) / tokens;
  const explainedVariance = 1 - errSum / variance;
  if (model.wholeVocabulary === false) {
    return {
      l0,
      explainedVariance,
      lossClean: null,
      lossSpliced: null,
      warnings: [...qualityWarnings(sae, l0, explainedVariance, null, null), LOSS_SKIPPED],
    };
  }
  // Pass 2: next-token loss over positions 0..len−2 of each prompt, clean and spliced, one forward per scope.
  const V = model.config.vocabSize;
  const chunk = rowsFor(V);
  let clean = 0;
  let spliced = 0;
  let count = 0;
  for (let s = 0; s < n; s += chunk) {
    const rows = ids.slice(s, s + chunk);
    const lens = lengths.slice(s, s + chunk);
    const targets: number[] = [];
    const where: number[] = [];
    rows.forEach((r, i) => {
      for (let p = 0; p + 1 < lens[i]; p++) {
        where.push(i * t + p);
        targets.push(r[p + 1]);
      }
    });
    if (!where.length) continue;
    // −Σ log p(target) over the chunk's positions: each target's log-probability gathered by its flat index (a
    // one-hot mask would be [tokens, V]: 300 MB at Gemma's V).
    const nll = (logits: Tensor3D): Tensor => {
      const flat = tf.reshape(logits, [rows.length * t, -1]);
      const picked = tf.gather(tf.logSoftmax(flat, -1), tf.tensor1d(where, 'int32'));
      const flatIndex = tf.tensor1d(
        targets.map((id, k) => k * V + id),
        'int32',
      );
      return tf.neg(tf.sum(tf.gather(tf.reshape(picked, [-1]), flatIndex)));
    };
    const hc = tf.slice(h, [s, 0, 0], [rows.length, t, d]) as Tensor3D;
    try {
      const a = tf.tidy(() => nll(model.forwardFrom(hook, hc)));
      const b = tf.tidy(() => nll(model.forwardFrom(hook, sae.reconstruct(hc) as Tensor3D)));
      const [ca, sb] = await Promise.all([a.data(), b.data()]);
      tf.dispose([a, b]);
      clean += ca[0];
      spliced += sb[0];
    } finally {
      hc.dispose();
    }
    count += where.length;
  }
  const lossClean = count ? clean / count : Number.NaN;
  const lossSpliced = count ? spliced / count : Number.NaN;
  return { l0, explainedVariance, lossClean, lossSpliced, warnings: qualityWarnings(sae, l0, explainedVariance, lossClean, lossSpliced) };
}

const LOSS_SKIPPED =
  "the next-token loss with the SAE spliced in is not computed: this run keeps only the prompts' and the read-out's token rows of the unembedding";

/** What in these figures says the SAE is being read wrong. */
function qualityWarnings(sae: Sae, l0: number, explainedVariance: number, lossClean: number | null, lossSpliced: number | null): string[] {
  const warnings: string[] = [];
  if (!(explainedVariance >= MIN_EV))
    warnings.push(
      `explained variance ${explainedVariance.toFixed(3)} is below ${MIN_EV}: the SAE probably does not match these activations (its hook, apply_b_dec_to_input, normalize_activations, or processed against unprocessed weights)`,
    );
  if (lossClean !== null && lossSpliced !== null && lossSpliced - lossClean > MAX_LOSS_JUMP)
    warnings.push(
      `splicing the SAE in raises the next-token loss by ${(lossSpliced - lossClean).toFixed(2)} nats (more than ${MAX_LOSS_JUMP}): check the cfg`,
    );
  if (l0 > sae.dSae / 2)
    warnings.push(`mean L0 ${l0.toFixed(0)} is over half the dictionary: the encoder's threshold or bias was probably read wrong`);
  return warnings;
}
