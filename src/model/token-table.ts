// A token matrix [V, d] — an embedding, or an unembedding stored as Hugging Face stores lm_head, one row per token —
// held whole (float32, or 16-bit where the backend multiplies 16 bits natively) or only as the rows of the tokens a
// run reads (LoadPlan.tokens): gemma-2-2b's is 256,000 × 2,304, 2.4 GB in float32, of which a recovery run reads the
// prompts' few hundred rows and the read-out's two or three.
import { tf, type Tensor, type Tensor2D } from '../core/tf.ts';
import { ModelInputError } from './errors.ts';
import { TiedUnembedding } from './transformer.ts';
import { embed16, linear16T, type Weight16 } from './weights16.ts';

export class TokenTable {
  private readonly tied = new TiedUnembedding();

  private constructor(
    readonly vocabSize: number,
    readonly d: number,
    /** The whole matrix [V, d]; null when only `rows` are kept. */
    private readonly whole: Tensor2D | Weight16 | null,
    /** The kept rows [k, d] and each kept token's row. */
    private readonly kept: { W: Tensor2D; row: Map<number, number> } | null,
  ) {}

  static whole(W: Tensor2D | Weight16): TokenTable {
    const [V, d] = W.shape;
    return new TokenTable(V, d, W, null);
  }

  /** Only the rows of `tokens` ([tokens.length, d] float32 values, in that order). */
  static rows(tokens: readonly number[], data: Float32Array, vocabSize: number, d: number): TokenTable {
    if (data.length !== tokens.length * d) throw new ModelInputError(`${tokens.length} rows of ${d} need ${tokens.length * d} values`);
    return new TokenTable(vocabSize, d, null, { W: tf.tensor2d(data, [tokens.length, d]), row: new Map(tokens.map((t, i) => [t, i])) });
  }

  /** Whether the whole vocabulary is held (a partial table reads only its tokens). */
  get isWhole(): boolean {
    return this.whole !== null;
  }

  get keptTokens(): number {
    return this.whole ? this.vocabSize : (this.kept as { row: Map<number, number> }).row.size;
  }

  private rowsOf(tokens: ArrayLike<number>, what: string): number[] {
    const row = (this.kept as { row: Map<number, number> }).row;
    return Array.from(tokens, (t) => {
      const r = row.get(t);
      if (r === undefined)
        throw new ModelInputError(
          `${what}: token ${t} is not among the ${row.size} tokens this run loaded (the prompts' and the read-out's); the model keeps only those rows of its ${this.vocabSize}-token vocabulary`,
        );
      return r;
    });
  }

  /** The rows of `ids` [n, d] (float32). `onehot`: as a one-hot product, differentiable on every backend (whole float32 tables only). */
  lookup(ids: readonly number[], onehot = false): Tensor2D {
    const flat = tf.tensor1d([...ids], 'int32');
    const { whole } = this;
    if (whole && !(whole instanceof tf.Tensor)) return embed16(whole, ids);
    if (whole) return (onehot ? tf.matMul(tf.cast(tf.oneHot(flat, this.vocabSize), 'float32'), whole) : tf.gather(whole, flat)) as Tensor2D;
    const kept = this.kept as { W: Tensor2D };
    return tf.gather(kept.W, tf.tensor1d(this.rowsOf(ids, 'embedding'), 'int32')) as Tensor2D;
  }

  /** The rows of `tokens`, transposed: [d, C], the unembedding's columns for a logit read-out. */
  columns(tokens: readonly number[]): Tensor2D {
    return tf.tidy(() => tf.transpose(this.lookup(tokens)) as Tensor2D);
  }

  /** x [R, d] · Eᵀ → [R, V]: every token's logit (a whole table only). */
  logits(x: Tensor2D): Tensor2D {
    const { whole } = this;
    if (!whole)
      throw new ModelInputError(
        `the whole vocabulary's logits need the whole unembedding, and this run loaded ${this.keptTokens} of its ${this.vocabSize} rows (the prompts' and the read-out's tokens: what fits)`,
      );
    return whole instanceof tf.Tensor ? this.tied.logits(x, whole) : linear16T(x, whole);
  }

  /** The same table sharing this one's tensors (tf.clone: counted references, no copy), to be disposed on its own. */
  share(): TokenTable {
    const { whole, kept } = this;
    if (whole && !(whole instanceof tf.Tensor)) throw new ModelInputError('a 16-bit token table cannot be shared');
    return new TokenTable(this.vocabSize, this.d, whole ? tf.clone(whole) : null, kept ? { W: tf.clone(kept.W), row: kept.row } : null);
  }

  /** The float32 tensors held (a 16-bit whole table holds its own; dispose frees everything). */
  tensors(): Tensor[] {
    return this.whole instanceof tf.Tensor ? [this.whole] : this.kept ? [this.kept.W] : [];
  }

  dispose(): void {
    tf.dispose(this.tensors());
    if (this.whole && !(this.whole instanceof tf.Tensor)) this.whole.dispose();
    this.tied.dispose();
  }
}
