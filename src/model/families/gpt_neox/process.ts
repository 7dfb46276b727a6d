// TransformerLens's default weight processing for GPT-NeoX (HookedTransformer.from_pretrained on a Pythia model:
// fold_ln, center_writing_weights, center_unembed, fold_value_biases), because SAELens's Pythia SAEs were trained
// on the activations of the processed model. As for GPT-2 (../gpt2/process.ts), none of it changes the next-token
// distribution:
//  - fold_ln: each LayerNorm's scale and shift go into the weights that read its output (input_layernorm into
//    W_Q/K/V, post_attention_layernorm into W_in, final_layer_norm into W_U, and their biases), leaving a bare
//    normalisation; those weights are then centred over d_model. With a parallel residual both LayerNorms read the
//    same x, but each is folded into its own readers, exactly as in a sequential block.
//  - center_writing_weights: embed_in, W_O, W_out and b_O, b_out lose their mean over d_model (there is no position
//    embedding: rotary), so every residual hook is the unprocessed one minus its per-token mean.
//  - center_unembed: W_U and b_U lose their mean over the vocabulary (logits shift by a constant per position).
//  - fold_value_biases: b_V goes into b_O (b_O += b_V · W_O; attention patterns sum to 1), b_V = 0.
// Rotary acts on q and k after their biases, which fold_ln changes only by LayerNorm's shift: the same q and k.
import { tf, type Tensor, type Tensor1D, type Tensor2D } from '../../../core/tf.ts';
import { GptNeox, type GptNeoxBlockWeights } from './model.ts';

/** Subtract the mean over `axis`. */
const center = <T extends Tensor>(x: T, axis: number): T => tf.sub(x, tf.mean(x, axis, true)) as T;

/** W [d, k] read after LayerNorm(w, b): (diag(w)·W centred over d, b·W + bias). */
function foldLn(W: Tensor2D, bias: Tensor1D | null, lnW: Tensor1D, lnB: Tensor1D): { W: Tensor2D; b: Tensor1D } {
  const folded = tf.mul(tf.reshape(lnW, [-1, 1]), W) as Tensor2D;
  const shift = tf.reshape(tf.matMul(tf.reshape(lnB, [1, -1]), W), [-1]) as Tensor1D;
  return { W: center(folded, 0), b: (bias ? tf.add(bias, shift) : shift) as Tensor1D };
}

/**
 * A new model with TransformerLens's default processing applied; the original is left as it is (the caller disposes
 * it). One block at a time, each in its own scope, and the unembedding one step at a time, each intermediate freed
 * before the next (as ../gpt2/process.ts does).
 */
export function processWeights(model: GptNeox): GptNeox {
  const { dModel: d } = model.config;
  const w = model.weights;
  const made: Tensor[] = [];
  // tf.tidy keeps what the callback returns; its type only admits plain containers, hence the casts.
  const keep = <T extends tf.TensorContainer>(f: () => T): T => {
    const out = tf.tidy(f);
    made.push(...tensorsOf(out));
    return out;
  };
  try {
    const blocks: GptNeoxBlockWeights[] = w.blocks.map(
      (b) =>
        keep(() => {
          const attn = foldLn(b.W_qkv, b.b_qkv, b.ln1_w, b.ln1_b);
          const mlp = foldLn(b.W_in, b.b_in, b.ln2_w, b.ln2_b);
          const W_O = center(b.W_O, 1);
          // fold_value_biases on the centred W_O: b_O += b_V · W_O, then b_V = 0 (v is the last block of q | k | v).
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
          } satisfies GptNeoxBlockWeights as unknown as tf.TensorContainer;
        }) as unknown as GptNeoxBlockWeights,
    );
    // The unembedding: foldLn(W_U, b_U, final_layer_norm) then centred over the vocabulary, as foldLn and center
    // compute it, with each [d, V] intermediate disposed as soon as the next exists.
    const W_Ut = w.W_U ?? keep(() => tf.transpose(w.W_E) as Tensor2D);
    const b_U = keep(() => {
      const shift = tf.reshape(tf.matMul(tf.reshape(w.lnf_b, [1, -1]), W_Ut), [-1]) as Tensor1D;
      return center(w.b_U ? tf.add(w.b_U, shift) : shift, 0) as Tensor1D;
    });
    const step = (prev: Tensor2D, f: () => Tensor2D, owned: boolean): Tensor2D => {
      const next = keep(f);
      if (owned) release(made, prev);
      return next;
    };
    const folded = step(W_Ut, () => tf.mul(tf.reshape(w.lnf_w, [-1, 1]), W_Ut) as Tensor2D, W_Ut !== w.W_U);
    const centred0 = step(folded, () => center(folded, 0), true);
    const W_U = step(centred0, () => center(centred0, 1), true);
    const W_E = keep(() => center(w.W_E, 1));
    const lnf_w = keep(() => tf.ones([d]) as Tensor1D);
    const lnf_b = keep(() => tf.zeros([d]) as Tensor1D);
    return new GptNeox(model.config, { W_E, blocks, lnf_w, lnf_b, W_U, b_U });
  } catch (e) {
    tf.dispose(made);
    throw e;
  }
}

/** The tensors of a result of tf.tidy (a tensor, or an object of tensors). */
function tensorsOf(x: tf.TensorContainer): Tensor[] {
  if (x instanceof tf.Tensor) return [x];
  return Object.values(x as Record<string, Tensor>).filter((t) => t instanceof tf.Tensor);
}

/** Dispose a temporary and forget it. */
function release(made: Tensor[], t: Tensor): void {
  made.splice(made.indexOf(t), 1);
  t.dispose();
}
