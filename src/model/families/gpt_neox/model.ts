// GPT-NeoX (Pythia) in TensorFlow.js, computed as Hugging Face's GPTNeoXForCausalLM computes it, with
// TransformerLens's hook names.
//   x = embed_in[ids]                                            hook_embed, blocks.0.hook_resid_pre
//   for each block i:                                            blocks.i.hook_resid_pre
//     a = dense(attn(rotary(q), rotary(k), v))  on LN_in(x)      ln1.hook_normalized, attn.hook_q/k/v, hook_rot_q/k, …
//     parallel (Pythia):  x = x + a + mlp(LN_post(x))            ln2.hook_normalized (same x), hook_resid_post
//     sequential:         x = x + a;  x = x + mlp(LN_post(x))    hook_resid_mid, ln2.hook_normalized, hook_resid_post
//   logits = final_layer_norm(x) · W_U (+ b_U once processed)    ln_final.hook_normalized; W_U = embed_outᵀ (or embed_inᵀ, tied)
// Rotary position embedding on the first rotaryDims = ⌊head_size · rotary_pct⌋ dims of each query and key head
// (rotate-half, as Hugging Face), scores divided by √head_size, the MLP's GELU exact (erf) for hidden_act "gelu".
// A parallel block has no hook_resid_mid (as in TransformerLens). Queries and keys run from position T_past when
// cached keys and values of earlier positions are given (RunOptions.pastKV): those keys are after rotary.
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D, type Tensor4D } from '../../../core/tf.ts';
import { allHookNames, ROTARY_ATTENTION_HOOKS } from '../../hook-names.ts';
import { applyHook, checkIds } from '../../hooks.ts';
import { attention, gelu, geluErf, layerNorm, rotary } from '../../layers.ts';
import { LayerNormTransformer } from '../../transformer.ts';
import type { ModelConfig, ResidPoint, RunOptions } from '../../types.ts';

export interface GptNeoxConfig extends ModelConfig {
  nHead: number;
  /** The MLP's width (intermediate_size). */
  dMlp: number;
  /** Leading dims of each query/key head that rotary rotates: ⌊head_size · rotary_pct⌋ (even; 0 = none). */
  rotaryDims: number;
  /** Rotary base θ (rotary_emb_base, rope_theta). */
  rotaryBase: number;
  /** use_parallel_residual: attention and MLP both read the block's input (Pythia), or the MLP reads x + attn. */
  parallel: boolean;
  /** 'erf': the exact GELU (hidden_act "gelu"); 'tanh': the tanh approximation (gelu_new, gelu_pytorch_tanh, gelu_fast). */
  act: 'erf' | 'tanh';
  lnEps: number;
  /** tie_word_embeddings: the unembedding is embed_inᵀ (Pythia: false, embed_out of its own). */
  tiedEmbeddings: boolean;
  /** attention_bias: query_key_value and dense carry biases (false: the loader gives zeros). */
  attentionBias: boolean;
}

export interface GptNeoxBlockWeights {
  ln1_w: Tensor1D;
  ln1_b: Tensor1D;
  /** [d, 3d]: y = x·W + b, columns q | k | v, each block head-major ([H, head_size]). */
  W_qkv: Tensor2D;
  b_qkv: Tensor1D;
  W_O: Tensor2D; // [d, d]
  b_O: Tensor1D;
  ln2_w: Tensor1D;
  ln2_b: Tensor1D;
  W_in: Tensor2D; // [d, d_mlp]
  b_in: Tensor1D;
  W_out: Tensor2D; // [d_mlp, d]
  b_out: Tensor1D;
}

export interface GptNeoxWeights {
  W_E: Tensor2D; // embed_in [V, d]
  blocks: GptNeoxBlockWeights[];
  lnf_w: Tensor1D;
  lnf_b: Tensor1D;
  /** The unembedding [d, V] (embed_outᵀ) and its bias [V] (processed weights only); absent, W_Eᵀ (tied embeddings). */
  W_U?: Tensor2D;
  b_U?: Tensor1D;
}

