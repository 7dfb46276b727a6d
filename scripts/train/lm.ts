// Training the built-in language model on the synthetic world: next-token cross-entropy (answer tokens
// weighted up), Adam with warm-up and cosine decay, global-norm clipping. Deterministic given the seed.
// The embedding is one-hot·W_E so the gradient exists on TF.js' wasm backend (no gather gradient there).
import { tf, type Tensor, type Tensor2D, type Tensor3D, type Variable } from '../../src/core/tf.ts';
import { GPT2, type GPT2Config, type GPT2Weights } from '../../src/model/families/gpt2/model.ts';
import { randomGpt2 } from '../../src/model/families/gpt2/load.ts';
import type { WordTokenizer } from '../../src/model/tokenizers/word.ts';
import { batchIds } from '../../src/world/evaluate.ts';
import type { Example } from '../../src/world/generate.ts';

export interface LmTrainOptions {
  steps: number;
  batch: number;
  lr: number;
  warmup: number;
  answerWeight: number;
  clip: number;
  weightDecay: number;
}

/** A model whose weights are tf.Variables, so gradients can be taken w.r.t. them. */
export function trainableGpt2(config: GPT2Config, seed: number, init?: GPT2Weights): GPT2 {
  const base = init ? new GPT2(config, init) : randomGpt2(config, seed);
  const v = <T extends Tensor>(t: T) => tf.variable(t, true) as unknown as T;
  const w = base.weights;
  return new GPT2(config, {
    W_E: v(w.W_E),
    W_pos: v(w.W_pos),
    blocks: w.blocks.map((b) => Object.fromEntries(Object.entries(b).map(([k, t]) => [k, v(t as Tensor)])) as unknown as typeof b),
    lnf_w: v(w.lnf_w),
    lnf_b: v(w.lnf_b),
  });
}

/** Weighted next-token cross-entropy for a batch; weight 0 on padding, answerWeight on answer tokens. */
export function lmLoss(model: GPT2, tok: WordTokenizer, examples: Example[], answerWeight: number): tf.Scalar {
  const { ids, lengths } = batchIds(tok, examples, 'full');
  const T = ids[0].length - 1;
  const inputs = ids.map((r) => r.slice(0, T));
  const targets = ids.map((r) => r.slice(1));
  const weights = examples.map((e, b) =>
    Array.from({ length: T }, (_, t) => (t + 1 < lengths[b] ? (t + 1 >= e.promptLength ? answerWeight : 1) : 0)),
  );
  const logits = model.forward(inputs, { embedding: 'onehot' }) as Tensor3D;
  const logp = tf.logSoftmax(logits, -1);
  const onehot = tf.oneHot(tf.tensor2d(targets, undefined, 'int32'), model.config.vocabSize).toFloat();
  const nll = tf.neg(tf.sum(tf.mul(logp, onehot), -1)); // [B, T]
  const w = tf.tensor2d(weights);
  return tf.div(tf.sum(tf.mul(nll, w)), tf.sum(w)) as tf.Scalar;
}

export class AdamState {
  step = 0;
  readonly m: Variable[];
  readonly v: Variable[];
  constructor(readonly params: Variable[]) {
    this.m = params.map((p) => tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    this.v = params.map((p) => tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
  }

  /** One AdamW step with global-norm clipping; returns the gradient norm before clipping. */
  apply(grads: Tensor[], lr: number, clip: number, weightDecay: number, beta1 = 0.9, beta2 = 0.98, eps = 1e-8): number {
    this.step++;
    const t = this.step;
    const norm = tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))));
    const n = norm.dataSync()[0];
    norm.dispose();
    const scale = n > clip ? clip / n : 1;
    tf.tidy(() => {
      this.params.forEach((p, i) => {
        const g = tf.mul(grads[i], scale);
        const m = tf.add(tf.mul(this.m[i], beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(this.v[i], beta2), tf.mul(tf.square(g), 1 - beta2));
        const upd = tf.div(tf.div(m, 1 - beta1 ** t), tf.add(tf.sqrt(tf.div(v, 1 - beta2 ** t)), eps));
        // Decoupled weight decay on matrices only (not on biases, gains or embeddings' positions).
        const decay = p.rank === 2 ? tf.mul(p, weightDecay * lr) : tf.zerosLike(p);
        p.assign(tf.sub(tf.sub(p, tf.mul(upd, lr)), decay));
        this.m[i].assign(m);
        this.v[i].assign(v);
      });
    });
    return n;
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}

export function learningRate(step: number, o: Pick<LmTrainOptions, 'steps' | 'lr' | 'warmup'>): number {
  if (step < o.warmup) return (o.lr * (step + 1)) / o.warmup;
  const progress = (step - o.warmup) / Math.max(1, o.steps - o.warmup);
  return o.lr * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress))));
}

/** One training step on a batch; returns the loss and the gradient norm. */
export function trainStep(
  model: GPT2,
  adam: AdamState,
  tok: WordTokenizer,
  batch: Example[],
  o: LmTrainOptions,
): { loss: number; gradNorm: number } {
  const params = adam.params;
  const { value, grads } = tf.variableGrads(() => lmLoss(model, tok, batch, o.answerWeight), params);
  const loss = value.dataSync()[0];
  const gradNorm = adam.apply(
    params.map((p) => grads[p.name]),
    learningRate(adam.step, o),
    o.clip,
    o.weightDecay,
  );
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, gradNorm };
}

export type { Tensor2D };
