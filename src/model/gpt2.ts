// GPT-2 in TensorFlow.js, with TransformerLens' hook names.
//   x = W_E[ids] + W_pos[pos]                                  hook_embed, hook_pos_embed
//   for each block i:                                          blocks.i.hook_resid_pre
//     x = x + attn(ln1(x))                                     blocks.i.hook_resid_mid
//     x = x + mlp(ln2(x))                                      blocks.i.hook_resid_post
//   logits = ln_final(x) · W_Eᵀ                                (tied; W_U + b_U once processed)
// Hooks read (cache), replace or add to any activation; forwardFrom(hook, resid) starts mid-network so a
// recovery loop does not recompute the layers before the hook. Everything is differentiable w.r.t. the
// residual and the weights; with embedding 'onehot' also on backends without a gather gradient (wasm).
import { keepTransposes, tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D, type Tensor4D } from '../core/tf.ts';
import { ModelInputError } from './errors.ts';

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

/** A hook returns the replacement activation, or nothing to leave it unchanged. */
export type HookFn = (act: Tensor, name: string) => Tensor | undefined;

export interface RunOptions {
  /** Hooks by exact name. */
  hooks?: Record<string, HookFn>;
  /** Names to record (map each to anything, e.g. null); filled with the activation after any hook at that
   *  point, kept out of the caller's tf.tidy: the caller disposes them. */
  cache?: Map<string, Tensor>;
  /** [B, T], 1 = real token. Keys at padded positions are masked out (right padding). */
  attentionMask?: Tensor2D;
  /** 'gather' (fast) or 'onehot' (one-hot · W_E: differentiable on every backend). */
  embedding?: 'gather' | 'onehot';
  /**
   * Compute logits only at one position per batch row (e.g. each prompt's last token): the result is
   * [B, 1, V] and ln_final.hook_normalized is [B, 1, d]. The unembedding dominates the cost for GPT-2's
   * 50257-token vocabulary, so a recovery step that reads one position per row is several times cheaper.
   */
  logitsAt?: readonly number[];
  /**
   * Keys and values of earlier positions, by layer ([B, H, T_past, dh], as hook_k / hook_v transposed): the
   * input then holds only the positions after them, and attention also reads these (see model/hook-onward.ts).
   */
  pastKV?: readonly (PastKV | undefined)[];
}

export interface PastKV {
  k: Tensor4D;
  v: Tensor4D;
}

export type ResidHook = 'hook_resid_pre' | 'hook_resid_mid' | 'hook_resid_post';

/**
 * a · [kept; fresh] along the position axis 2 (with transposeB, a · [kept; fresh]ᵀ): attention over cached keys
 * (scores) or values (z). The cache is a constant of the step, so the backward pass gives `fresh` alone its share,
 * from the Tn score columns (or pattern columns) that meet it: at one query and one new position an elementwise
 * product. Automatic differentiation would form the gradient of the whole cache, [B, H, Tk, dh], by a batched
 * transposed matMul (on wasm ~5 ms each at 64 GPT-2-small prompts, against 0.3 ms for this product) and then
 * drop all but its last rows.
 */
function matMulOverCache(a: Tensor4D, kept: Tensor4D, fresh: Tensor4D, transposeB: boolean): Tensor4D {
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const [x, y] = args as Tensor4D[];
    const full = tf.concat([kept, y], 2);
    (args[2] as tf.GradSaveFunc)([x, full]);
    return {
      value: tf.matMul(x, full, false, transposeB),
      gradFunc: (dy: Tensor, [xs, fs]: Tensor[]) => {
        const [B, H, T] = xs.shape as [number, number, number, number];
        const Tk = fs.shape[2] as number;
        const Tn = fresh.shape[2];
        const dx = tf.matMul(dy as Tensor4D, fs as Tensor4D, false, !transposeB);
        // dFresh = lᵀ · r, l the columns of the scores' gradient (or of the pattern) that meet fresh: [B, H, T, Tn].
        const cols = (u: Tensor) => tf.slice(u, [0, 0, 0, Tk - Tn], [B, H, T, Tn]) as Tensor4D;
        const [l, r] = transposeB ? [cols(dy), xs as Tensor4D] : [cols(xs), dy as Tensor4D];
        const dFresh = T === 1 && Tn === 1 ? tf.mul(tf.reshape(l, [B, H, 1, 1]), r) : tf.matMul(l, r, true, false);
        return [dx, dFresh];
      },
    };
  });
  return f(a, fresh) as Tensor4D;
}

