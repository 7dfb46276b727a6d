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
import { processLnWeights } from '../../ln-processing.ts';
import { GptNeox } from './model.ts';

/** A new model with TransformerLens's default processing applied; the original is left as it is (the caller disposes it). */
export function processWeights(model: GptNeox): GptNeox {
  // Its blocks are LnBlocks already (W_qkv, b_qkv); it has no other writing weights (rotary, no W_pos).
  const { writers: _, ...w } = processLnWeights(
    model.weights,
    model.config.dModel,
    (b) => b,
    (b) => b,
  );
  return new GptNeox(model.config, w);
}
