// Gemma-2 in TensorFlow.js, computed as Hugging Face's Gemma2ForCausalLM computes it, with TransformerLens's hook
// names.
//   x = W_E[ids] · √d_model                                    hook_embed (after the scaling)
//   for each block i:                                          blocks.i.hook_resid_pre
//     h = RMSNorm_in(x)                                        ln1.hook_normalized
//     q, k, v = h·W_Q, h·W_K, h·W_V                            attn.hook_q / hook_k / hook_v
//     q, k = rotary(q), rotary(k) over the whole head          attn.hook_rot_q / hook_rot_k
//     z = attention: scores q·kᵀ / √query_pre_attn_scalar, soft-capped, causal (and windowed on sliding layers),
//         grouped-query                                        attn.hook_attn_scores, hook_pattern, hook_z
//     x = x + RMSNorm_post_attn(z·W_O)                         hook_attn_out, hook_resid_mid
//     h = RMSNorm_pre_ffw(x)                                   ln2.hook_normalized
//     m = gelu_tanh(h·W_gate) ⊙ (h·W_up)                       mlp.hook_pre (gate), hook_pre_linear (up), hook_post
//     x = x + RMSNorm_post_ffw(m·W_down)                       hook_mlp_out, hook_resid_post
//   logits = softcap(RMSNorm_final(x) · W_Eᵀ)                  ln_final.hook_normalized (tied; or an own lm_head)
// Every RMSNorm scale is the stored weight plus one (added when loading). The cached keys of a layer (kvHooks) are
// the rotated keys, so a run from the hook onward over them rotates its own positions from the cached length on.
import { keepTransposes, tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D, type Tensor4D } from '../../../core/tf.ts';
import { ModelInputError } from '../../errors.ts';
import { allHookNames, applyHook, checkHookNames, checkIds, checkResidual, parseResidHook, rowsAt } from '../../hooks.ts';
import { attention, gelu, matMulFrozen, rmsNorm, rotary, softcap, TransposeCache } from '../../layers.ts';
import type { LanguageModel, LogitColumns, ModelConfig, ResidPoint, RunOptions } from '../../types.ts';

export interface Gemma2Config extends ModelConfig {
  /** intermediate_size. */
  dMlp: number;
  nHead: number;
  /** num_key_value_heads (grouped-query attention: nHead is a multiple of it). */
  nKvHead: number;
  headDim: number;
  rmsEps: number;
  ropeTheta: number;
  /** Attention scores are q·kᵀ / √queryPreAttnScalar. */
  queryPreAttnScalar: number;
  /** The sliding layers' window (a query reads keys less than this many positions back); null: none. */
  slidingWindow: number | null;
  /** Per layer, whether it is a sliding-window layer (layer_types, by default the even layers). */
  sliding: readonly boolean[];
  /** cap · tanh(x / cap) on the attention scores and on the logits; null: off. */
  attnSoftcap: number | null;
  finalSoftcap: number | null;
  /** tie_word_embeddings: logits read W_Eᵀ; false: the model has its own unembedding (lm_head.weight). */
  tieWordEmbeddings: boolean;
}

export interface Gemma2BlockWeights {
  /** input_layernorm's scale (1 + w); null once folded into W_qkv (weight processing). */
  ln1: Tensor1D | null;
  /** [d, (H + 2·H_kv)·d_head], columns q | k | v (q_proj, k_proj, v_proj transposed into x·W). */
  W_qkv: Tensor2D;
  /** [H·d_head, d]. */
  W_O: Tensor2D;
  /** post_attention_layernorm's scale (1 + w). */
  lnPostAttn: Tensor1D;
  /** pre_feedforward_layernorm's scale (1 + w); null once folded into W_gateUp. */
  ln2: Tensor1D | null;
  /** [d, 2·d_mlp], columns gate | up. */
  W_gateUp: Tensor2D;
  /** [d_mlp, d]. */
  W_down: Tensor2D;
  /** post_feedforward_layernorm's scale (1 + w). */
  lnPostMlp: Tensor1D;
}

export interface Gemma2Weights {
  /** embed_tokens [V, d], as stored (the forward multiplies the rows it reads by √d). */
  W_E: Tensor2D;
  blocks: Gemma2BlockWeights[];
  /** The final norm's scale (1 + w); kept even when processed (folding it into a tied W_Eᵀ would copy W_E). */
  lnFinal: Tensor1D;
  /** An untied lm_head, transposed to [d, V]; absent, the model unembeds with W_Eᵀ (tie_word_embeddings). */
  W_U?: Tensor2D;
}

