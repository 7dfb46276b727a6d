// TPP (docs/method.md §7.3, SAEBench's targeted probe perturbation): linear probes read each field class (medicine,
// law, tech, art) and the sentiment from the mean-pooled residual at the SAE's hook; the defence
// zero-ablates the features with the largest class effect for the target class at every token.
// B = the target probe's logit; valid flip: the probe says "yes" before the ablation and "no" after.
// The TPP score (accuracy drop on the target class minus the mean drop on the others) comes with it.
import { tf, type Tensor3D } from '../../core/tf.ts';
import { mulberry32 } from '../../core/rng.ts';
import { attributeExample, FIELD_NAMES, type Example } from '../../world/generate.ts';
import { probeBehaviour, type LinearProbe } from '../probe.ts';
import { classEffect, tppScore } from '../selection.ts';
import { featureStatistics } from '../../core/feature-stats.ts';
import { rankPositive } from '../../core/select.ts';
import { InputError } from '../../core/errors.ts';
import { SCENARIOS } from '../catalog.ts';
import { probeAccuracy, trainBinaryProbe } from '../logistic.ts';
import { buildOwning, paddedIds, residualAt } from './common.ts';
import type { BuiltScenario, ScenarioContext, ScenarioParams } from './types.ts';

export const TPP_CLASSES = [...FIELD_NAMES, 'positive sentiment'];

function classLabel(e: Example, c: number): number {
  if (e.family !== 'attributes') return 0;
  return c < FIELD_NAMES.length ? (e.meta.field === c ? 1 : 0) : e.meta.sentiment;
}

interface Pooled {
  h: Tensor3D;
  mask: Float32Array;
  pooled: Float32Array;
  n: number;
  t: number;
}

/** The residuals of `exs` (the caller's to dispose once this returns) and their mean over each one's tokens. */
async function pooledResiduals(ctx: ScenarioContext, exs: Example[]): Promise<Pooled> {
  const { ids, lengths } = paddedIds(
    ctx.tokenizer,
    exs.map((e) => e.tokens),
  );
  return buildOwning(async (own) => {
    const h = residualAt(ctx.model, ids, ctx.hook);
    own(() => h.dispose());
    const [n, t, d] = h.shape;
    const mask = new Float32Array(n * t);
    lengths.forEach((l, i) => mask.fill(1, i * t, i * t + l));
    const pooledT = tf.tidy(() => {
      const w = tf.div(tf.tensor3d(mask, [n, 1, t]), tf.reshape(tf.tensor1d(lengths), [n, 1, 1]));
      return tf.reshape(tf.matMul(w, h), [n, d]);
    });
    let pooled: Float32Array;
    try {
      pooled = (await pooledT.data()) as Float32Array;
    } finally {
      pooledT.dispose();
    }
    return { h, mask, pooled, n, t };
  });
}

