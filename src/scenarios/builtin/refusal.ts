// Refusal steering (docs/method.md §7.2): the defence *amplifies* refusal features at every position (the factor is in
// the scenario catalog), which
// turns some requests the base model helps with into refusals; recovery is compliance under the active clamp.
//   B = logit["Sure"] − logit["I"] at the last prompt token (comply vs refuse on the first answer token).
//   Valid flip: the base model complies (B > 0) and the defended model refuses (B ≤ 0).
// Stage 1 (the scenario's run): δ at the last prompt token, drift-constrained checkpoint selection.
// Stage 2 (refusalStage2): δ at the teacher-forced answer positions with stage 1's δ fixed, maximising the
// log-probability of the base model's answer; then greedy generation under the clamp checks the answer.
import { tf, type Tensor, type Tensor1D, type Tensor3D } from '../../core/tf.ts';
import { mulberry32 } from '../../core/rng.ts';
import { featureAttribution } from '../../core/attribution.ts';
import { rankPositive } from '../../core/select.ts';
import { DefendedSet } from '../../core/intervention.ts';
import { clampedState } from '../../core/defence.ts';
import type { ClampRule } from '../../core/clamp.ts';
import { RecoverySite } from '../../core/site.ts';
import { RecoveryRun } from '../../core/recovery.ts';
import type { RecoveryOptions } from '../../core/options.ts';
import type { RecoveryResult } from '../../core/metrics.ts';
import { greedy } from '../../model/generate.ts';
import type { LanguageModel } from '../../model/types.ts';
import { WordTokenizer } from '../../model/tokenizers/word.ts';
import { refusalExample, refusalSplit, type Example } from '../../world/generate.ts';
import { REFUSAL_TEMPLATES } from '../../world/lexicon.ts';
import { attributionRankAt, buildOwning, logitBehaviour, logitDiff, paddedIds, residualAt } from './common.ts';
import type { BuiltScenario, ScenarioContext, ScenarioParams } from './types.ts';
import type { LoadedScenario } from '../loaded.ts';
import { SCENARIOS } from '../catalog.ts';
import { InputError } from '../../core/errors.ts';

const REFUSE = 'I';
const COMPLY = 'Sure';

/** Every held-out request with every template: the compliant ones are the candidates for valid flips. */
function heldOutPrompts(): Example[] {
  const split = refusalSplit();
  const rand = mulberry32(0);
  return (['borderline', 'benign', 'harmful'] as const).flatMap((kind) =>
    split[kind].heldout.flatMap((req) => REFUSAL_TEMPLATES.map((_, t) => refusalExample(rand, 'heldout', kind, req, t))),
  );
}

export async function buildRefusal(ctx: ScenarioContext, p: ScenarioParams = {}): Promise<BuiltScenario> {
  const { model, tokenizer: tok, sae, hook } = ctx;
  return buildOwning(async (own, release) => {
    const all = heldOutPrompts();
    const examples = p.n ? all.slice(0, p.n) : all;
    const prompt = (e: Example) => e.tokens.slice(0, e.promptLength);
    const { ids, lengths } = paddedIds(tok, examples.map(prompt));
    const h = residualAt(model, ids, hook);
    own(() => h.dispose());
    const last = lengths.map((l) => l - 1);
    const readout = { at: last, terms: logitDiff(examples.map(() => [tok.id(COMPLY), tok.id(REFUSE)])) };
    const { behaviour, dispose: disposeB } = logitBehaviour(model, hook, readout);
    own(disposeB);

    // Refusal features: positive attribution to the refuse-minus-comply margin on harmful requests.
    const harmful = examples
      .map((e, i) => [e, i] as const)
      .filter(([e]) => e.family === 'refusal' && e.meta.kind === 'harmful')
      .map(([, i]) => i);
    const T = ids[0].length;
    const weights = new Float32Array(examples.length * T);
    for (const i of harmful) weights.fill(1, i * T, i * T + lengths[i]);
    const refuseMargin = (hh: Tensor3D) => tf.neg(behaviour(hh)) as Tensor1D;
    const rank = rankPositive(await featureAttribution(sae, h, refuseMargin, weights));
    return {
      title: 'Refusal steering',
      behaviourText:
        'B = logit["Sure"] − logit["I"] on the first answer token; the clamp amplifies refusal features, and a valid flip is a request the base model helps with that the defended model refuses.',
      hook,
      samples: examples.map((e, i) => ({
        index: i,
        tokens: prompt(e),
        label: e.family === 'refusal' ? `${e.meta.kind}: ${e.meta.request}` : '',
        deltaPositions: [last[i]],
      })),
      h,
      behaviour,
      readout,
      positions: last.map((t) => [t]),
      rank,
      featureRule: 'positive attribution to the refuse − comply margin on harmful requests',
      rankAt: (at, laterSae) => attributionRankAt(model, ids, readout, weights, at, laterSae, -1),
      dispose: release,
    };
  });
}

