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
import { layerRange } from '../../../core/format.ts';
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D, type Tensor4D } from '../../../core/tf.ts';
import { ModelInputError } from '../../errors.ts';
import { allHookNames, ROTARY_ATTENTION_HOOKS } from '../../hook-names.ts';
import { applyHook, checkIds } from '../../hooks.ts';
import { attention, gelu, rmsNorm, rotary, softcap } from '../../layers.ts';
import type { TokenTable } from '../../token-table.ts';
import { checkTokens, columnReadout, Transformer } from '../../transformer.ts';
import type { LogitColumns, ModelConfig, ResidPoint, RunOptions } from '../../types.ts';
import { linear16T, Weight16 } from '../../weights16.ts';

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

/**
 * A frozen projection: float32 [in, out] (x · W), or 16-bit as a torch Linear stores it, [out, in] (x · Wᵀ, read in
 * 16 bits by the product's kernel: weights16.ts).
 */
export type Matrix = Tensor2D | Weight16;

/** A projection's output width, whichever way it is stored. */
export const outWidth = (W: Matrix): number => (W instanceof Weight16 ? W.shape[0] : W.shape[1]);

export interface Gemma2BlockWeights {
  /** input_layernorm's scale (1 + w); null once folded into W_qkv (weight processing). */
  ln1: Tensor1D | null;
  /** q | k | v: [d, (H + 2·H_kv)·d_head] (q_proj, k_proj, v_proj transposed into x·W), or their 16-bit rows stacked. */
  W_qkv: Matrix;
  /** [H·d_head, d]. */
  W_O: Matrix;
  /** post_attention_layernorm's scale (1 + w). */
  lnPostAttn: Tensor1D;
  /** pre_feedforward_layernorm's scale (1 + w); null once folded into W_gateUp. */
  ln2: Tensor1D | null;
  /** gate | up: [d, 2·d_mlp]. */
  W_gateUp: Matrix;
  /** [d_mlp, d]. */
  W_down: Matrix;
  /** post_feedforward_layernorm's scale (1 + w). */
  lnPostMlp: Tensor1D;
}

export interface Gemma2Weights {
  /** embed_tokens [V, d], as stored (the forward multiplies the rows it reads by √d): whole, or the run's tokens' rows. */
  embedding: TokenTable;
  /** null: a layer this model does not keep (LoadPlan.firstLayer); streamToHook reads it when it needs it. */
  blocks: (Gemma2BlockWeights | null)[];
  /** The final norm's scale (1 + w); kept even when processed (folding it into a tied W_Eᵀ would copy W_E). */
  lnFinal: Tensor1D;
  /** The unembedding, one row per token: the embedding itself when tied, else lm_head [V, d]. */
  unembedding: TokenTable;
}