/**
 * x · W (+ b) for a weight W and optional bias b. Frozen (not Variables), the product and the bias are one fused
 * kernel, and the backward pass forms only x's gradient, dy · Wᵀ; where transposeB is slow (keepTransposes: wasm),
 * by multiplying by `transposed()`, a copy of Wᵀ the caller keeps (made at the first backward pass: one more copy of
 * the weight in memory). Trainable weights (model training) take the automatic gradient, which also gives dW and db.
 */
export function matMulFrozen(x: Tensor2D, W: Tensor2D, transposed: () => Tensor2D, bias?: Tensor1D): Tensor2D {
  if (W instanceof tf.Variable || bias instanceof tf.Variable) return (bias ? tf.add(tf.matMul(x, W), bias) : tf.matMul(x, W)) as Tensor2D;
  const kept = keepTransposes();
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const a = args[0] as Tensor2D;
    return {
      value: bias ? tf.fused.matMul({ a, b: W, bias }) : tf.matMul(a, W),
      gradFunc: (dy: Tensor) => (kept ? tf.matMul(dy as Tensor2D, transposed()) : tf.matMul(dy as Tensor2D, W, false, true)),
    };
  });
  return f(x) as Tensor2D;
}

/** "blocks.3.hook_resid_pre" → {layer 3, point hook_resid_pre}. */
export function parseResidHook(name: string, nLayer: number): { layer: number; point: ResidHook } {
  const m = /^blocks\.(\d+)\.(hook_resid_pre|hook_resid_mid|hook_resid_post)$/.exec(name);
  if (!m) throw new ModelInputError(`"${name}" is not a residual hook (blocks.{i}.hook_resid_pre|mid|post)`);
  const layer = Number(m[1]);
  if (layer >= nLayer) throw new ModelInputError(`${name}: the model has layers 0..${nLayer - 1}`);
  return { layer, point: m[2] as ResidHook };
}

export { ModelInputError };

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * GPT-2's gelu_new, 0.5·x·(1 + tanh u) with u = √(2/π)·(x + 0.044715·x³), computed as the identical x·σ(2u)
 * (1 + tanh u = 2σ(2u)): TF.js's wasm sigmoid is vectorised and its tanh is not (0.2 against 3.6 ms on 64 × 3,072
 * values). The derivative is written out from the saved x and s = σ(2u) (7 kernels forward and 9 backward, where
 * the tanh form recomputing tanh u took 9 and 19),
 *   s + 2·x·s·(1 − s)·u',  u' = √(2/π)·(1 + 3·0.044715·x²),
 * so a backward pass keeps two tensors per MLP, not the eight intermediates automatic differentiation would
 * (about 90 MB per layer for 64 GPT-2-small prompts of 15 tokens), and computes no transcendental function.
 */
export const gelu = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as Tensor;
  const s = tf.sigmoid(tf.mul(2 * GELU_C, tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x))))));
  (args[1] as tf.GradSaveFunc)([x, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: Tensor, [xs, ss]: Tensor[]) => {
      const twoDu = tf.add(2 * GELU_C, tf.mul(6 * GELU_C * 0.044715, tf.square(xs)));
      const d = tf.add(ss, tf.mul(tf.mul(xs, tf.mul(ss, tf.sub(1, ss))), twoDu));
      return tf.mul(dy, d);
    },
  };
}) as (x: Tensor) => Tensor;

