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
//  - With 16-bit weights (weights16.ts) nothing is folded: a folded weight is no longer a 16-bit value, and the norms'
//    scales multiplying at run time give the same activations (only ln1/ln2.hook_normalized keep their scale).
import { tf, type Tensor, type Tensor1D } from '../../../core/tf.ts';
import { Weight16 } from '../../weights16.ts';
import { Gemma2, type Gemma2BlockWeights, type Gemma2Weights, type Matrix } from './model.ts';

/** diag(scale) · W: the rows of W [d, k] that read a normalised input, times the norm's scale. */
const foldScale = (scale: Tensor1D, W: Matrix): Matrix => tf.mul(tf.reshape(scale, [-1, 1]), W as Tensor) as Matrix;

const foldable = (b: Gemma2BlockWeights) => !(b.W_qkv instanceof Weight16 || b.W_gateUp instanceof Weight16);

/**
 * A block with its pre-norms folded: the folded matrices are new; the others are `b`'s own, or with `share` clones
 * of them (the same data, counted references). Unshared, what the fold replaced is freed.
 */
export function processBlock(b: Gemma2BlockWeights, share = false): Gemma2BlockWeights {
  if (!foldable(b)) return share ? { ...b } : b;
  const keep = <T extends Matrix | Tensor1D | null>(t: T): T => (share && t instanceof tf.Tensor ? (tf.clone(t) as T) : t);
  const folded: Gemma2BlockWeights = {
    ln1: null,
    W_qkv: b.ln1 ? (tf.tidy(() => foldScale(b.ln1 as Tensor1D, b.W_qkv) as Tensor) as Matrix) : keep(b.W_qkv),
    W_O: keep(b.W_O),
    lnPostAttn: keep(b.lnPostAttn),
    ln2: null,
    W_gateUp: b.ln2 ? (tf.tidy(() => foldScale(b.ln2 as Tensor1D, b.W_gateUp) as Tensor) as Matrix) : keep(b.W_gateUp),
    W_down: keep(b.W_down),
    lnPostMlp: keep(b.lnPostMlp),
  };
  if (!share) {
    if (b.ln1) tf.dispose([b.ln1, b.W_qkv as Tensor]);
    if (b.ln2) tf.dispose([b.ln2, b.W_gateUp as Tensor]);
  }
  return folded;
}

/**
 * A new model with TransformerLens's processing applied; the original is left as it is and shares with the new one
 * what processing leaves unchanged (tf.clone: counted references, no copy), so each may be disposed on its own.
 */
export function processWeights(model: Gemma2): Gemma2 {
  const w = model.weights;
  const embedding = w.embedding.share();
  const weights: Gemma2Weights = {
    embedding,
    blocks: w.blocks.map((b) => (b ? processBlock(b, true) : null)),
    lnFinal: tf.clone(w.lnFinal),
    unembedding: w.unembedding === w.embedding ? embedding : w.unembedding.share(),
  };
  return new Gemma2(model.config, weights);
}
