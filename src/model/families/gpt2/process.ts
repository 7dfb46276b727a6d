// TransformerLens's default weight processing (HookedTransformer.from_pretrained: fold_ln, center_writing_weights,
// center_unembed, fold_value_biases), because SAEs such as gpt2-small-res-jb were trained on the activations of
// the processed model. None of it changes the next-token distribution:
//  - fold_ln: each LayerNorm's scale and shift go into the weights that read its output (W_Q/K/V, W_in, W_U,
//    and their biases), leaving a bare normalisation; those reading weights are then centred over d_model
//    (their input has mean 0 after normalisation, so the mean direction contributes nothing).
//  - center_writing_weights: everything that writes to the residual (W_E, W_pos, W_O, W_out and b_O, b_out)
//    has its mean over d_model removed, so the residual stream has mean 0 over d_model at every hook. LayerNorm
//    removes the mean anyway.
//  - center_unembed: W_U and b_U lose their mean over the vocabulary (logits shift by a constant per position).
//  - fold_value_biases: b_V goes into b_O (b_O += b_V · W_O; attention patterns sum to 1), b_V = 0.
// Net effect on hooks: hook_resid_* = the unprocessed residual minus its mean over d_model; logits = the
// unprocessed logits minus their mean over the vocabulary (tests check both).
import { processLnWeights } from '../../ln-processing.ts';
import { GPT2 } from './model.ts';

/** A new model with TransformerLens's default processing applied; the original is left as it is (the caller disposes it). */
export function processWeights(model: GPT2): GPT2 {
  const w = model.weights;
  const p = processLnWeights(
    w,
    model.config.dModel,
    ({ W_attn, b_attn, ...b }) => ({ ...b, W_qkv: W_attn, b_qkv: b_attn }),
    ({ W_qkv, b_qkv, ...b }) => ({ ...b, W_attn: W_qkv, b_attn: b_qkv }),
    { W_pos: w.W_pos },
  );
  const { writers, ...rest } = p;
  return new GPT2(model.config, { ...rest, W_pos: writers.W_pos });
}
