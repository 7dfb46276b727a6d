// TransformerLens's default weight processing for Gemma-2 (what Gemma Scope's and SAELens's Gemma SAEs were trained
// on): fold_ln with RMSNorm, and nothing else.
//  - Each pre-norm's scale (1 + w) goes into the weights that read its output: input_layernorm's into W_Q, W_K, W_V
//    (the fused W_qkv), pre_feedforward_layernorm's into W_gate and W_up; those norms are left a bare
//    x / √(mean(x²) + ε), so ln1/ln2.hook_normalized become the unscaled normalisation.
//  - No centring: RMSNorm does not remove the mean, so the residual stream's mean direction is not inert, and
//    TransformerLens does not centre Gemma's weights.
//  - The post-attention and post-feedforward norms write to the residual stream and keep their scales.
//  - The final norm keeps its scale: TransformerLens folds it into W_U, but here W_U is the tied 256,000-row
//    embedding, and a folded copy would double the largest tensor for logits equal in exact arithmetic.
// Every residual hook, attention pattern and logit equals the unprocessed model's to float rounding (tests check).
import { tf, type Tensor, type Tensor1D, type Tensor2D } from '../../../core/tf.ts';
import { Gemma2, type Gemma2BlockWeights, type Gemma2Weights } from './model.ts';

/** diag(scale) · W: the rows of W [d, k] that read a normalised input, times the norm's scale. */
const foldScale = (scale: Tensor1D | null, W: Tensor2D): Tensor2D =>
  scale ? (tf.mul(tf.reshape(scale, [-1, 1]), W) as Tensor2D) : tf.clone(W);

/**
 * A new model with TransformerLens's processing applied; the original is left as it is. The weights processing
 * leaves unchanged (the embedding, W_O, W_down, the post norms, the final norm) are shared with the original through
 * tf.clone (same data, counted references: no copy), so each model may be disposed on its own.
 */
export function processWeights(model: Gemma2): Gemma2 {
  const w = model.weights;
  const share = <T extends Tensor>(t: T): T => tf.clone(t);
  const weights = tf.tidy(() => {
    const blocks: Gemma2BlockWeights[] = w.blocks.map((b) => ({
      ln1: null,
      W_qkv: foldScale(b.ln1, b.W_qkv),
      W_O: share(b.W_O),
      lnPostAttn: share(b.lnPostAttn),
      ln2: null,
      W_gateUp: foldScale(b.ln2, b.W_gateUp),
      W_down: share(b.W_down),
      lnPostMlp: share(b.lnPostMlp),
    }));
    return {
      W_E: share(w.W_E),
      blocks,
      lnFinal: share(w.lnFinal),
      ...(w.W_U ? { W_U: share(w.W_U) } : {}),
    } satisfies Gemma2Weights as unknown as tf.TensorContainer;
  }) as unknown as Gemma2Weights;
  return new Gemma2(model.config, weights);
}