const MLP_HOOKS = ['ln2.hook_normalized', 'mlp.hook_pre', 'mlp.hook_post', 'hook_mlp_out', 'hook_resid_post'];

/** Every hook point of an n-layer model, in the order the forward pass reaches them. */
export function hookNames(nLayer: number, parallel: boolean): string[] {
  const block = parallel ? [...ROTARY_ATTENTION_HOOKS, ...MLP_HOOKS] : [...ROTARY_ATTENTION_HOOKS, 'hook_resid_mid', ...MLP_HOOKS];
  return allHookNames(nLayer, ['hook_embed'], block, ['ln_final.hook_normalized']);
}

const PARALLEL_POINTS: readonly ResidPoint[] = ['hook_resid_pre', 'hook_resid_post'];
const SEQUENTIAL_POINTS: readonly ResidPoint[] = ['hook_resid_pre', 'hook_resid_mid', 'hook_resid_post'];

export class GptNeox extends LayerNormTransformer<GptNeoxConfig> {
  readonly family = 'gpt_neox';
  /** Keys as attention reads them: after rotary. */
  readonly kvHooks = { k: 'attn.hook_rot_k', v: 'attn.hook_v' };

  constructor(
    config: GptNeoxConfig,
    readonly weights: GptNeoxWeights,
  ) {
    super(config);
  }

  hookNames(): string[] {
    return hookNames(this.config.nLayer, this.config.parallel);
  }

  protected override residPoints(): readonly ResidPoint[] {
    return this.config.parallel ? PARALLEL_POINTS : SEQUENTIAL_POINTS;
  }

  /** embed_in rows: hook_embed, which is blocks.0.hook_resid_pre (no position embedding: rotary). */
  embed(ids: number[][], opts: RunOptions = {}): Tensor3D {
    const { vocabSize, nCtx } = this.config;
    const { B, T } = checkIds(ids, vocabSize, nCtx);
    const flat = tf.tensor1d(ids.flat(), 'int32');
    const tok =
      opts.embedding === 'onehot'
        ? tf.matMul(tf.cast(tf.oneHot(flat, vocabSize), 'float32'), this.weights.W_E)
        : tf.gather(this.weights.W_E, flat);
    return applyHook('hook_embed', tf.reshape(tok, [B, T, -1]), opts) as Tensor3D;
  }

  private attention(i: number, x: Tensor3D, opts: RunOptions): Tensor3D {
    const { nHead, dModel, rotaryDims, rotaryBase } = this.config;
    const w = this.weights.blocks[i];
    const p = `blocks.${i}.attn.`;
    const [B, T] = x.shape;
    const dh = dModel / nHead;
    const qkv = this.linear(tf.reshape(x, [B * T, dModel]), w.W_qkv, w.b_qkv);
    // The loader laid the columns out q | k | v: one split, whose gradient is one concat.
    const [qs, ks, vs] = tf.split(qkv, 3, 1).map((u) => tf.reshape(u, [B, T, nHead, dh]));
    const q = applyHook(`${p}hook_q`, qs, opts) as Tensor4D;
    const k = applyHook(`${p}hook_k`, ks, opts) as Tensor4D;
    const v = applyHook(`${p}hook_v`, vs, opts) as Tensor4D;
    const past = opts.pastKV?.[i];
    // With cached keys and values the queries and keys here sit at positions T_past ...
    const offset = past ? past.k.shape[2] : 0;
    const rot = (u: Tensor4D) => (rotaryDims > 0 ? rotary(u, rotaryDims, rotaryBase, offset) : u);
    const qr = applyHook(`${p}hook_rot_q`, rot(q), opts) as Tensor4D;
    const kr = applyHook(`${p}hook_rot_k`, rot(k), opts) as Tensor4D;
    const shape = { nHead, nKvHead: nHead, headDim: dh, scoreDivisor: Math.sqrt(dh) };
    const zs = attention(qr, kr, v, shape, past, opts.attentionMask, (name, t) => applyHook(`${p}${name}`, t, opts));
    const z = applyHook(`${p}hook_z`, zs, opts);
    return tf.reshape(this.linear(tf.reshape(z, [B * T, dModel]), w.W_O, w.b_O), [B, T, dModel]) as Tensor3D;
  }