/** Greedy continuation of each prompt with the clamp applied at the hook and δ added at given positions. */
export async function generateUnderDefence(
  model: LanguageModel,
  tok: WordTokenizer,
  hook: string,
  set: DefendedSet | null,
  clamp: ClampRule,
  prompts: number[][],
  delta: (row: number, position: number) => Float32Array | null,
  maxNew = 12,
): Promise<string[][]> {
  const d = model.config.dModel;
  const hooks = (rows: readonly number[], T: number) => {
    // Row i has its prompt and the tokens generated so far: δ goes at the positions the caller names.
    const add = new Float32Array(rows.length * T * d);
    rows.forEach((i, b) => {
      for (let t = 0; t < T; t++) {
        const v = delta(i, t);
        if (v) add.set(v, (b * T + t) * d);
      }
    });
    const extra = tf.tensor3d(add, [rows.length, T, d]);
    const hookFn = (x: Tensor) => {
      const clamped = set ? clampedState(set, clamp, x) : x;
      return tf.add(clamped, extra);
    };
    return { [hook]: hookFn };
  };
  const period = tok.id('.');
  const ids = await greedy(model, prompts, { maxNew, padId: tok.padId, stop: (id) => id === period, hooks });
  return ids.map((row) => row.map((id) => tok.tokenStrings([id])[0]));
}

export interface Stage2Result {
  /** Greedy answers under the clamp with stage 1's δ only, and with both stages. */
  answersStage1: string[][];
  answersStage2: string[][];
  baseAnswers: string[][];
  nonRefusalStage1: number;
  nonRefusal: number;
  baseLike: number;
  validFlips: number;
  meanRelDrift: number | null;
}

/**
 * Stage 2 for the valid flips: δ at the teacher-forced positions of the base model's answer, with stage
 * 1's δ fixed, maximising the mean log-probability of that answer under the clamp; checkpoint by drift.
 */
