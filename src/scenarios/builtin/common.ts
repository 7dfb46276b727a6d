// Pieces shared by the built-in scenarios.
import { tf, type Tensor, type Tensor1D, type Tensor3D } from '../../core/tf.ts';
import type { Sae } from '../../core/sae.ts';
import { featureAttribution } from '../../core/attribution.ts';
import { rankPositive } from '../../core/select.ts';
import type { HookFn, LanguageModel } from '../../model/types.ts';
import type { LaterLayer } from '../../core/defence.ts';
import { HookOnward, type LogitReadout, ReadoutHead } from '../../model/hook-onward.ts';
import type { Behaviour, SuffixBehaviour } from '../../core/site.ts';
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

/** Residual at the hook for a batch of ids. */
export function residualAt(model: LanguageModel, ids: number[][], hook: string): Tensor3D {
  return tf.tidy(() => model.runToHook(ids, hook));
}

/**
 * B as a logit readout (e.g. logit[IO] − logit[S] at the answer position), computed from the hook onward: the
 * whole-residual form reads only the weighted unembedding columns; the `onward` form also starts at the first
 * position that can change, with the earlier positions' keys and values cached (model/hook-onward.ts).
 */
export function logitBehaviour(
  model: LanguageModel,
  hook: string,
  readout: LogitReadout,
  hooks?: Record<string, HookFn>,
): { behaviour: Behaviour; dispose: () => void } {
  const head = new ReadoutHead(model, readout);
  const onward = (hDef: Tensor3D, deltaFrom: number): SuffixBehaviour => {
    const from = Math.min(deltaFrom, ...readout.at);
    const [n, , d] = hDef.shape;
    const prefix = tf.slice(hDef, [0, 0, 0], [n, from, d]);
    let rest: HookOnward;
    try {
      rest = HookOnward.create(model, hook, prefix, hooks);
    } finally {
      prefix.dispose();
    }
    let returned = false;
    try {
      // The readout's row selection is the same every step: made once per site.
      const sel = head.selection(n, hDef.shape[1] - from, from);
      returned = true;
      return {
        from,
        behaviour: (suffix) => head.apply(rest.residual(suffix), from, sel),
        dispose: () => {
          rest.dispose();
          sel.dispose();
        },
      };
    } finally {
      if (!returned) rest.dispose();
    }
  };
  // Later layers' defences: the same readout with their maps as hooks in every forward from the hook on.
  const under = (later: readonly LaterLayer[]) => logitBehaviour(model, hook, readout, laterHooks(later));
  const behaviour: Behaviour = Object.assign((hRec: Tensor3D) => head.apply(model.residualFrom(hook, hRec, { hooks })), { onward, under });
  return { behaviour, dispose: () => head.dispose() };
}

/** Later layers' defences as model hooks by name. */
export function laterHooks(later: readonly LaterLayer[]): Record<string, HookFn> {
  return Object.fromEntries(later.map((l) => [l.hook, (x: Tensor) => l.apply(x)]));
}

/** Terms +1 on `plus`, −1 on `minus` for each row: a logit difference. */
export const logitDiff = (pairs: readonly (readonly [plus: number, minus: number])[]): LogitReadout['terms'] =>
  pairs.map(([a, b]) => [
    [a, 1],
    [b, -1],
  ]);

/**
 * A builder's tensors and behaviours belong to the scenario it returns (whose dispose is `release`), but to the builder
 * until then: `build` hands each piece's cleanup to `own` as it makes it, and if it throws before returning, they run
 * here, in finally, so a failed build leaks nothing.
 */
export async function buildOwning<T>(build: (own: (cleanup: () => void) => void, release: () => void) => Promise<T>): Promise<T> {
  const cleanups: (() => void)[] = [];
  const release = () => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  };
  let returned = false;
  try {
    const built = await build((cleanup) => cleanups.push(cleanup), release);
    returned = true;
    return built;
  } finally {
    if (!returned) release();
  }
}

/**
 * The features a logit-readout scenario would defend at another hook (multi-layer's later clamps): the same
 * attribution rule — positive attribution of `sign`·B to the features of `sae` — on the residual at `hook`.
 */
export async function attributionRankAt(
  model: LanguageModel,
  ids: number[][],
  readout: LogitReadout,
  weights: Float32Array,
  hook: string,
  sae: Sae,
  sign = 1,
): Promise<number[]> {
  const h = residualAt(model, ids, hook);
  const b = logitBehaviour(model, hook, readout);
  try {
    const target = sign > 0 ? b.behaviour : (x: Tensor3D) => tf.neg(b.behaviour(x)) as Tensor1D;
    return rankPositive(await featureAttribution(sae, h, target, weights));
  } finally {
    h.dispose();
    b.dispose();
  }
}