const BLOCK_HOOKS = [
  'hook_resid_pre',
  'ln1.hook_normalized',
  'attn.hook_q',
  'attn.hook_k',
  'attn.hook_v',
  'attn.hook_rot_q',
  'attn.hook_rot_k',
  'attn.hook_attn_scores',
  'attn.hook_pattern',
  'attn.hook_z',
  'hook_attn_out',
  'hook_resid_mid',
  'ln2.hook_normalized',
  'mlp.hook_pre',
  'mlp.hook_pre_linear',
  'mlp.hook_post',
  'hook_mlp_out',
  'hook_resid_post',
];

/** Every hook point of an n-layer model, in the order the forward pass reaches them. */
export function hookNames(nLayer: number): string[] {
  return allHookNames(nLayer, ['hook_embed'], BLOCK_HOOKS, ['ln_final.hook_normalized']);
}

export class Gemma2 implements LanguageModel {
  readonly family = 'gemma2';
  /** The rotated keys: a layer's cache holds them as attention reads them. */
  readonly kvHooks = { k: 'attn.hook_rot_k', v: 'attn.hook_v' };
  private validHooks?: Set<string>;
  private readonly transposes = new TransposeCache();
  private W_Et?: Tensor2D;

  constructor(
    readonly config: Gemma2Config,
    readonly weights: Gemma2Weights,
  ) {
    const { nHead, nKvHead, headDim, dModel, dMlp, nLayer, sliding } = config;
    if (nHead % nKvHead) throw new ModelInputError(`num_attention_heads ${nHead} is not a multiple of num_key_value_heads ${nKvHead}`);
    if (headDim % 2) throw new ModelInputError(`head_dim ${headDim} must be even (rotary embedding)`);
    if (sliding.length !== nLayer) throw new ModelInputError(`${sliding.length} layer types for ${nLayer} layers`);
    if (weights.blocks.length !== nLayer) throw new ModelInputError(`${weights.blocks.length} blocks of weights for ${nLayer} layers`);
    if (!weights.W_U !== config.tieWordEmbeddings)
      throw new ModelInputError(config.tieWordEmbeddings ? 'a tied model has no own unembedding' : 'an untied model needs its unembedding');
    const b = weights.blocks[0];
    if (b && (b.W_qkv.shape[1] !== (nHead + 2 * nKvHead) * headDim || b.W_gateUp.shape[1] !== 2 * dMlp || b.W_O.shape[1] !== dModel))
      throw new ModelInputError('Gemma-2 weights do not match the config');
  }

  /** All hook point names, in forward order. */
  hookNames(): string[] {
    return hookNames(this.config.nLayer);
  }

  residHook(name: string): { layer: number; point: ResidPoint } {
    return parseResidHook(name, this.config.nLayer);
  }

  private checkHooks(opts: RunOptions): void {
    checkHookNames(opts, () => (this.validHooks ??= new Set(this.hookNames())), this.config.nLayer);
  }

  /** The scaled token embeddings: blocks.0.hook_resid_pre. ids are [B][T] (right-padded when ragged). */
  embed(ids: number[][], opts: RunOptions = {}): Tensor3D {
    const { vocabSize, nCtx, dModel } = this.config;
    const { B, T } = checkIds(ids, vocabSize, nCtx);
    const flat = tf.tensor1d(ids.flat(), 'int32');
    const W_E = this.weights.W_E;
    const tok = opts.embedding === 'onehot' ? tf.matMul(tf.cast(tf.oneHot(flat, vocabSize), 'float32'), W_E) : tf.gather(W_E, flat);
    // Hugging Face multiplies by √hidden_size as a tensor of the activations' dtype: float32 here, as TF.js rounds
    // the JavaScript number.
    return applyHook('hook_embed', tf.mul(tf.reshape(tok, [B, T, dModel]), Math.sqrt(dModel)), opts) as Tensor3D;
  }

  private attention(i: number, x: Tensor3D, opts: RunOptions): Tensor3D {
    const { nHead: H, nKvHead: Hkv, headDim: dh, dModel, ropeTheta } = this.config;
    const w = this.weights.blocks[i];
    const p = `blocks.${i}.attn.`;
    const [B, T] = x.shape;
    const qkv = this.linear(tf.reshape(x, [B * T, dModel]), w.W_qkv);
    const [qs, ks, vs] = tf.split(qkv, [H * dh, Hkv * dh, Hkv * dh], 1);
    const q = applyHook(`${p}hook_q`, tf.reshape(qs, [B, T, H, dh]), opts) as Tensor4D;
    const k = applyHook(`${p}hook_k`, tf.reshape(ks, [B, T, Hkv, dh]), opts) as Tensor4D;
    const v = applyHook(`${p}hook_v`, tf.reshape(vs, [B, T, Hkv, dh]), opts) as Tensor4D;
    const past = opts.pastKV?.[i];
    // With cached keys and values the input's first position is the cached length.
    const offset = past ? past.k.shape[2] : 0;
    const rq = applyHook(`${p}hook_rot_q`, rotary(q, dh, ropeTheta, offset), opts) as Tensor4D;
    const rk = applyHook(`${p}hook_rot_k`, rotary(k, dh, ropeTheta, offset), opts) as Tensor4D;
    const zs = attention(rq, rk, v, this.attentionShape(i), past, opts.attentionMask, (name, t) => applyHook(`${p}${name}`, t, opts));
    const z = applyHook(`${p}hook_z`, zs, opts);
    return tf.reshape(this.linear(tf.reshape(z, [B * T, H * dh]), w.W_O), [B, T, dModel]) as Tensor3D;
  }

