// Recovery from the hook onward (docs/method.md §2.4.1). Nothing before the hook
// depends on δ, and with causal attention nothing at a position before the first δ position does either. So a
// recovery step needs, at every layer after the hook, only the positions from the first δ position on, with
// the earlier positions' keys and values computed once per run; and a logit readout needs ln_final at one
// position per row and the few unembedding columns it weights, not the whole vocabulary.
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D, type Tensor4D } from '../core/tf.ts';
import { ModelInputError } from './errors.ts';
import type { HookFn, LanguageModel, LogitColumns, PastKV } from './types.ts';

/** B_n = Σ weight · logit[n, at_n, token] over row n's (token, weight) terms: a logit difference, a margin. */
export interface LogitReadout {
  /** The position read in each row. */
  at: readonly number[];
  terms: readonly (readonly (readonly [token: number, weight: number])[])[];
}

/** A logit readout compiled against a model: the read columns of the unembedding and the weights over them. */
export class ReadoutHead {
  readonly at: readonly number[];
  private readonly columns: LogitColumns;
  private readonly weights: Tensor2D; // [N, C]

  constructor(model: LanguageModel, readout: LogitReadout) {
    const { vocabSize } = model.config;
    const n = readout.at.length;
    if (readout.terms.length !== n) throw new ModelInputError(`the readout has ${n} positions but ${readout.terms.length} rows of terms`);
    const tokens = [...new Set(readout.terms.flatMap((row) => row.map(([t]) => t)))].sort((a, b) => a - b);
    for (const t of tokens)
      if (!Number.isInteger(t) || t < 0 || t >= vocabSize)
        throw new ModelInputError(`readout token ${t} is outside the vocabulary 0..${vocabSize - 1}`);
    if (!tokens.length) throw new ModelInputError('the readout weights no token');
    const column = new Map(tokens.map((t, c) => [t, c]));
    const w = new Float32Array(n * tokens.length);
    readout.terms.forEach((row, i) => {
      for (const [t, v] of row) w[i * tokens.length + (column.get(t) as number)] += v;
    });
    this.at = readout.at;
    this.columns = model.logitColumns(tokens);
    this.weights = tf.tensor2d(w, [n, tokens.length]);
  }

  /** The one-hot rows [N, 1, T'] that pick each row's readout position from a residual starting at `offset`. */
  selection(n: number, t: number, offset: number): Tensor3D {
    const data = new Float32Array(n * t);
    this.at.forEach((p, i) => {
      if (p < offset || p >= offset + t) throw new ModelInputError(`readout position ${p} is outside ${offset}..${offset + t - 1}`);
      data[i * t + p - offset] = 1;
    });
    return tf.tensor3d(data, [n, 1, t]);
  }

  /**
   * B [N] from the final residual x [N, T', d] whose first position is `offset` (so row n reads at_n − offset).
   * A caller that applies the head every step passes `sel` (from selection()), made once.
   */
  apply(x: Tensor3D, offset = 0, sel?: Tensor3D): Tensor1D {
    const [n, t] = x.shape;
    // Row selection as a one-hot matmul: differentiable on every backend (gather's gradient is not on wasm).
    const rows = tf.reshape(tf.matMul(sel ?? this.selection(n, t, offset), x), [n, -1]) as Tensor2D;
    return tf.sum(tf.mul(this.columns.logits(rows), this.weights), 1) as Tensor1D;
  }

  dispose(): void {
    this.weights.dispose();
    this.columns.dispose();
  }
}

/** The model from a hook onward, for inputs whose positions before `from` equal a given prefix. */
export class HookOnward {
  private constructor(
    private readonly model: LanguageModel,
    readonly hook: string,
    readonly from: number,
    private readonly past: (PastKV | undefined)[],
    private readonly hooks?: Record<string, HookFn>,
  ) {}

  /**
   * Caches, at every attention layer after the hook, the keys and values of prefix [N, from, d] (from may be 0).
   * `hooks` (position-wise maps at later hooks, e.g. a later layer's defence) apply to the prefix and every run.
   */
  static create(model: LanguageModel, hook: string, prefix: Tensor3D, hooks?: Record<string, HookFn>): HookOnward {
    const { layer, point } = model.residHook(hook);
    const from = prefix.shape[1];
    const past: (PastKV | undefined)[] = [];
    if (from > 0) {
      const first = point === 'hook_resid_pre' ? layer : layer + 1;
      const cache = new Map<string, Tensor>();
      const { k, v } = model.kvHooks;
      for (let i = first; i < model.config.nLayer; i++) {
        cache.set(`blocks.${i}.${k}`, prefix);
        cache.set(`blocks.${i}.${v}`, prefix);
      }
      tf.tidy(() => {
        model.residualFrom(hook, prefix, { cache, hooks });
      });
      for (let i = first; i < model.config.nLayer; i++) {
        const kv = (name: string) => {
          const x = cache.get(`blocks.${i}.${name}`) as Tensor;
          const t = tf.keep(tf.transpose(x, [0, 2, 1, 3]) as Tensor4D);
          x.dispose();
          return t;
        };
        past[i] = { k: kv(k), v: kv(v) };
      }
    }
    return new HookOnward(model, hook, from, past, hooks);
  }

  /** The final residual (before ln_final) at positions from.., given the hook's residual there [N, T − from, d]. */
  residual(suffix: Tensor3D): Tensor3D {
    return this.model.residualFrom(this.hook, suffix, this.from > 0 ? { pastKV: this.past, hooks: this.hooks } : { hooks: this.hooks });
  }

  dispose(): void {
    tf.dispose(this.past.flatMap((kv) => (kv ? [kv.k, kv.v] : [])));
  }
}
