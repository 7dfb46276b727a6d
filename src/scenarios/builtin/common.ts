// Pieces shared by the built-in scenarios.
import { tf, type Tensor1D, type Tensor2D, type Tensor3D } from '../../core/tf.ts';
import type { GPT2 } from '../../model/gpt2.ts';
import type { WordTokenizer } from '../../model/tokenizers/word.ts';
import type { Example } from '../../world/generate.ts';

/** Prompt token ids of examples that must all have the same length (so δ slots line up). */
export function promptIds(tok: WordTokenizer, examples: Example[]): number[][] {
  const ids = examples.map((e) => e.tokens.slice(0, e.promptLength).map((w) => tok.id(w)));
  const T = ids[0].length;
  if (ids.some((r) => r.length !== T)) throw new Error('scenario prompts must share one length');
  return ids;
}

/** Right-padded ids and lengths for prompts of different lengths. */
export function paddedIds(tok: WordTokenizer, seqs: string[][]): { ids: number[][]; lengths: number[] } {
  const T = Math.max(...seqs.map((s) => s.length));
  return { ids: seqs.map((s) => [...s.map((w) => tok.id(w)), ...Array(T - s.length).fill(tok.padId)]), lengths: seqs.map((s) => s.length) };
}

/** Logits [N, V] at one position per row (positions given per row), without gather (differentiable everywhere). */
export function logitsAtRows(logits: Tensor3D, positions: number[]): Tensor2D {
  const [N, T] = logits.shape;
  const sel = tf.tensor3d(
    positions.flatMap((p) => Array.from({ length: T }, (_, t) => (t === p ? 1 : 0))),
    [N, 1, T],
  );
  return tf.reshape(tf.matMul(sel, logits), [N, -1]) as Tensor2D;
}

/** Σ_v logits[n, v]·weights[n, v] for a constant weight matrix [N, V] (e.g. +1 on IO, −1 on S). */
export function contrast(logits: Tensor2D, weights: number[][]): Tensor1D {
  return tf.sum(tf.mul(logits, tf.tensor2d(weights)), 1) as Tensor1D;
}

export function oneHotRow(V: number, entries: [number, number][]): number[] {
  const row = new Array(V).fill(0);
  for (const [i, w] of entries) row[i] += w;
  return row;
}

/** Residual at the hook for a batch of ids. */
export function residualAt(model: GPT2, ids: number[][], hook: string): Tensor3D {
  return tf.tidy(() => model.runToHook(ids, hook));
}