/** x̂ = (x − mean) / std over the last axis, std = √(var + ε); the backward pass reuses both. */
function normalise(x: Tensor, eps: number): { xhat: Tensor; std: Tensor } {
  const mean = tf.mean(x, -1, true);
  const xc = tf.sub(x, mean);
  const std = tf.sqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps));
  return { xhat: tf.div(xc, std), std };
}

/**
 * LayerNorm. With frozen w and b (a recovery step) its backward is written out,
 *   dx = (g − mean(g) − x̂ · mean(g · x̂)) / std,  g = dy · w,
 * 8 kernels where automatic differentiation of the moments takes about 25; on a GPU every kernel is a dispatch
 * whose fixed cost, not its arithmetic, is what a step at one position per prompt pays. The forward is the same
 * arithmetic either way. Trainable weights (model training) take the automatic gradient, which also gives dw, db.
 */
function layerNorm(x: Tensor, w: Tensor1D, b: Tensor1D, eps: number): Tensor {
  if (w instanceof tf.Variable || b instanceof tf.Variable) {
    const { xhat } = normalise(x, eps);
    return tf.add(tf.mul(xhat, w), b);
  }
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const { xhat, std } = normalise(args[0] as Tensor, eps);
    (args[1] as tf.GradSaveFunc)([xhat, std]);
    return {
      value: tf.add(tf.mul(xhat, w), b),
      gradFunc: (dy: Tensor, [xh, std]: Tensor[]) => {
        const g = tf.mul(dy, w);
        const centred = tf.sub(g, tf.mean(g, -1, true));
        return tf.div(tf.sub(centred, tf.mul(xh, tf.mean(tf.mul(g, xh), -1, true))), std);
      },
    };
  });
  return f(x);
}