const BLOCK_HOOKS = [
  ...ROTARY_ATTENTION_HOOKS,
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

export class Gemma2 extends Transformer<Gemma2Config> {
  readonly family = 'gemma2';
  /** The rotated keys: a layer's cache holds them as attention reads them. */
  readonly kvHooks = { k: 'attn.hook_rot_k', v: 'attn.hook_v' };

  constructor(
    config: Gemma2Config,
    readonly weights: Gemma2Weights,
  ) {
    super(config);
    const { nHead, nKvHead, headDim, dModel, dMlp, nLayer, sliding } = config;
    if (nHead % nKvHead) throw new ModelInputError(`num_attention_heads ${nHead} is not a multiple of num_key_value_heads ${nKvHead}`);
    if (headDim % 2) throw new ModelInputError(`head_dim ${headDim} must be even (rotary embedding)`);
    if (sliding.length !== nLayer) throw new ModelInputError(`${sliding.length} layer types for ${nLayer} layers`);
    if (weights.blocks.length !== nLayer) throw new ModelInputError(`${weights.blocks.length} blocks of weights for ${nLayer} layers`);
    if ((weights.unembedding === weights.embedding) !== config.tieWordEmbeddings)
      throw new ModelInputError(config.tieWordEmbeddings ? 'a tied model has no own unembedding' : 'an untied model needs its unembedding');
    const b = weights.blocks.find((x) => x !== null);
    if (b && (outWidth(b.W_qkv) !== (nHead + 2 * nKvHead) * headDim || outWidth(b.W_gateUp) !== 2 * dMlp || outWidth(b.W_O) !== dModel))
      throw new ModelInputError('Gemma-2 weights do not match the config');
  }

  /**
   * Reads a layer this model does not keep (LoadPlan.firstLayer) from its checkpoint, processed as the kept ones:
   * set by the loader; streamToHook calls it.
   */
  loadBlock?: (i: number) => Promise<Gemma2BlockWeights>;

  residency(): string | null {
    const { blocks, embedding } = this.weights;
    const first = blocks.findIndex((b) => b !== null);
    const parts: string[] = [];
    if (first > 0) parts.push(`${layerRange(first, this.config.nLayer - 1)} kept (the earlier ones streamed once)`);
    const W = blocks[first]?.W_qkv;
    if (W instanceof Weight16) parts.push(`${W.dtype} weights kept in 16 bits on the device`);
    if (!embedding.isWhole) parts.push(`${embedding.keptTokens} of ${this.config.vocabSize} token rows`);
    return parts.length ? parts.join('; ') : null;
  }

  get wholeVocabulary(): boolean {
    return this.weights.unembedding.isWhole;
  }

  /** Block i's weights, or an error naming what this model keeps. */
  private blockWeights(i: number): Gemma2BlockWeights {
    const b = this.weights.blocks[i];
    if (b) return b;
    const first = this.weights.blocks.findIndex((x) => x !== null);
    throw new ModelInputError(
      `layer ${i} is not loaded: this run keeps layers ${first}–${this.config.nLayer - 1} (those after its hook); the residual at the hook is computed layer by layer (streamToHook)`,
    );
  }

  /** All hook point names, in forward order. */
  hookNames(): string[] {
    return hookNames(this.config.nLayer);
  }

  /** The scaled token embeddings: blocks.0.hook_resid_pre. ids are [B][T] (right-padded when ragged). */
  embed(ids: number[][], opts: RunOptions = {}): Tensor3D {
    const { vocabSize, nCtx, dModel } = this.config;
    const { B, T } = checkIds(ids, vocabSize, nCtx);
    const tok = this.weights.embedding.lookup(ids.flat(), opts.embedding === 'onehot');
    // Hugging Face multiplies by √hidden_size as a tensor of the activations' dtype: float32 here, as TF.js rounds
    // the JavaScript number.
    return applyHook('hook_embed', tf.mul(tf.reshape(tok, [B, T, dModel]), Math.sqrt(dModel)), opts) as Tensor3D;
  }

  private attention(i: number, x: Tensor3D, opts: RunOptions): Tensor3D {
    const { nHead: H, nKvHead: Hkv, headDim: dh, dModel, ropeTheta } = this.config;
    const w = this.blockWeights(i);
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
    const w = this.blockWeights(i);
    const p = `blocks.${i}.mlp.`;
    const [B, T] = x.shape;
    // Gate and up in one product, split once (its gradient one concat).
    const [g, u] = tf.split(this.linear(tf.reshape(x, [B * T, dModel]), w.W_gateUp), 2, 1);
    const pre = applyHook(`${p}hook_pre`, tf.reshape(g, [B, T, dMlp]), opts);
    const preLinear = applyHook(`${p}hook_pre_linear`, tf.reshape(u, [B, T, dMlp]), opts);
    const post = applyHook(`${p}hook_post`, tf.mul(gelu(pre), preLinear), opts);
    return tf.reshape(this.linear(tf.reshape(post, [B * T, dMlp]), w.W_down), [B, T, dModel]) as Tensor3D;
  }

  protected blockBody(i: number, x: Tensor3D, opts: RunOptions, from: ResidPoint, to: ResidPoint): Tensor3D {
    const eps = this.config.rmsEps;
    const w = this.blockWeights(i);
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

  /** The final RMSNorm (model.norm). */
  finalNorm<T extends Tensor>(x: T): T {
    return rmsNorm(x, this.weights.lnFinal, this.config.rmsEps) as T;
  }

  private capLogits<T extends Tensor>(logits: T): T {
    const cap = this.config.finalSoftcap;
    return cap === null ? logits : (softcap(logits, cap) as T);
  }

  /** x · W for a block weight: 16-bit (x · Wᵀ of the stored rows, linear16T), or float32 as in every family. */
  protected override linear(x: Tensor, W: Matrix): Tensor2D {
    return W instanceof Weight16 ? linear16T(x as Tensor2D, W) : super.linear(x, W);
  }

  /** softcap(x · Uᵀ), U the unembedding's rows (lm_head, or the tied embedding). */
  protected unembedRows(x: Tensor2D): Tensor2D {
    return this.capLogits(this.weights.unembedding.logits(x));
  }

  /** The read tokens' unembedding columns, after the final norm, with the final soft-cap. */
  logitColumns(tokens: readonly number[]): LogitColumns {
    checkTokens(tokens, this.config.vocabSize);
    return columnReadout(
      tokens,
      this.weights.unembedding.columns(tokens),
      undefined,
      (rows) => this.finalNorm(rows),
      (logits) => this.capLogits(logits),
    );
  }

  /**
   * The residual at a hook for a batch, `chunk` prompts at a time, with the layers this model does not keep read
   * from the checkpoint one at a time (loadBlock), run, and freed: a run of gemma-2-2b from layer 11 holds 15 of its
   * 26 layers, never 26.
   */
  async streamToHook(ids: number[][], hookName: string, chunk = 16): Promise<Tensor3D> {
    const { layer, point } = this.residHook(hookName);
    let xs = Array.from({ length: Math.ceil(ids.length / chunk) }, (_, c) =>
      tf.tidy(() => this.embed(ids.slice(c * chunk, (c + 1) * chunk))),
    );
    try {
      for (let i = 0; i <= layer; i++) {
        const kept = this.weights.blocks[i];
        if (!kept && !this.loadBlock) this.blockWeights(i);
        const loaded = kept ?? (await (this.loadBlock as (i: number) => Promise<Gemma2BlockWeights>)(i));
        this.weights.blocks[i] = loaded;
        try {
          const to = i === layer ? point : 'hook_resid_post';
          const next = xs.map((x) => this.block(i, x, {}, 'hook_resid_pre', to));
          // A block run to its own hook_resid_pre hands its input back: that one stays.
          tf.dispose(xs.filter((x, c) => x !== next[c]));
          xs = next;
        } finally {
          if (!kept) {
            this.weights.blocks[i] = null;
            disposeBlock(loaded);
          }
        }
      }
      const h = xs.length === 1 ? xs[0] : (tf.concat(xs, 0) as Tensor3D);
      if (xs.length > 1) tf.dispose(xs);
      xs = [];
      return h;
    } finally {
      tf.dispose(xs);
    }
  }

  /** Every float32 weight tensor, in a fixed order (16-bit ones are Weight16s: see dispose). */
  parameters(): Tensor[] {
    const w = this.weights;
    const tables = w.unembedding === w.embedding ? [w.embedding] : [w.embedding, w.unembedding];
    return [
      ...tables.flatMap((t) => t.tensors()),
      ...w.blocks.flatMap((b) => (b ? blockTensors(b).filter((t) => t instanceof tf.Tensor) : [])),
      w.lnFinal,
    ] as Tensor[];
  }

  dispose(): void {
    const w = this.weights;
    w.embedding.dispose();
    if (w.unembedding !== w.embedding) w.unembedding.dispose();
    for (const b of w.blocks) if (b) disposeBlock(b);
    w.lnFinal.dispose();
    this.transposes.dispose();
  }
}

function blockTensors(b: Gemma2BlockWeights): (Tensor | Weight16)[] {
  return [b.ln1, b.W_qkv, b.W_O, b.lnPostAttn, b.ln2, b.W_gateUp, b.W_down, b.lnPostMlp].filter((t) => t !== null);
}

/** Frees a block's weights, float32 and 16-bit. */
export function disposeBlock(b: Gemma2BlockWeights): void {
  for (const t of blockTensors(b)) t.dispose();
}
