// What a defence other than the paper's clamp needs from a scenario (docs/defences.md): clean text at the hook (the
// monitor's calibration, clip-error's cap, the utility cost), SAEs at later layers with features chosen by the
// scenario's own rule (multi-layer), and the later residual hooks (ablate-span). `buildSiteDefence` turns a
// DefenceChoice into the site's defence; `defenceCost` measures what a defence costs the model on clean text.
import { tf, type Tensor, type Tensor2D, type Tensor3D } from '../core/tf.ts';
import type { Sae } from '../core/sae.ts';
import type { ClampRule } from '../core/clamp.ts';
import { DefendedSet } from '../core/intervention.ts';
import { clampedState, HookDefence, laterClamp, laterProjection, orthonormalBasis, type LaterLayer } from '../core/defence.ts';
import { Detector } from '../core/detector.ts';
import { InputError } from '../core/errors.ts';
import { defenceKey, describeDefence, type DefenceChoice } from '../core/defence-kinds.ts';
import type { SiteDefence } from '../core/site.ts';
import type { HookFn, LanguageModel } from '../model/types.ts';

/** Clean text at the hook: its token ids (for the utility cost), the residual there [M, T, d], which tokens are real. */
export interface CleanText {
  /** Where the text comes from, in words (results record it). */
  source: string;
  ids: number[][];
  h: Tensor3D;
  mask: Float32Array;
}

/** One later layer's SAE and the features the scenario's rule defends there. */
export interface LaterSae {
  hook: string;
  sae: Sae;
  name: string;
}

/** What a scenario offers the defences beyond its hook; made once per loaded scenario, freed with it. */
export interface DefenceKit {
  /** Clean text (built-in: held-out sentences of every family of the built-in corpus). */
  clean(): Promise<CleanText>;
  /** The language model and the hook, for later layers and the utility cost; absent for raw activations. */
  model?: LanguageModel;
  hook: string;
  /** SAEs at later residual hooks (none when the scenario has none there). */
  laterSaes(): Promise<LaterSae[]>;
  /** The scenario's feature rule at another hook, best first; absent when B reads only the hook (later layers cannot matter). */
  rankAt?: (hook: string, sae: Sae) => Promise<number[]>;
  dispose(): void;
}

/** The residual hooks after `hook` (at each later layer's resid_post), where later-layer defences act. */
export function laterResidHooks(model: LanguageModel, hook: string): string[] {
  const { layer, point } = model.residHook(hook);
  const first = point === 'hook_resid_post' ? layer + 1 : layer;
  return Array.from({ length: model.config.nLayer - first }, (_, i) => `blocks.${first + i}.hook_resid_post`);
}

/** The percentile p (0–100] of the error norm ‖e(x)‖ over the real positions of clean text. */
export async function errorNormPercentile(sae: Sae, clean: { h: Tensor3D; mask: Float32Array }, p: number): Promise<number> {
  const t = tf.tidy(() => tf.reshape(tf.sqrt(tf.sum(tf.square(sae.error(clean.h)), -1)), [-1]));
  const v = await t.data();
  t.dispose();
  const real = Array.from(v)
    .filter((_, k) => clean.mask[k])
    .sort((a, b) => a - b);
  if (!real.length) throw new InputError('no clean positions to set the error cap from');
  return real[Math.min(real.length - 1, Math.max(0, Math.ceil((p / 100) * real.length) - 1))];
}

/** The site's defence for a choice, and everything it holds (the site releases it when disposed). */
export interface BuiltSiteDefence {
  site: SiteDefence;
  /** What acts where, in words, for the result's config. */
  notes: string[];
}

/**
 * Build a choice's defence for a scenario: clip-error's cap from clean text, multi-layer's later clamps (each layer's
 * top |S| features by the scenario's rule), ablate-span's later projections, the monitor calibrated on clean text as
 * the model reads it at the hook under this defence.
 */
