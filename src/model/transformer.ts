// The part of a LanguageModel that is the same in every family: running blocks between hook points (forward,
// runToHook, residualFrom, forwardFrom), the final norm and unembedding at one position per row, hook-name checks,
// and the logit read-out over a few unembedding columns. A family writes its embedding, its block (from one
// residual point to another), its final norm and its unembedding of normalised rows.
import { keepTransposes, tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D } from '../core/tf.ts';
import { ModelInputError } from './errors.ts';
import { applyHook, checkHookNames, checkResidual, parseResidHook, rowsAt } from './hooks.ts';
import { layerNorm, matMulFrozen, TransposeCache } from './layers.ts';
import type { LanguageModel, LogitColumns, ModelConfig, ResidPoint, RunOptions } from './types.ts';

const ALL_POINTS: readonly ResidPoint[] = ['hook_resid_pre', 'hook_resid_mid', 'hook_resid_post'];

export abstract class Transformer<C extends ModelConfig> implements LanguageModel {
  abstract readonly family: string;
  abstract readonly kvHooks: { k: string; v: string };
  /** Wᵀ copies for the frozen products' gradient on wasm (matMulFrozen), kept until dispose. */
  protected readonly transposes = new TransposeCache();
  private validHooks?: Set<string>;

  constructor(readonly config: C) {}

  abstract hookNames(): string[];
  /** The token embeddings, blocks.0.hook_resid_pre, of right-padded ids [B][T]. */
  abstract embed(ids: number[][], opts?: RunOptions): Tensor3D;
  /** Block i from residual point `from` up to and including `to`. */
  protected abstract blockBody(i: number, x: Tensor3D, opts: RunOptions, from: ResidPoint, to: ResidPoint): Tensor3D;
  /** The final norm. */
  abstract finalNorm<T extends Tensor>(x: T): T;
  /** Logits [R, V] of final-normalised rows [R, d]: the unembedding, with any bias and soft-capping. */
  protected abstract unembedRows(x: Tensor2D): Tensor2D;
  abstract logitColumns(tokens: readonly number[]): LogitColumns;
  abstract dispose(): void;

  /** x · W + b for a frozen weight (matMulFrozen): on wasm the backward pass multiplies by a kept Wᵀ. */
  protected linear(x: Tensor, W: Tensor2D, b?: Tensor1D): Tensor2D {
    return matMulFrozen(x as Tensor2D, W, () => this.transposes.of(W), b);
  }

  /** The residual points this model has (a parallel-residual block has no hook_resid_mid). */
  protected residPoints(): readonly ResidPoint[] {
    return ALL_POINTS;
  }

  residHook(name: string): { layer: number; point: ResidPoint } {
    return parseResidHook(name, this.config.nLayer, this.residPoints());
  }

  protected checkHooks(opts: RunOptions): void {
    checkHookNames(opts, () => (this.validHooks ??= new Set(this.hookNames())), this.config.nLayer);
  }

  /**
   * Block i from `from` up to and including `to` (default: the whole block), in its own tidy scope, so a forward
   * holds one block's intermediates at a time (under a gradient tape the tape keeps what the backward pass needs).
   */
  protected block(
    i: number,
    x: Tensor3D,
    opts: RunOptions,
    from: ResidPoint = 'hook_resid_pre',
    to: ResidPoint = 'hook_resid_post',
  ): Tensor3D {
    return tf.tidy(() => this.blockBody(i, x, opts, from, to));
  }

  /** The final norm and the unembedding: [B, T, V] (or [B, 1, V] with opts.logitsAt). */
  unembed(x: Tensor3D, opts: RunOptions = {}): Tensor3D {
    const { dModel, vocabSize } = this.config;
    const B = x.shape[0];
    if (opts.logitsAt) x = rowsAt(x, opts.logitsAt) as Tensor3D;
    const rows = x.shape[1];
    const normed = tf.reshape(applyHook('ln_final.hook_normalized', this.finalNorm(x), opts), [B * rows, dModel]) as Tensor2D;
    return tf.reshape(this.unembedRows(normed), [B, rows, vocabSize]) as Tensor3D;
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
}

/** The weights a LayerNorm model unembeds with: its embedding, final LayerNorm and, when untied, W_U and b_U. */
export interface LnUnembedWeights {
  W_E: Tensor2D;
  lnf_w: Tensor1D;
  lnf_b: Tensor1D;
  /** An unembedding of its own [d, V] and its bias [V] (untied, or TransformerLens-processed); absent, W_Eᵀ. */
  W_U?: Tensor2D;
  b_U?: Tensor1D;
}

/**
 * A transformer with a final LayerNorm and a tied or untied unembedding (GPT-2, GPT-NeoX): the final norm, the
 * unembedding of normalised rows, the read-out's columns and disposal are the same in both.
 */
export abstract class LayerNormTransformer<C extends ModelConfig & { lnEps: number }> extends Transformer<C> {
  abstract readonly weights: LnUnembedWeights;
  private readonly tied = new TiedUnembedding();

