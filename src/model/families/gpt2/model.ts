// GPT-2 in TensorFlow.js, with TransformerLens' hook names.
//   x = W_E[ids] + W_pos[pos]                                  hook_embed, hook_pos_embed
//   for each block i:                                          blocks.i.hook_resid_pre
//     x = x + attn(ln1(x))                                     blocks.i.hook_resid_mid
//     x = x + mlp(ln2(x))                                      blocks.i.hook_resid_post
//   logits = ln_final(x) · W_Eᵀ                                (tied; W_U + b_U once processed)
// Hooks read (cache), replace or add to any activation; forwardFrom(hook, resid) starts mid-network so a
// recovery loop does not recompute the layers before the hook. Everything is differentiable w.r.t. the
// residual and the weights; with embedding 'onehot' also on backends without a gather gradient (wasm).
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D, type Tensor4D } from '../../../core/tf.ts';
import { ModelInputError } from '../../errors.ts';
import { allHookNames, applyHook, checkIds } from '../../hooks.ts';
import { attention, gelu, layerNorm, matMulFrozen } from '../../layers.ts';
import { LayerNormTransformer } from '../../transformer.ts';
import type { HookFn, PastKV, ResidPoint, RunOptions } from '../../types.ts';

export type { HookFn, PastKV, RunOptions };
export { gelu, matMulFrozen, ModelInputError };

export interface GPT2Config {
  nLayer: number;
  nHead: number;
  dModel: number;
  nCtx: number;
  vocabSize: number;
  lnEps: number;
}

export interface BlockWeights {
  ln1_w: Tensor1D;
  ln1_b: Tensor1D;
  /** Conv1D layout [d, 3d]: y = x·W + b, columns q | k | v. */
  W_attn: Tensor2D;
  b_attn: Tensor1D;
  W_O: Tensor2D; // [d, d]
  b_O: Tensor1D;
  ln2_w: Tensor1D;
  ln2_b: Tensor1D;
  W_in: Tensor2D; // [d, 4d]
  b_in: Tensor1D;
  W_out: Tensor2D; // [4d, d]
  b_out: Tensor1D;
}

export interface GPT2Weights {
  W_E: Tensor2D; // wte [V, d]
  W_pos: Tensor2D; // wpe [n_ctx, d]
  blocks: BlockWeights[];
  lnf_w: Tensor1D;
  lnf_b: Tensor1D;
  /**
   * An unembedding of its own, [d, V], and its bias [V] (TransformerLens-processed weights, model/process.ts);
   * absent, the model unembeds with W_Eᵀ and no bias, as GPT-2 does.
   */
  W_U?: Tensor2D;
  b_U?: Tensor1D;
}

const BLOCK_HOOKS = [
  'hook_resid_pre',
  'ln1.hook_normalized',
  'attn.hook_q',
  'attn.hook_k',
  'attn.hook_v',
  'attn.hook_attn_scores',
  'attn.hook_pattern',
  'attn.hook_z',
  'hook_attn_out',
  'hook_resid_mid',
  'ln2.hook_normalized',
  'mlp.hook_pre',
  'mlp.hook_post',
  'hook_mlp_out',
  'hook_resid_post',
];

/** Every hook point of an n-layer model, in the order the forward pass reaches them. */
export function hookNames(nLayer: number): string[] {
  return allHookNames(nLayer, ['hook_embed', 'hook_pos_embed'], BLOCK_HOOKS, ['ln_final.hook_normalized']);
}

export class GPT2 extends LayerNormTransformer<GPT2Config> {
  readonly family = 'gpt2';
  readonly kvHooks = { k: 'attn.hook_k', v: 'attn.hook_v' };

  constructor(
    config: GPT2Config,
    readonly weights: GPT2Weights,
  ) {
    super(config);
  }

  /** All hook point names, in forward order. */
  hookNames(): string[] {
    return hookNames(this.config.nLayer);
  }

  /** Token + position embeddings: blocks.0.hook_resid_pre. ids are [B][T] (right-padded when ragged). */
  embed(ids: number[][], opts: RunOptions = {}): Tensor3D {
    const { vocabSize, nCtx } = this.config;
    const { B, T } = checkIds(ids, vocabSize, nCtx);
    const flat = tf.tensor1d(ids.flat(), 'int32');
    const tok =
      opts.embedding === 'onehot' ? tf.matMul(tf.oneHot(flat, vocabSize).toFloat(), this.weights.W_E) : tf.gather(this.weights.W_E, flat);
    const embed = applyHook('hook_embed', tf.reshape(tok, [B, T, -1]), opts);
    const pos = applyHook(
      'hook_pos_embed',
      tf.broadcastTo(tf.slice(this.weights.W_pos, [0, 0], [T, -1]), [B, T, this.config.dModel]),
      opts,
    );
    return tf.add(embed, pos) as Tensor3D;
  }