  /** Layer i's attention: its score divisor, soft-cap and (on a sliding layer) window. */
  attentionShape(i: number) {
    const { nHead, nKvHead, headDim, queryPreAttnScalar, attnSoftcap, slidingWindow, sliding } = this.config;
    return {
      nHead,
      nKvHead,
      headDim,
      scoreDivisor: Math.sqrt(queryPreAttnScalar),
      softcap: attnSoftcap ?? undefined,
      window: sliding[i] && slidingWindow !== null ? slidingWindow : undefined,
    };
  }

  private mlp(i: number, x: Tensor3D, opts: RunOptions): Tensor3D {
    const { dModel, dMlp } = this.config;
    const w = this.weights.blocks[i];
    const p = `blocks.${i}.mlp.`;
    const [B, T] = x.shape;
    // Gate and up in one product, split once (its gradient one concat).
    const [g, u] = tf.split(this.linear(tf.reshape(x, [B * T, dModel]), w.W_gateUp), 2, 1);
    const pre = applyHook(`${p}hook_pre`, tf.reshape(g, [B, T, dMlp]), opts);
    const preLinear = applyHook(`${p}hook_pre_linear`, tf.reshape(u, [B, T, dMlp]), opts);
    const post = applyHook(`${p}hook_post`, tf.mul(gelu(pre), preLinear), opts);
    return tf.reshape(this.linear(tf.reshape(post, [B * T, dMlp]), w.W_down), [B, T, dModel]) as Tensor3D;
  }

  /**
   * Run block i from `from` up to and including the hook `to` (default: the whole block), in its own tidy scope
   * (under a gradient tape the tape keeps what the backward pass needs).
   */
  private block(
    i: number,
    x: Tensor3D,
    opts: RunOptions,
    from: ResidPoint = 'hook_resid_pre',
    to: ResidPoint = 'hook_resid_post',
  ): Tensor3D {
    return tf.tidy(() => this.blockBody(i, x, opts, from, to));
  }

  private blockBody(i: number, x: Tensor3D, opts: RunOptions, from: ResidPoint, to: ResidPoint): Tensor3D {
    const eps = this.config.rmsEps;
    const w = this.weights.blocks[i];
    const p = `blocks.${i}.`;
    if (from === 'hook_resid_pre') {
      x = applyHook(`${p}hook_resid_pre`, x, opts) as Tensor3D;
      if (to === 'hook_resid_pre') return x;
      const normed = applyHook(`${p}ln1.hook_normalized`, rmsNorm(x, w.ln1, eps), opts) as Tensor3D;
      const attnOut = applyHook(`${p}hook_attn_out`, rmsNorm(this.attention(i, normed, opts), w.lnPostAttn, eps), opts);
      x = tf.add(x, attnOut) as Tensor3D;
      from = 'hook_resid_mid';
    }
    if (from === 'hook_resid_mid') {
      x = applyHook(`${p}hook_resid_mid`, x, opts) as Tensor3D;
      if (to === 'hook_resid_mid') return x;
      const normed = applyHook(`${p}ln2.hook_normalized`, rmsNorm(x, w.ln2, eps), opts) as Tensor3D;
      const mlpOut = applyHook(`${p}hook_mlp_out`, rmsNorm(this.mlp(i, normed, opts), w.lnPostMlp, eps), opts);
      x = tf.add(x, mlpOut) as Tensor3D;
    }
    return applyHook(`${p}hook_resid_post`, x, opts) as Tensor3D;
  }

  /** The final norm, the unembedding and the final soft-cap: [B, T, V] (or [B, 1, V] with opts.logitsAt). */
  unembed(x: Tensor3D, opts: RunOptions = {}): Tensor3D {
    const { dModel, vocabSize } = this.config;
    const B = x.shape[0];
    if (opts.logitsAt) x = rowsAt(x, opts.logitsAt) as Tensor3D;
    const rows = x.shape[1];
    const normed = tf.reshape(applyHook('ln_final.hook_normalized', this.finalNorm(x), opts), [B * rows, dModel]) as Tensor2D;
    return tf.reshape(this.capLogits(this.unembedMatmul(normed)), [B, rows, vocabSize]) as Tensor3D;
  }