  private mlp(i: number, x: Tensor3D, opts: RunOptions): Tensor3D {
    const { dModel, dMlp, act } = this.config;
    const w = this.weights.blocks[i];
    const [B, T] = x.shape;
    const pre = applyHook(
      `blocks.${i}.mlp.hook_pre`,
      tf.reshape(this.linear(tf.reshape(x, [B * T, dModel]), w.W_in, w.b_in), [B, T, dMlp]),
      opts,
    );
    const post = applyHook(`blocks.${i}.mlp.hook_post`, act === 'erf' ? geluErf(pre) : gelu(pre), opts);
    return tf.reshape(this.linear(tf.reshape(post, [B * T, dMlp]), w.W_out, w.b_out), [B, T, dModel]) as Tensor3D;
  }

  protected blockBody(i: number, x: Tensor3D, opts: RunOptions, from: ResidPoint, to: ResidPoint): Tensor3D {
    const { lnEps, parallel } = this.config;
    const w = this.weights.blocks[i];
    const p = `blocks.${i}.`;
    const mlpOf = (resid: Tensor3D) => {
      const normed = applyHook(`${p}ln2.hook_normalized`, layerNorm(resid, w.ln2_w, w.ln2_b, lnEps), opts) as Tensor3D;
      return applyHook(`${p}hook_mlp_out`, this.mlp(i, normed, opts), opts);
    };
    if (from === 'hook_resid_pre') {
      x = applyHook(`${p}hook_resid_pre`, x, opts) as Tensor3D;
      if (to === 'hook_resid_pre') return x;
      const normed = applyHook(`${p}ln1.hook_normalized`, layerNorm(x, w.ln1_w, w.ln1_b, lnEps), opts) as Tensor3D;
      const attnOut = applyHook(`${p}hook_attn_out`, this.attention(i, normed, opts), opts);
      if (parallel) return applyHook(`${p}hook_resid_post`, tf.add(tf.add(x, attnOut), mlpOf(x)), opts) as Tensor3D;
      x = tf.add(x, attnOut) as Tensor3D;
      from = 'hook_resid_mid';
    }
    if (from === 'hook_resid_mid') {
      x = applyHook(`${p}hook_resid_mid`, x, opts) as Tensor3D;
      if (to === 'hook_resid_mid') return x;
      x = tf.add(x, mlpOf(x)) as Tensor3D;
    }
    return applyHook(`${p}hook_resid_post`, x, opts) as Tensor3D;
  }

  /** Every weight tensor, in a fixed order (for training and disposal). */
  parameters(): Tensor[] {
    const w = this.weights;
    return [w.W_E, ...w.blocks.flatMap((b) => Object.values(b) as Tensor[]), w.lnf_w, w.lnf_b, ...this.unembedParameters()];
  }
}

/**
 * The same model with every weight a trainable tf.Variable, so automatic differentiation (not the written-out
 * backward passes of frozen weights) runs through it: tests compare the two. Dispose its parameters when done.
 */
export function withTrainableWeights(model: GptNeox): GptNeox {
  const v = <T extends Tensor>(t: T) => tf.variable(t, true) as unknown as T;
  const w = model.weights;
  const blocks = w.blocks.map(
    (b) => Object.fromEntries(Object.entries(b).map(([k, t]) => [k, v(t as Tensor)])) as unknown as GptNeoxBlockWeights,
  );
  const unembed = w.W_U ? { W_U: v(w.W_U), b_U: w.b_U && v(w.b_U) } : {};
  return new GptNeox(model.config, { W_E: v(w.W_E), blocks, lnf_w: v(w.lnf_w), lnf_b: v(w.lnf_b), ...unembed });
}
