// TransformerLens's default weight processing for LayerNorm models with a fused q | k | v projection (GPT-2,
// GPT-NeoX): fold_ln, center_writing_weights, center_unembed, fold_value_biases. What each step does and why it
// leaves the next-token distribution unchanged is written where each family calls it (families/*/process.ts).
// Memory: one block at a time, each in its own tf.tidy scope, and the unembedding one step at a time with each
// [d, V] intermediate freed as soon as the next exists; besides the original and the result, at most one block's
// temporaries, or two [d, V] matrices, exist at once (one tidy over everything held every intermediate to the end).
import { tf, type Tensor, type Tensor1D, type Tensor2D } from '../core/tf.ts';
import type { LnUnembedWeights } from './transformer.ts';

/** A LayerNorm block's weights, q | k | v fused in W_qkv [d, 3d] (columns q, then k, then v). */
export interface LnBlock {
  ln1_w: Tensor1D;
  ln1_b: Tensor1D;
  W_qkv: Tensor2D;
  b_qkv: Tensor1D;
  W_O: Tensor2D;
  b_O: Tensor1D;
  ln2_w: Tensor1D;
  ln2_b: Tensor1D;
  W_in: Tensor2D;
  b_in: Tensor1D;
  W_out: Tensor2D;
  b_out: Tensor1D;
}

/** Subtract the mean over `axis`. */
export const center = <T extends Tensor>(x: T, axis: number): T => tf.sub(x, tf.mean(x, axis, true)) as T;

/** W [d, k] read after LayerNorm(w, b): (diag(w)·W centred over d, b·W + bias). */
function foldLn(W: Tensor2D, bias: Tensor1D | null, lnW: Tensor1D, lnB: Tensor1D): { W: Tensor2D; b: Tensor1D } {
  const folded = tf.mul(tf.reshape(lnW, [-1, 1]), W) as Tensor2D;
  const shift = tf.reshape(tf.matMul(tf.reshape(lnB, [1, -1]), W), [-1]) as Tensor1D;
  return { W: center(folded, 0), b: (bias ? tf.add(bias, shift) : shift) as Tensor1D };
}

/** One block processed: pre-norms folded into their readers, writers centred, b_V folded into b_O. */
function processBlock(b: LnBlock, d: number): LnBlock {
  const attn = foldLn(b.W_qkv, b.b_qkv, b.ln1_w, b.ln1_b);
  const mlp = foldLn(b.W_in, b.b_in, b.ln2_w, b.ln2_b);
  const W_O = center(b.W_O, 1);
  // fold_value_biases on the centred W_O: b_O += b_V · W_O, then b_V = 0.
  const bV = tf.slice(attn.b, [2 * d], [d]);
  const b_O = tf.add(center(b.b_O, 0), tf.reshape(tf.matMul(tf.reshape(bV, [1, d]), W_O), [d])) as Tensor1D;
  return {
    ln1_w: tf.ones([d]) as Tensor1D,
    ln1_b: tf.zeros([d]) as Tensor1D,
    W_qkv: attn.W,
    b_qkv: tf.concat([tf.slice(attn.b, [0], [2 * d]), tf.zeros([d])]) as Tensor1D,
    W_O,
    b_O,
    ln2_w: tf.ones([d]) as Tensor1D,
    ln2_b: tf.zeros([d]) as Tensor1D,
    W_in: mlp.W,
    b_in: mlp.b,
    W_out: center(b.W_out, 1),
    b_out: center(b.b_out, 0),
  };
}

/** The processed weights: the blocks, the embedding and any other writing weights centred, the unembedding folded. */
export interface LnProcessed<B> extends Required<LnUnembedWeights> {
  blocks: B[];
  /** The extra writing weights (GPT-2's W_pos), centred over d_model. */
  writers: Record<string, Tensor2D>;
}

/**
 * Process a LayerNorm model's weights: `toLn`/`fromLn` map a family's block to LnBlock and back; `writers` are
 * further weights that write to the residual (centred over d_model). New tensors; the original stays as it is.
 */
export function processLnWeights<B>(
  w: LnUnembedWeights & { blocks: readonly B[] },
  d: number,
  toLn: (b: B) => LnBlock,
  fromLn: (b: LnBlock) => B,
  writers: Record<string, Tensor2D> = {},
): LnProcessed<B> {
  const made: Tensor[] = [];
  // tf.tidy keeps what the callback returns; its type only admits plain containers, hence the casts.
  const keep = <T extends tf.TensorContainer>(f: () => T): T => {
    const out = tf.tidy(f);
    made.push(...(out instanceof tf.Tensor ? [out] : Object.values(out as Record<string, Tensor>)));
    return out;
  };
  const release = (t: Tensor) => {
    made.splice(made.indexOf(t), 1);
    t.dispose();
  };
  try {
    const blocks = w.blocks.map((b) => fromLn(keep(() => processBlock(toLn(b), d) as unknown as tf.NamedTensorMap) as unknown as LnBlock));
    // The unembedding: foldLn(W_U, b_U, ln_final) then centred over the vocabulary, with each [d, V] intermediate
    // disposed as soon as the next exists.
    const W_Ut = w.W_U ?? keep(() => tf.transpose(w.W_E) as Tensor2D);
    const b_U = keep(() => {
      const shift = tf.reshape(tf.matMul(tf.reshape(w.lnf_b, [1, -1]), W_Ut), [-1]) as Tensor1D;
      return center(w.b_U ? tf.add(w.b_U, shift) : shift, 0) as Tensor1D;
    });
    const step = (prev: Tensor2D, f: () => Tensor2D, owned: boolean): Tensor2D => {
      const next = keep(f);
      if (owned) release(prev);
      return next;
    };
    const folded = step(W_Ut, () => tf.mul(tf.reshape(w.lnf_w, [-1, 1]), W_Ut) as Tensor2D, W_Ut !== w.W_U);
    const centred0 = step(folded, () => center(folded, 0), true);
    const W_U = step(centred0, () => center(centred0, 1), true);
    const W_E = keep(() => center(w.W_E, 1));
    const centredWriters = Object.fromEntries(Object.entries(writers).map(([k, t]) => [k, keep(() => center(t, 1))]));
    const lnf_w = keep(() => tf.ones([d]) as Tensor1D);
    const lnf_b = keep(() => tf.zeros([d]) as Tensor1D);
    return { blocks, W_E, lnf_w, lnf_b, W_U, b_U, writers: centredWriters };
  } catch (e) {
    tf.dispose(made);
    throw e;
  }
}
