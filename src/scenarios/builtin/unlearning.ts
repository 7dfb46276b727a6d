// Unlearning (docs/method.md §7.4): multiple-choice questions about a fictional forget domain (Zorbia's creatures)
// and a retain domain (the kitchen). B = choice margin = logit[correct letter] − mean(other letters) at the
// last prompt token. Defended features: frequent on forget prompts, rare on retain prompts (SAEBench's
// rule); clamp: active ones → −m. Side effect reported: retain-set accuracy before, under the clamp, and
// with the recovery's mean δ.
import { tf, type Tensor1D, type Tensor3D } from '../../core/tf.ts';
import { mulberry32 } from '../../core/rng.ts';
import { mcqExample, trainingStream, type Example } from '../../world/generate.ts';
import { LETTERS } from '../../world/lexicon.ts';
import { forgetScore } from '../selection.ts';
import { featureStatistics } from '../../core/feature-stats.ts';
import { rankPositive } from '../../core/select.ts';
import { SCENARIOS } from '../catalog.ts';
import { buildOwning, logitBehaviour, paddedIds, residualAt } from './common.ts';
import type { Sae } from '../../core/sae.ts';
import type { BuiltScenario, ScenarioContext, ScenarioParams } from './types.ts';

function marginTerms(tok: ScenarioContext['tokenizer'], examples: Example[]): [number, number][][] {
  return examples.map((e) => (e.family === 'mcq' ? LETTERS.map((c, j) => [tok.id(c), j === e.meta.correct ? 1 : -1 / 3]) : []));
}

export async function buildUnlearning(ctx: ScenarioContext, p: ScenarioParams = {}): Promise<BuiltScenario> {
  const { model, tokenizer: tok, sae, hook } = ctx;
  return buildOwning(async (own, release) => {
    const rand = mulberry32((p.seed ?? 0) + 303);
    const n = p.n ?? SCENARIOS.unlearning.defaults.n!;
    const forget = Array.from({ length: n }, () => mcqExample(rand, 'heldout', 'forget'));
    const retain = Array.from({ length: n }, () => mcqExample(rand, 'heldout', 'retain'));
    const prompt = (e: Example) => e.tokens.slice(0, e.promptLength);
    const f = paddedIds(tok, forget.map(prompt));
    const r = paddedIds(tok, retain.map(prompt));
    const h = residualAt(model, f.ids, hook);
    own(() => h.dispose());
    const hRetain = residualAt(model, r.ids, hook);
    own(() => hRetain.dispose());
    const fLast = f.lengths.map((l) => l - 1);
    const rLast = r.lengths.map((l) => l - 1);
    const readout = { at: fLast, terms: marginTerms(tok, forget) };
    const forgetB = logitBehaviour(model, hook, readout);
    own(forgetB.dispose);
    const retainB = logitBehaviour(model, hook, { at: rLast, terms: marginTerms(tok, retain) });
    own(retainB.dispose);
    const behaviour = forgetB.behaviour;

    // Feature frequencies on training-distribution prompts of each domain (not the evaluation ones).
    const stream = trainingStream((p.seed ?? 0) + 404);
    const pool: Record<'forget' | 'retain', Example[]> = { forget: [], retain: [] };
    while (pool.forget.length < 128 || pool.retain.length < 128) {
      const e = stream.next().value as Example;
      if (e.family === 'mcq' && pool[e.meta.domain].length < 128) pool[e.meta.domain].push(e);
    }
    const freq = async (exs: Example[], at: string, s: Sae) => {
      const { ids, lengths } = paddedIds(tok, exs.map(prompt));
      const mask = new Float32Array(ids.length * ids[0].length);
      lengths.forEach((l, i) => mask.fill(1, i * ids[0].length, i * ids[0].length + l));
      const hh = residualAt(model, ids, at);
      try {
        return (await featureStatistics(s, hh, mask)).frequency;
      } finally {
        hh.dispose();
      }
    };
    const threshold = 0.01;
    const rankAt = async (at: string, s: Sae) =>
      rankPositive(forgetScore(await freq(pool.forget, at, s), await freq(pool.retain, at, s), threshold));
    const rank = await rankAt(hook, sae);

    // Takes the tensor over: it is freed however reading it ends.
    const accuracy = async (values: Tensor1D) => {
      try {
        const d = await values.data();
        return Array.from(d).filter((v) => v > 0).length / d.length;
      } finally {
        values.dispose();
      }
    };
    return {
      title: 'Unlearning a fictional domain',
      behaviourText:
        'B = logit[correct letter] − mean(logits of the other letters) on forget-domain questions; a valid flip is answered correctly before the clamp and not after.',
      hook,
      samples: forget.map((e, i) => ({
        index: i,
        tokens: prompt(e),
        label: e.family === 'mcq' ? `answer ${LETTERS[e.meta.correct]}` : '',
        deltaPositions: [fLast[i]],
      })),
      h,
      behaviour,
      readout,
      positions: fLast.map((t) => [t]),
      rank,
      featureRule: `by forget-set frequency among features firing on < ${threshold * 100}% of retain tokens`,
      rankAt,
      extras: async ({ atHook, delta }) => {
        const base = await accuracy(tf.tidy(() => retainB.behaviour(hRetain)));
        const clamped = tf.tidy(() => atHook(hRetain));
        try {
          const underClamp = await accuracy(tf.tidy(() => retainB.behaviour(clamped)));
          let withRecovery: number | null = null;
          if (delta) {
            // The recovery's mean δ, added at each retain prompt's last token.
            withRecovery = await accuracy(
              tf.tidy(() => {
                const meanDelta = tf.reshape(tf.mean(tf.reshape(delta, [-1, delta.shape[2]]), 0), [1, 1, -1]);
                const sel = tf.tensor3d(
                  rLast.flatMap((t) => Array.from({ length: hRetain.shape[1] }, (_, j) => (j === t ? 1 : 0))),
                  [rLast.length, hRetain.shape[1], 1],
                );
                return retainB.behaviour(tf.add(clamped, tf.mul(sel, meanDelta)) as Tensor3D);
              }),
            );
          }
          return { retainAccuracyBase: base, retainAccuracyClamped: underClamp, retainAccuracyRecovered: withRecovery };
        } finally {
          clamped.dispose();
        }
      },
      dispose: release,
    };
  });
}