/** Every hook point of an n-layer model, in the order the forward pass reaches them. */
export function hookNames(nLayer: number): string[] {
  const block = [
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
  const names = ['hook_embed', 'hook_pos_embed'];
  for (let i = 0; i < nLayer; i++) names.push(...block.map((h) => `blocks.${i}.${h}`));
  names.push('ln_final.hook_normalized');
  return names;
}

export class GPT2 {
  private validHooks?: Set<string>;

  constructor(
    readonly config: GPT2Config,
    readonly weights: GPT2Weights,
  ) {}

  /** All hook point names, in forward order. */
  hookNames(): string[] {
    return hookNames(this.config.nLayer);
  }

  /** A misspelt hook name would otherwise silently do nothing. */
  private checkHooks(opts: RunOptions): void {
    const names = [...Object.keys(opts.hooks ?? {}), ...(opts.cache?.keys() ?? [])];
    if (!names.length) return;
    this.validHooks ??= new Set(this.hookNames());
    for (const n of names) {
      if (!this.validHooks.has(n))
        throw new ModelInputError(
          `unknown hook point "${n}" (e.g. blocks.0.hook_resid_pre, blocks.0.attn.hook_pattern; the model has layers 0..${this.config.nLayer - 1})`,
        );
    }
  }

  private hook(name: string, x: Tensor, opts: RunOptions): Tensor {
    const fn = opts.hooks?.[name];
    if (fn) {
      const out = fn(x, name);
      if (out) {
        if (!tf.util.arraysEqual(out.shape, x.shape))
          throw new ModelInputError(`hook ${name} returned shape [${out.shape.join(', ')}], expected [${x.shape.join(', ')}]`);
        x = out;
      }
    }
    if (opts.cache?.has(name)) opts.cache.set(name, tf.keep(x));
    return x;
  }

  /** Token + position embeddings: blocks.0.hook_resid_pre. ids are [B][T] (right-padded when ragged). */
  embed(ids: number[][], opts: RunOptions = {}): Tensor3D {
    const { vocabSize, nCtx } = this.config;
    const B = ids.length;
    const T = ids[0]?.length ?? 0;
    if (!B || !T) throw new ModelInputError('no tokens to run');
    if (T > nCtx) throw new ModelInputError(`sequence of ${T} tokens exceeds the context of ${nCtx}`);
    for (const row of ids) {
      if (row.length !== T) throw new ModelInputError('token batches must be rectangular (pad them)');
      for (const id of row)
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
          throw new ModelInputError(`token id ${id} is outside the vocabulary 0..${vocabSize - 1}`);
    }
    const flat = tf.tensor1d(ids.flat(), 'int32');
    const tok =
      opts.embedding === 'onehot' ? tf.matMul(tf.oneHot(flat, vocabSize).toFloat(), this.weights.W_E) : tf.gather(this.weights.W_E, flat);
    const embed = this.hook('hook_embed', tf.reshape(tok, [B, T, -1]), opts);
    const pos = this.hook(
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
    const q = this.hook(`${p}hook_q`, qs, opts);
    const k = this.hook(`${p}hook_k`, ks, opts);
    const v = this.hook(`${p}hook_v`, vs, opts);
    // [B, T, H, dh] ↔ [B, H, T, dh]; at one position both are the same memory order, so a reshape (no kernel).
    const swap = (u: Tensor, shape: [number, number, number, number]) =>
      (T === 1 ? tf.reshape(u, shape) : tf.transpose(u, [0, 2, 1, 3])) as Tensor4D;
    const qh = swap(q, [B, nHead, T, dh]);
    const kh = swap(k, [B, nHead, T, dh]);
    const vh = swap(v, [B, nHead, T, dh]);
    // Keys and values of earlier positions, when cached, come before these: Tk keys in all.
    const past = opts.pastKV?.[i];
    const Tk = T + (past?.k.shape[2] ?? 0);
    // Causal mask (query t sits at position Tk − T + t), plus padded keys; a large negative (not −∞) keeps
    // fully masked rows finite. As in TransformerLens, hook_attn_scores sees the scores after masking.
    // No chained tensor methods: the worker registers tfjs-core ops without the chained-op prototypes.
    const qk = past ? matMulOverCache(qh, past.k, kh, true) : tf.matMul(qh, kh, false, true);
    const raw = tf.div(qk, Math.sqrt(dh)); // [B, H, T, Tk]
    // One query position with no padding (a step from the hook onward at the last token) sees every key: no mask,
    // and none of the ten kernels that build it.
    let masked = raw;
    if (T > 1 || opts.attentionMask) {
      let allowed = tf.reshape(tf.linalg.bandPart(tf.ones([T, Tk]), -1, Tk - T), [1, 1, T, Tk]);
      if (opts.attentionMask) allowed = tf.mul(allowed, tf.reshape(opts.attentionMask, [B, 1, 1, Tk]));
      masked = tf.add(raw, tf.mul(tf.sub(1, allowed), -1e9));
    }
    const scores = this.hook(`${p}hook_attn_scores`, masked, opts);
    const pattern = this.hook(`${p}hook_pattern`, tf.softmax(scores, -1), opts);
    const ph = pattern as Tensor4D;
    const zh = past ? matMulOverCache(ph, past.v, vh, false) : tf.matMul(ph, vh);
    const z = this.hook(`${p}hook_z`, swap(zh, [B, T, nHead, dh]), opts); // [B, T, H, dh]
    const out = this.linear(tf.reshape(z, [B * T, dModel]), w.W_O, w.b_O);
    return tf.reshape(out, [B, T, dModel]) as Tensor3D;
  }

  private mlp(i: number, x: Tensor3D, opts: RunOptions): Tensor3D {
    const { dModel } = this.config;
    const w = this.weights.blocks[i];
    const [B, T] = x.shape;
    const dMlp = w.W_in.shape[1];
    const pre = this.hook(
      `blocks.${i}.mlp.hook_pre`,
      tf.reshape(this.linear(tf.reshape(x, [B * T, dModel]), w.W_in, w.b_in), [B, T, dMlp]),
      opts,
    );
    const post = this.hook(`blocks.${i}.mlp.hook_post`, gelu(pre), opts);
    return tf.reshape(this.linear(tf.reshape(post, [B * T, dMlp]), w.W_out, w.b_out), [B, T, dModel]) as Tensor3D;
  }

  /**
   * Run block i from `from` up to and including the hook `to` (default: the whole block). Each block is its own
   * tidy scope, so a forward holds one block's intermediates at a time (under a gradient tape the tape keeps
   * what the backward pass needs).
   */
  private block(i: number, x: Tensor3D, opts: RunOptions, from: ResidHook = 'hook_resid_pre', to: ResidHook = 'hook_resid_post'): Tensor3D {
    return tf.tidy(() => this.blockBody(i, x, opts, from, to));
  }

  private blockBody(i: number, x: Tensor3D, opts: RunOptions, from: ResidHook, to: ResidHook): Tensor3D {
    const { lnEps } = this.config;
    const w = this.weights.blocks[i];
    const p = `blocks.${i}.`;
    if (from === 'hook_resid_pre') {
      x = this.hook(`${p}hook_resid_pre`, x, opts) as Tensor3D;
      if (to === 'hook_resid_pre') return x;
      const normed = this.hook(`${p}ln1.hook_normalized`, layerNorm(x, w.ln1_w, w.ln1_b, lnEps), opts) as Tensor3D;
      const attnOut = this.hook(`${p}hook_attn_out`, this.attention(i, normed, opts), opts);
      x = tf.add(x, attnOut) as Tensor3D;
      from = 'hook_resid_mid';
    }
    if (from === 'hook_resid_mid') {
      x = this.hook(`${p}hook_resid_mid`, x, opts) as Tensor3D;
      if (to === 'hook_resid_mid') return x;
      const normed = this.hook(`${p}ln2.hook_normalized`, layerNorm(x, w.ln2_w, w.ln2_b, lnEps), opts) as Tensor3D;
      const mlpOut = this.hook(`${p}hook_mlp_out`, this.mlp(i, normed, opts), opts);
      x = tf.add(x, mlpOut) as Tensor3D;
    }
    return this.hook(`${p}hook_resid_post`, x, opts) as Tensor3D;
  }

  /** ln_final and the unembedding (W_U, or GPT-2's tied W_Eᵀ): [B, T, V] (or [B, 1, V] with opts.logitsAt). */
  unembed(x: Tensor3D, opts: RunOptions = {}): Tensor3D {
    const { dModel, vocabSize } = this.config;
    const [B, T] = x.shape;
    if (opts.logitsAt) {
      const at = opts.logitsAt;
      if (at.length !== B || at.some((t) => !Number.isInteger(t) || t < 0 || t >= T)) {
        throw new ModelInputError(`logitsAt must hold one position in 0..${T - 1} per batch row (${B}), got [${at.join(', ')}]`);
      }
      // Row selection as a one-hot matmul: differentiable on every backend (gather's gradient is not on wasm).
      x = tf.matMul(tf.reshape(tf.oneHot(tf.tensor1d([...at], 'int32'), T), [B, 1, T]), x) as Tensor3D;
    }
    const rows = x.shape[1];
    const normed = tf.reshape(this.hook('ln_final.hook_normalized', this.finalNorm(x), opts), [B * rows, dModel]) as Tensor2D;
    return tf.reshape(this.unembedMatmul(normed), [B, rows, vocabSize]) as Tensor3D;
  }

  /** ln_final. */
  finalNorm<T extends Tensor>(x: T): T {
    return layerNorm(x, this.weights.lnf_w, this.weights.lnf_b, this.config.lnEps) as T;
  }

  private W_Et?: Tensor2D;
  private readonly transposed = new Map<Tensor2D, Tensor2D>();

  /** x · W + b for a block weight (see matMulFrozen). */
  private linear(x: Tensor, W: Tensor2D, b?: Tensor1D): Tensor2D {
    return matMulFrozen(x as Tensor2D, W, () => this.transposedOf(W), b);
  }

  /** Wᵀ for matMulFrozen's gradient on wasm: made on first use, kept until the model is disposed. */
  private transposedOf(W: Tensor2D): Tensor2D {
    let Wt = this.transposed.get(W);
    if (!Wt) {
      Wt = tf.keep(tf.transpose(W));
      this.transposed.set(W, Wt);
    }
    return Wt;
  }

  /** x · W_U + b_U, or x · W_Eᵀ for a tied unembedding. */
  private unembedMatmul(x: Tensor2D): Tensor2D {
    const { W_U, b_U } = this.weights;
    if (W_U) return this.linear(x, W_U, b_U);
    const W_E = this.weights.W_E;
    // Frozen weights on wasm get a cached W_Et = W_Eᵀ (GPT-2 small, 128 rows: 0.75 s against 3.7 s with
    // transposeB); other backends and trainable (Variable) weights use transposeB, which costs no extra memory.
    if (keepTransposes() && !(W_E instanceof tf.Variable)) {
      this.W_Et ??= tf.keep(tf.transpose(W_E));
      return tf.matMul(x, this.W_Et);
    }
    return tf.matMul(x, W_E, false, true);
  }

  /** Logits [B, T, V] for token ids [B][T]. */
  forward(ids: number[][], opts: RunOptions = {}): Tensor3D {
    this.checkHooks(opts);
    let x = this.embed(ids, opts);
    for (let i = 0; i < this.config.nLayer; i++) x = this.block(i, x, opts);
    return this.unembed(x, opts);
  }

  /**
   * Logits from a residual given at a hook point, e.g. forwardFrom('blocks.2.hook_resid_pre', h). Hooks at that
   * point and downstream still apply (the given residual passes through the hook at `hookName` first).
   */
  forwardFrom(hookName: string, resid: Tensor3D, opts: RunOptions = {}): Tensor3D {
    return this.unembed(this.residualFrom(hookName, resid, opts), opts);
  }

  /** The final residual (before ln_final) from a residual given at a hook point: forwardFrom without the unembedding. */
  residualFrom(hookName: string, resid: Tensor3D, opts: RunOptions = {}): Tensor3D {
    const { layer, point } = parseResidHook(hookName, this.config.nLayer);
    this.checkHooks(opts);
    if (resid.rank !== 3 || resid.shape[2] !== this.config.dModel)
      throw new ModelInputError(`residual for ${hookName} must be [batch, pos, ${this.config.dModel}], got [${resid.shape.join(', ')}]`);
    if (resid.shape[1] > this.config.nCtx)
      throw new ModelInputError(`sequence of ${resid.shape[1]} tokens exceeds the context of ${this.config.nCtx}`);
    let x = resid;
    if (point === 'hook_resid_post') {
      x = this.hook(hookName, x, opts) as Tensor3D;
      for (let i = layer + 1; i < this.config.nLayer; i++) x = this.block(i, x, opts);
    } else {
      x = this.block(layer, x, opts, point);
      for (let i = layer + 1; i < this.config.nLayer; i++) x = this.block(i, x, opts);
    }
    return x;
  }

  /** The residual at a hook point (nothing after it is run). */
  runToHook(ids: number[][], hookName: string, opts: RunOptions = {}): Tensor3D {
    const { layer, point } = parseResidHook(hookName, this.config.nLayer);
    this.checkHooks(opts);
    let x = this.embed(ids, opts);
    for (let i = 0; i < layer; i++) x = this.block(i, x, opts);
    return this.block(layer, x, opts, 'hook_resid_pre', point);
  }

  /** Every weight tensor, in a fixed order (for training and disposal). */
  parameters(): Tensor[] {
    const w = this.weights;
    const unembed = w.W_U ? [w.W_U, ...(w.b_U ? [w.b_U] : [])] : [];
    return [w.W_E, w.W_pos, ...w.blocks.flatMap((b) => Object.values(b) as Tensor[]), w.lnf_w, w.lnf_b, ...unembed];
  }

  dispose(): void {
    tf.dispose(this.parameters());
    this.W_Et?.dispose();
    this.W_Et = undefined;
    tf.dispose([...this.transposed.values()]);
    this.transposed.clear();
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