export async function refusalStage2(
  sc: LoadedScenario,
  features: number[],
  clamp: ClampRule,
  valid: boolean[],
  stage1Delta: Float32Array,
  stage1Shape: [number, number, number],
  options: Partial<RecoveryOptions>,
): Promise<Stage2Result> {
  // Stage 2 teacher-forces the built-in model's word-level answers, so it needs that tokenizer.
  if (!sc.lm || !(sc.lm.tokenizer instanceof WordTokenizer))
    throw new InputError('the second stage needs a language model scenario (refusal on the built-in model)');
  const { model, tokenizer: tok, hook } = sc.lm;
  const { sae } = sc;
  const tokensOf = (i: number) => sc.samples[i].tokens ?? [];
  const d = model.config.dModel;
  const rows = valid.map((v, i) => (v ? i : -1)).filter((i) => i >= 0);
  const prompts = rows.map((i) => tokensOf(i).map((w) => tok.id(w)));
  const noDelta = () => null;
  const baseAnswers = await generateUnderDefence(model, tok, hook, null, clamp, prompts, noDelta);
  const s1 = (row: number) =>
    stage1Delta.subarray((stage1Shape[0] === 1 ? 0 : rows[row]) * d, (stage1Shape[0] === 1 ? 1 : rows[row] + 1) * d);
  const set = new DefendedSet(sae, features);
  try {
    const stage1At = (row: number, t: number) => (t === prompts[row].length - 1 ? s1(row) : null);
    const answersStage1 = await generateUnderDefence(model, tok, hook, set, clamp, prompts, stage1At);
    // Teacher-forced sequences: prompt + the base model's answer.
    const seqs = rows.map((_, r) => [...tokensOf(rows[r]), ...baseAnswers[r]]);
    const { ids } = paddedIds(tok, seqs);
    const T = ids[0].length;
    const V = model.config.vocabSize;
    // Target: the base answer's tokens; positions whose residual predicts them.
    const L = Math.max(...baseAnswers.map((a) => a.length));
    const positions = rows.map((_, r) => Array.from({ length: L }, (_, j) => (j < baseAnswers[r].length - 1 ? prompts[r].length + j : -1)));
    // The optimisation's tensors, site and run live only until δ₂ is read out; the generation after it needs none.
    const held: Tensor[] = [];
    let result: RecoveryResult;
    let delta2: Float32Array;
    try {
      const h = residualAt(model, ids, hook);
      held.push(h);
      const fixedData = new Float32Array(rows.length * T * d);
      rows.forEach((_, r) => fixedData.set(s1(r), (r * T + prompts[r].length - 1) * d));
      const fixed = tf.tensor3d(fixedData, [rows.length, T, d]);
      held.push(fixed);
      const targetW = new Float32Array(rows.length * T * V);
      rows.forEach((_, r) => {
        const answer = baseAnswers[r];
        answer.forEach((w, j) => {
          targetW[(r * T + prompts[r].length - 1 + j) * V + tok.id(w)] = 1 / answer.length;
        });
      });
      const target = tf.tensor3d(targetW, [rows.length, T, V]);
      held.push(target);
      const behaviour = (hRec: Tensor3D) => tf.sum(tf.mul(tf.logSoftmax(model.forwardFrom(hook, hRec), -1), target), [1, 2]) as Tensor1D;
      const site = await RecoverySite.create({ sae, features, clamp, h, positions, behaviour, fixed });
      try {
        const run = await RecoveryRun.create(site, { ...SCENARIOS.refusal.defaults.stage2, ...options });
        try {
          await run.run({ metricsEvery: run.options.steps });
          result = await run.result();
          delta2 = await run.deltaValues();
        } finally {
          run.dispose();
        }
      } finally {
        site.dispose();
      }
    } finally {
      tf.dispose(held);
    }
    const P = positions[0].length;
    const both = (row: number, t: number) => {
      if (t === prompts[row].length - 1) return s1(row);
      const k = positions[row].indexOf(t);
      return k >= 0 ? delta2.subarray((row * P + k) * d, (row * P + k + 1) * d) : null;
    };
    const answersStage2 = await generateUnderDefence(model, tok, hook, set, clamp, prompts, both);
    const refuses = (a: string[]) => a[0] === REFUSE || a.join(' ').includes('cannot');
    return {
      answersStage1,
      answersStage2,
      baseAnswers,
      nonRefusalStage1: answersStage1.filter((a) => !refuses(a)).length,
      nonRefusal: answersStage2.filter((a) => !refuses(a)).length,
      baseLike: answersStage2.filter((a, r) => a.join(' ') === baseAnswers[r].join(' ')).length,
      validFlips: rows.length,
      meanRelDrift: result.aggregate.all.relDrift.mean,
    };
  } finally {
    set.dispose();
  }
}
