// Picking features from a per-feature score (attribution, class effect, forget frequency): one ranking rule
// for the scenarios, the CLI's --top-k and the page's "select top-K". No TensorFlow.js (the page imports it).
import { InputError } from './errors.ts';

/** Indices with a finite score > 0, best first; ties go to the lower index. */
export function rankPositive(scores: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i] > 0 && Number.isFinite(scores[i])) out.push(i);
  return out.sort((a, b) => scores[b] - scores[a] || a - b);
}

/** The K best positive features; an input error when K is not a usable size or nothing scores positive. */
export function topKPositive(scores: ArrayLike<number>, k: number): number[] {
  if (!Number.isInteger(k) || k < 1) throw new InputError(`top-k must be a positive integer, got ${k}`);
  if (k > scores.length) throw new InputError(`top-k ${k} exceeds the SAE width ${scores.length}`);
  const ranked = rankPositive(scores);
  if (ranked.length === 0) throw new InputError('no feature has a positive score for the behaviour: nothing to defend');
  return ranked.slice(0, k);
}