  /** Every weight tensor, in a fixed order (for training and disposal). */
  abstract parameters(): Tensor[];

  finalNorm<T extends Tensor>(x: T): T {
    return layerNorm(x, this.weights.lnf_w, this.weights.lnf_b, this.config.lnEps) as T;
  }

  /** x · W_U + b_U, or x · W_Eᵀ for a tied unembedding. */
  protected unembedRows(x: Tensor2D): Tensor2D {
    const { W_U, b_U, W_E } = this.weights;
    return W_U ? this.linear(x, W_U, b_U) : this.tied.logits(x, W_E);
  }

  /** The read tokens' unembedding columns (W_U's, or W_E's rows transposed) and b_U there, after the final norm. */
  logitColumns(tokens: readonly number[]): LogitColumns {
    checkTokens(tokens, this.config.vocabSize);
    const { W_E, W_U, b_U } = this.weights;
    const [W, b] = tf.tidy(() => {
      const ids = tf.tensor1d([...tokens], 'int32');
      const cols = (W_U ? tf.gather(W_U, ids, 1) : tf.transpose(tf.gather(W_E, ids))) as Tensor2D;
      return [cols, b_U ? (tf.gather(b_U, ids) as Tensor1D) : undefined];
    });
    return columnReadout(tokens, W, b, (rows) => this.finalNorm(rows));
  }

  /** The unembedding's weights in parameters() order (W_U and b_U when the model has them). */
  protected unembedParameters(): Tensor[] {
    const w = this.weights;
    return w.W_U ? [w.W_U, ...(w.b_U ? [w.b_U] : [])] : [];
  }

  dispose(): void {
    tf.dispose(this.parameters());
    this.tied.dispose();
    this.transposes.dispose();
  }
}

/** Refuse read-out tokens outside the vocabulary. */
export function checkTokens(tokens: readonly number[], vocabSize: number): void {
  for (const t of tokens)
    if (!Number.isInteger(t) || t < 0 || t >= vocabSize)
      throw new ModelInputError(`token ${t} is outside the vocabulary 0..${vocabSize - 1}`);
}

/**
 * A logit read-out over a few unembedding columns W [d, C] (and the bias b [C] there): logits = post(norm(rows) · W
 * + b), its gradient through a kept Wᵀ on wasm (matMulFrozen). Owns W and b.
 */
export function columnReadout(
  tokens: readonly number[],
  W: Tensor2D,
  b: Tensor1D | undefined,
  norm: (rows: Tensor2D) => Tensor2D,
  post: (logits: Tensor2D) => Tensor2D = (l) => l,
): LogitColumns {
  let Wt: Tensor2D | undefined;
  return {
    tokens,
    logits: (rows) => {
      const logits = matMulFrozen(norm(rows), W, () => {
        Wt ??= tf.keep(tf.transpose(W));
        return Wt;
      });
      return post(b ? (tf.add(logits, b) as Tensor2D) : logits);
    },
    dispose: () => {
      W.dispose();
      b?.dispose();
      Wt?.dispose();
    },
  };
}

/**
 * x · W_Eᵀ for a tied unembedding: on wasm by a kept W_Eᵀ (a transposeB product runs about 10× slower there: GPT-2
 * small, 128 rows, 0.75 s against 3.7 s); other backends, and trainable (Variable) weights, use transposeB, which
 * costs no extra memory.
 */
export class TiedUnembedding {
  private Wt?: Tensor2D;

  logits(x: Tensor2D, W_E: Tensor2D): Tensor2D {
    if (keepTransposes() && !(W_E instanceof tf.Variable)) {
      this.Wt ??= tf.keep(tf.transpose(W_E));
      return tf.matMul(x, this.Wt);
    }
    return tf.matMul(x, W_E, false, true);
  }

  dispose(): void {
    this.Wt?.dispose();
    this.Wt = undefined;
  }
}