export async function buildSiteDefence(
  kit: DefenceKit | undefined,
  sae: Sae,
  choice: DefenceChoice,
  features: number[],
  clamp: ClampRule,
  mask: Float32Array,
): Promise<BuiltSiteDefence> {
  const notes = [describeDefence(choice)];
  const held: { dispose(): void }[] = [];
  const release = () => {
    for (const x of held.splice(0).reverse()) x.dispose();
  };
  const need = (what: string): DefenceKit => {
    if (!kit)
      throw new InputError(
        `${what} needs clean text and later layers, which only the built-in scenarios provide so far (this one has none)`,
      );
    return kit;
  };
  try {
    const params: SiteDefence['params'] = {};
    if (choice.hook === 'clip-error') {
      const clean = await need('clip-error').clean();
      params.errorCap = await errorNormPercentile(sae, clean, choice.clipPercentile);
      notes.push(`error norm capped at ${params.errorCap.toFixed(3)} (p${choice.clipPercentile} of ${clean.source})`);
    }
    const later: LaterLayer[] = [];
    if (choice.multiLayer) {
      const k = need('multi-layer');
      if (k.rankAt && k.model) {
        const saes = await k.laterSaes();
        if (!saes.length) notes.push('no SAE at a later layer: multi-layer is the hook’s clamp alone');
        for (const l of saes) {
          const rank = await k.rankAt(l.hook, l.sae);
          if (!rank.length) continue;
          const layer = laterClamp(l.hook, new DefendedSet(l.sae, rank.slice(0, features.length)), clamp);
          held.push(layer);
          later.push(layer);
          notes.push(`${l.hook}: ${layer.describe}`);
        }
      } else notes.push('B reads the hook’s residual only: later layers cannot change it');
    }
    if (choice.hook === 'ablate-span' && !kit?.model) notes.push('no later layers here: the span is projected out at the hook only');
    if (choice.hook === 'ablate-span' && kit?.model) {
      const set = new DefendedSet(sae, features);
      try {
        const W = (await set.W_decS.data()) as Float32Array;
        const { data, rank } = orthonormalBasis(W, set.size, sae.dIn);
        const Q = tf.tensor2d(data, [rank, sae.dIn]) as Tensor2D;
        held.push({ dispose: () => Q.dispose() });
        for (const hook of laterResidHooks(kit.model, kit.hook)) later.push(laterProjection(hook, Q));
        notes.push(`span of rank ${rank} projected out at the hook and ${later.length} later layers`);
      } finally {
        set.dispose();
      }
    }
    let detector: Detector | undefined;
    if (choice.detect) {
      const clean = await need('detect').clean();
      const set = new DefendedSet(sae, features);
      const hook = await HookDefence.create(choice.hook, set, clamp, params);
      let seen: Tensor3D;
      try {
        seen = tf.tidy(() => hook.apply(clean.h, clampedState(set, clamp, clean.h), null) as Tensor3D);
      } finally {
        hook.dispose();
        set.dispose();
      }
      try {
        detector = await Detector.calibrate(sae, { h: seen, mask: clean.mask }, choice.detectFpr);
      } finally {
        seen.dispose();
      }
      held.push(detector);
      const c = detector.calibration;
      notes.push(
        `monitor threshold ${c.threshold.toFixed(3)} at ${choice.detectFpr * 100}% FPR on ${c.calibrationInputs} clean inputs; held-out FPR ${(c.heldOutFpr * 100).toFixed(1)}% of ${c.heldOutInputs}`,
      );
    }
    return { site: { id: defenceKey(choice), kind: choice.hook, params, later, detector, mask, release }, notes };
  } catch (e) {
    release();
    throw e;
  }
}

/** The model with a defence at the hook (no δ) and at later layers, as hooks for a forward pass. */
export function defenceHooks(hook: string, atHook: (x: Tensor) => Tensor, later: readonly LaterLayer[]): Record<string, HookFn> {
  return { [hook]: (x) => atHook(x), ...Object.fromEntries(later.map((l) => [l.hook, (x: Tensor) => l.apply(x)])) };
}

export interface UtilityCost {
  /** Next-token cross-entropy on clean text, undefended and defended (nats per token), and KL(undefended ‖ defended). */
  ceBase: number;
  ceDefended: number;
  kl: number;
  tokens: number;
  source: string;
}

/** What a defence costs the model on clean text: next-token cross-entropy and KL against the undefended model. */
export async function defenceCost(kit: DefenceKit, hooks: Record<string, HookFn>): Promise<UtilityCost | null> {
  const { model } = kit;
  if (!model) return null;
  const clean = await kit.clean();
  const [m, t] = clean.h.shape;
  let ceB = 0;
  let ceD = 0;
  let kl = 0;
  let count = 0;
  const batch = 32;
  for (let s = 0; s < m; s += batch) {
    const ids = clean.ids.slice(s, s + batch);
    const rows = ids.length;
    // Targets: the next real token at every real position but the last.
    const w = new Float32Array(rows * t);
    const target = new Int32Array(rows * t);
    ids.forEach((row, i) => {
      for (let j = 0; j + 1 < t; j++) {
        if (clean.mask[(s + i) * t + j] && clean.mask[(s + i) * t + j + 1]) {
          w[i * t + j] = 1;
          target[i * t + j] = row[j + 1];
        }
      }
    });
    const sums = tf.tidy(() => {
      const lpB = tf.logSoftmax(model.forward(ids), -1);
      const lpD = tf.logSoftmax(model.forward(ids, { hooks }), -1);
      const V = lpB.shape[2];
      const oneHot = tf.reshape(tf.oneHot(tf.tensor1d(target, 'int32'), V), [rows, t, V]);
      const weight = tf.tensor2d(w, [rows, t]);
      const nll = (lp: Tensor) => tf.sum(tf.mul(tf.neg(tf.sum(tf.mul(lp, oneHot), -1)), weight));
      const klPos = tf.sum(tf.mul(tf.exp(lpB), tf.sub(lpB, lpD)), -1);
      return tf.stack([nll(lpB), nll(lpD), tf.sum(tf.mul(klPos, weight)), tf.sum(weight)]);
    });
    const v = await sums.data();
    sums.dispose();
    ceB += v[0];
    ceD += v[1];
    kl += v[2];
    count += v[3];
  }
  if (!count) return null;
  return { ceBase: ceB / count, ceDefended: ceD / count, kl: kl / count, tokens: count, source: clean.source };
}
