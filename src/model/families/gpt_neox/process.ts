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
import { GptNeox, type GptNeoxBlockWeights, type GptNeoxWeights } from './model.ts';

/** Subtract the mean over `axis`. */
const center = <T extends Tensor>(x: T, axis: number): T => tf.sub(x, tf.mean(x, axis, true)) as T;

/** W [d, k] read after LayerNorm(w, b): (diag(w)·W centred over d, b·W + bias). */
function foldLn(W: Tensor2D, bias: Tensor1D | null, lnW: Tensor1D, lnB: Tensor1D): { W: Tensor2D; b: Tensor1D } {
  const folded = tf.mul(tf.reshape(lnW, [-1, 1]), W) as Tensor2D;
  const shift = tf.reshape(tf.matMul(tf.reshape(lnB, [1, -1]), W), [-1]) as Tensor1D;
  return { W: center(folded, 0), b: (bias ? tf.add(bias, shift) : shift) as Tensor1D };
}

/** A new model with TransformerLens's default processing applied; the original is left as it is. */
export function processWeights(model: GptNeox): GptNeox {
  const { dModel: d } = model.config;
  const w = model.weights;
  const weights = tf.tidy(() => {
    const blocks: GptNeoxBlockWeights[] = w.blocks.map((b) => {
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
      };
    });
    const W_U = w.W_U ?? (tf.transpose(w.W_E) as Tensor2D);
    const unembed = foldLn(W_U, w.b_U ?? null, w.lnf_w, w.lnf_b);
    return {
      W_E: center(w.W_E, 1),
      blocks,
      lnf_w: tf.ones([d]) as Tensor1D,
      lnf_b: tf.zeros([d]) as Tensor1D,
      W_U: center(unembed.W, 1),
      b_U: center(unembed.b, 0),
    } satisfies GptNeoxWeights as unknown as tf.TensorContainer;
  }) as unknown as GptNeoxWeights;
  return new GptNeox(model.config, weights);
}