  /** The final RMSNorm (model.norm). */
  finalNorm<T extends Tensor>(x: T): T {
    return rmsNorm(x, this.weights.lnFinal, this.config.rmsEps) as T;
  }

  private capLogits<T extends Tensor>(logits: T): T {
    const cap = this.config.finalSoftcap;
    return cap === null ? logits : (softcap(logits, cap) as T);
  }

  /** x · W for a block weight (see matMulFrozen). */
  private linear(x: Tensor, W: Tensor2D): Tensor2D {
    return matMulFrozen(x as Tensor2D, W, () => this.transposes.of(W));
  }

  /** x · W_U for an untied head, x · W_Eᵀ for a tied one. */
  private unembedMatmul(x: Tensor2D): Tensor2D {
    const { W_U, W_E } = this.weights;
    if (W_U) return this.linear(x, W_U);
    // On wasm a kept W_Eᵀ (transposeB runs about 10× slower there); other backends transpose for free.
    if (keepTransposes()) {
      this.W_Et ??= tf.keep(tf.transpose(W_E));
      return tf.matMul(x, this.W_Et);
    }
    return tf.matMul(x, W_E, false, true);
  }

  /** The read tokens' unembedding columns, after the final norm, with the final soft-cap. */
  logitColumns(tokens: readonly number[]): LogitColumns {
    const { vocabSize } = this.config;
    for (const t of tokens)
      if (!Number.isInteger(t) || t < 0 || t >= vocabSize)
        throw new ModelInputError(`token ${t} is outside the vocabulary 0..${vocabSize - 1}`);
    const { W_E, W_U } = this.weights;
    const W = tf.tidy(() => {
      const ids = tf.tensor1d([...tokens], 'int32');
      return (W_U ? tf.gather(W_U, ids, 1) : tf.transpose(tf.gather(W_E, ids))) as Tensor2D;
    });
    let Wt: Tensor2D | undefined;
    return {
      tokens,
      logits: (rows) =>
        this.capLogits(
          matMulFrozen(this.finalNorm(rows), W, () => {
            Wt ??= tf.keep(tf.transpose(W));
            return Wt;
          }),
        ),
      dispose: () => {
        W.dispose();
        Wt?.dispose();
      },
    };
  }

  /** Logits [B, T, V] for token ids [B][T]. */
  forward(ids: number[][], opts: RunOptions = {}): Tensor3D {
    this.checkHooks(opts);
    let x = this.embed(ids, opts);
    for (let i = 0; i < this.config.nLayer; i++) x = this.block(i, x, opts);
    return this.unembed(x, opts);
  }

  /** Logits from a residual given at a hook point (hooks at that point and downstream apply). */
  forwardFrom(hookName: string, resid: Tensor3D, opts: RunOptions = {}): Tensor3D {
    return this.unembed(this.residualFrom(hookName, resid, opts), opts);
  }

  /** The final residual (before the final norm) from a residual given at a hook point. */
  residualFrom(hookName: string, resid: Tensor3D, opts: RunOptions = {}): Tensor3D {
    const { layer, point } = this.residHook(hookName);
    this.checkHooks(opts);
    checkResidual(hookName, resid, this.config.dModel, this.config.nCtx);
    let x = resid;
    if (point === 'hook_resid_post') x = applyHook(hookName, x, opts) as Tensor3D;
    else x = this.block(layer, x, opts, point);
    for (let i = layer + 1; i < this.config.nLayer; i++) x = this.block(i, x, opts);
    return x;
  }

  /** The residual at a hook point (nothing after it is run). */
  runToHook(ids: number[][], hookName: string, opts: RunOptions = {}): Tensor3D {
    const { layer, point } = this.residHook(hookName);
    this.checkHooks(opts);
    let x = this.embed(ids, opts);
    for (let i = 0; i < layer; i++) x = this.block(i, x, opts);
    return this.block(layer, x, opts, 'hook_resid_pre', point);
  }

  /** Every weight tensor, in a fixed order. */
  parameters(): Tensor[] {
    const w = this.weights;
    const block = (b: Gemma2BlockWeights): Tensor[] =>
      [b.ln1, b.W_qkv, b.W_O, b.lnPostAttn, b.ln2, b.W_gateUp, b.W_down, b.lnPostMlp].filter((t) => t !== null);
    return [w.W_E, ...w.blocks.flatMap(block), w.lnFinal, ...(w.W_U ? [w.W_U] : [])];
  }

  dispose(): void {
    tf.dispose(this.parameters());
    this.W_Et?.dispose();
    this.W_Et = undefined;
    this.transposes.dispose();
  }
}