  private attention(i: number, x: Tensor3D, opts: RunOptions): Tensor3D {
    const { nHead, dModel } = this.config;
    const w = this.weights.blocks[i];
    const p = `blocks.${i}.attn.`;
    const [B, T] = x.shape;
    const dh = dModel / nHead;
    const qkv = this.linear(tf.reshape(x, [B * T, dModel]), w.W_attn, w.b_attn);
    // One split, whose gradient is one concat (three slices' would be three pads and two adds).
    const [qs, ks, vs] = tf.split(qkv, 3, 1).map((u) => tf.reshape(u, [B, T, nHead, dh]));
    const q = applyHook(`${p}hook_q`, qs, opts) as Tensor4D;
    const k = applyHook(`${p}hook_k`, ks, opts) as Tensor4D;
    const v = applyHook(`${p}hook_v`, vs, opts) as Tensor4D;
    const shape = { nHead, nKvHead: nHead, headDim: dh, scoreDivisor: Math.sqrt(dh) };
    const zs = attention(q, k, v, shape, opts.pastKV?.[i], opts.attentionMask, (name, t) => applyHook(`${p}${name}`, t, opts));
    const z = applyHook(`${p}hook_z`, zs, opts); // [B, T, H, dh]
    const out = this.linear(tf.reshape(z, [B * T, dModel]), w.W_O, w.b_O);
    return tf.reshape(out, [B, T, dModel]) as Tensor3D;
  }

  private mlp(i: number, x: Tensor3D, opts: RunOptions): Tensor3D {
    const { dModel } = this.config;
    const w = this.weights.blocks[i];
    const [B, T] = x.shape;
    const dMlp = w.W_in.shape[1];
    const pre = applyHook(
      `blocks.${i}.mlp.hook_pre`,
      tf.reshape(this.linear(tf.reshape(x, [B * T, dModel]), w.W_in, w.b_in), [B, T, dMlp]),
      opts,
    );
    const post = applyHook(`blocks.${i}.mlp.hook_post`, gelu(pre), opts);
    return tf.reshape(this.linear(tf.reshape(post, [B * T, dMlp]), w.W_out, w.b_out), [B, T, dModel]) as Tensor3D;
  }

  protected blockBody(i: number, x: Tensor3D, opts: RunOptions, from: ResidPoint, to: ResidPoint): Tensor3D {
    const { lnEps } = this.config;
    const w = this.weights.blocks[i];
    const p = `blocks.${i}.`;
    if (from === 'hook_resid_pre') {
      x = applyHook(`${p}hook_resid_pre`, x, opts) as Tensor3D;
      if (to === 'hook_resid_pre') return x;
      const normed = applyHook(`${p}ln1.hook_normalized`, layerNorm(x, w.ln1_w, w.ln1_b, lnEps), opts) as Tensor3D;
      const attnOut = applyHook(`${p}hook_attn_out`, this.attention(i, normed, opts), opts);
      x = tf.add(x, attnOut) as Tensor3D;
      from = 'hook_resid_mid';
    }
    if (from === 'hook_resid_mid') {
      x = applyHook(`${p}hook_resid_mid`, x, opts) as Tensor3D;
      if (to === 'hook_resid_mid') return x;
      const normed = applyHook(`${p}ln2.hook_normalized`, layerNorm(x, w.ln2_w, w.ln2_b, lnEps), opts) as Tensor3D;
      const mlpOut = applyHook(`${p}hook_mlp_out`, this.mlp(i, normed, opts), opts);
      x = tf.add(x, mlpOut) as Tensor3D;
    }
    return applyHook(`${p}hook_resid_post`, x, opts) as Tensor3D;
  }

  /** Every weight tensor, in a fixed order (for training and disposal). */
  parameters(): Tensor[] {
    const w = this.weights;
    return [w.W_E, w.W_pos, ...w.blocks.flatMap((b) => Object.values(b) as Tensor[]), w.lnf_w, w.lnf_b, ...this.unembedParameters()];
  }
}

/**
 * The same model with every weight a trainable tf.Variable (sharing data with the original until assigned), so
 * tf.variableGrads / optimizers can train it; model.parameters() lists them. Use embedding 'onehot' in the
 * differentiated forward on backends without a gather gradient (wasm). Dispose the copy's parameters when done.
 */
export function withTrainableWeights(model: GPT2): GPT2 {
  const v = <T extends Tensor>(t: T) => tf.variable(t, true) as unknown as T;
  const w = model.weights;
  const blocks = w.blocks.map((b) => Object.fromEntries(Object.entries(b).map(([k, t]) => [k, v(t as Tensor)])) as unknown as BlockWeights);
  const unembed = w.W_U ? { W_U: v(w.W_U), b_U: w.b_U && v(w.b_U) } : {};
  return new GPT2(model.config, { W_E: v(w.W_E), W_pos: v(w.W_pos), blocks, lnf_w: v(w.lnf_w), lnf_b: v(w.lnf_b), ...unembed });
}