export async function buildTpp(ctx: ScenarioContext, p: ScenarioParams = {}): Promise<BuiltScenario> {
  const { sae } = ctx;
  const target = p.targetClass ?? 0;
  if (!Number.isInteger(target) || target < 0 || target >= TPP_CLASSES.length)
    throw new InputError(`TPP target class must be 0..${TPP_CLASSES.length - 1}, got ${target}`);
  return buildOwning(async (own, release) => {
    const rand = mulberry32((p.seed ?? 0) + 202);
    const train = Array.from({ length: 512 }, () => attributeExample(rand, 'train'));
    const evalSet = Array.from({ length: 256 }, () => attributeExample(rand, 'heldout'));
    // The training residuals are not kept: only their pooled form trains the probes.
    const tr = await pooledResiduals(ctx, train);
    tr.h.dispose();
    const ev = await pooledResiduals(ctx, evalSet);
    own(() => ev.h.dispose());
    const d = sae.dIn;
    const probes: LinearProbe[] = [];
    for (let c = 0; c < TPP_CLASSES.length; c++)
      probes.push(
        await trainBinaryProbe(
          tr.pooled,
          tr.n,
          d,
          train.map((e) => classLabel(e, c)),
          { epochs: 300, lr: 0.05, l2: 1e-3 },
        ),
      );

    // Samples: held-out sentences of the target class (the probe should say yes).
    const n = p.n ?? SCENARIOS.tpp.defaults.n!;
    const samples: Example[] = [];
    while (samples.length < n) {
      const e = attributeExample(rand, 'heldout');
      if (classLabel(e, target)) samples.push(e);
    }
    const sp = await pooledResiduals(ctx, samples);
    own(() => sp.h.dispose());
    const pb = probeBehaviour(probes[target], 0, { n: sp.n, t: sp.t, mask: sp.mask });
    own(() => pb.dispose());
    const positions = Array.from({ length: sp.n }, (_, i) => Array.from({ length: sp.t }, (_, j) => (sp.mask[i * sp.t + j] ? j : -1)));

    // SAEBench class effect on the evaluation sentences: mean over each input's tokens, then over inputs.
    const evMask = (c: number, pos: boolean) => {
      const idx = evalSet
        .map((e, i) => [e, i] as const)
        .filter(([e]) => Boolean(classLabel(e, c)) === pos)
        .map(([, i]) => i);
      return idx;
    };
    const meansFor = async (rows: number[]) => {
      const mask = new Float32Array(rows.length * ev.t);
      rows.forEach((r, k) => mask.set(ev.mask.subarray(r * ev.t, (r + 1) * ev.t), k * ev.t));
      const hh = tf.tidy(() => tf.gather(ev.h, tf.tensor1d(rows, 'int32')) as Tensor3D);
      try {
        return (await featureStatistics(sae, hh, mask)).meanPerInput;
      } finally {
        hh.dispose();
      }
    };
    const W_dec = (await sae.W_dec.data()) as Float32Array;
    const effect = classEffect(
      await meansFor(evMask(target, true)),
      await meansFor(evMask(target, false)),
      { W_dec, dSae: sae.dSae, dIn: d },
      probes[target].w,
    );
    const rank = rankPositive(effect);

    const evalLabels = TPP_CLASSES.map((_, c) => evalSet.map((e) => classLabel(e, c)));
    const pooledOf = async (h: Tensor3D) => {
      const t = tf.tidy(() => {
        const lengths = Array.from({ length: ev.n }, (_, i) => ev.mask.subarray(i * ev.t, (i + 1) * ev.t).reduce((a, b) => a + b, 0));
        const w = tf.div(tf.tensor3d(ev.mask, [ev.n, 1, ev.t]), tf.reshape(tf.tensor1d(lengths), [ev.n, 1, 1]));
        return tf.reshape(tf.matMul(w, h), [ev.n, d]);
      });
      try {
        return (await t.data()) as Float32Array;
      } finally {
        t.dispose();
      }
    };
    const cleanPooled = await pooledOf(ev.h);
    const clean = probes.map((pr, c) => probeAccuracy(pr, cleanPooled, ev.n, evalLabels[c]));

    return {
      title: `Targeted probe perturbation (${TPP_CLASSES[target]})`,
      behaviourText: `B = the "${TPP_CLASSES[target]}" probe's logit on the mean-pooled residual; a valid flip is a sentence the probe reads as ${TPP_CLASSES[target]} before the ablation and not after.`,
      hook: ctx.hook,
      samples: samples.map((e, i) => ({
        index: i,
        tokens: e.tokens,
        label: e.family === 'attributes' ? `${e.meta.fieldName}, ${e.meta.sentiment ? 'positive' : 'negative'}` : '',
        deltaPositions: positions[i].filter((x) => x >= 0),
      })),
      h: sp.h,
      behaviour: pb.behaviour,
      positions,
      rank,
      featureRule: `SAEBench class effect clamp₊(mean_pos − mean_neg)·(w_probe·W_dec) for ${TPP_CLASSES[target]}`,
      extras: async ({ atHook }) => {
        let abl: Float32Array;
        const ablated = tf.tidy(() => atHook(ev.h));
        try {
          abl = await pooledOf(ablated);
        } finally {
          ablated.dispose();
        }
        const drops = probes.map((pr, c) => clean[c] - probeAccuracy(pr, abl, ev.n, evalLabels[c]));
        return { tppScore: tppScore(drops, target), targetAccuracyDrop: drops[target], probeAccuracyClean: clean[target] };
      },
      dispose: release,
    };
  });
}
