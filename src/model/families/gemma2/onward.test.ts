// Recovery from the hook onward on Gemma-2: the cached keys are the rotated ones, the suffix's rotary positions
// start at the cached length, and the sliding window counts the cached positions. The suffix residual equals the
// full forward's, also when the past is longer than the window, and whole recovery runs give the objective and δ
// of the full forward.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseClampRule } from '../../../core/clamp.ts';
import { maxRelErr, normRelErr } from '../../../core/compare.ts';
import { RecoveryRun } from '../../../core/recovery.ts';
import { mulberry32 } from '../../../core/rng.ts';
import { Sae } from '../../../core/sae.ts';
import { RecoverySite } from '../../../core/site.ts';
import { tf, type Tensor, type Tensor3D } from '../../../core/tf.ts';
import { logitBehaviour } from '../../../scenarios/builtin/common.ts';
import { Checkpoint } from '../../checkpoint.ts';
import { parseConfigJson } from '../../config.ts';
import { HookOnward } from '../../hook-onward.ts';
import { gemma2Family } from './index.ts';
import { randomGemma2 } from './load.ts';
import type { Gemma2, Gemma2Config } from './model.ts';

const dir = path.resolve(import.meta.dirname, '../../__fixtures__/tiny-gemma2');
const fixture = await (async () => {
  const config = gemma2Family.parseConfig(parseConfigJson(readFileSync(path.join(dir, 'config.json'), 'utf8')), 'tiny-gemma2');
  const ckpt = new Checkpoint([{ name: 'model.safetensors', bytes: readFileSync(path.join(dir, 'model.safetensors')) }], 'tiny-gemma2');
  return (await gemma2Family.load(config, ckpt, 'transformer-lens')) as Gemma2;
})();
afterAll(() => fixture.dispose());
const { ids } = JSON.parse(readFileSync(path.join(dir, 'ids.json'), 'utf8')) as { ids: number[][] };

/** The suffix residual from `from` on, through HookOnward, against the full forward's. */
function onwardErr(model: Gemma2, tokens: number[][], hook: string, from: number): number {
  const [N, T] = [tokens.length, tokens[0].length];
  const d = model.config.dModel;
  return tf.tidy(() => {
    const h = model.runToHook(tokens, hook);
    const want = tf.slice(model.residualFrom(hook, h), [0, from, 0], [N, T - from, d]);
    const rest = HookOnward.create(model, hook, tf.slice(h, [0, 0, 0], [N, from, d]));
    const got = rest.residual(tf.slice(h, [0, from, 0], [N, T - from, d]) as Tensor3D);
    const err = maxRelErr(got.dataSync(), want.dataSync());
    rest.dispose();
    return err;
  });
}

describe('Gemma-2 from the hook onward (tiny-gemma2: window 4, 12 positions)', () => {
  it.each([
    ['blocks.0.hook_resid_pre', 7],
    ['blocks.0.hook_resid_pre', 11],
    ['blocks.0.hook_resid_mid', 5],
    ['blocks.0.hook_resid_post', 9],
    ['blocks.1.hook_resid_pre', 2],
    ['blocks.1.hook_resid_mid', 8],
    ['blocks.1.hook_resid_post', 6],
    ['blocks.2.hook_resid_pre', 10],
    ['blocks.2.hook_resid_mid', 4],
    ['blocks.1.hook_resid_pre', 0],
  ] as const)('%s from position %i: the suffix residual equals the full forward', (hook, from) => {
    expect(onwardErr(fixture, ids, hook, from)).toBeLessThan(1e-5);
  });

  it('the cached keys are the rotated ones: caching the unrotated keys would give another residual', () => {
    const kvHooks = fixture.kvHooks;
    expect(kvHooks).toEqual({ k: 'attn.hook_rot_k', v: 'attn.hook_v' });
    const unrotated = Object.create(fixture, { kvHooks: { value: { k: 'attn.hook_k', v: 'attn.hook_v' } } }) as Gemma2;
    expect(onwardErr(unrotated, ids, 'blocks.0.hook_resid_pre', 7)).toBeGreaterThan(1e-3);
  });

  it('leaks no tensor: a create, use and dispose leaves the count as it was', () => {
    const h = tf.tidy(() => fixture.runToHook(ids, 'blocks.1.hook_resid_pre'));
    const cycle = () => {
      const prefix = tf.slice(h, [0, 0, 0], [4, 6, 32]);
      const rest = HookOnward.create(fixture, 'blocks.1.hook_resid_pre', prefix);
      prefix.dispose();
      tf.tidy(() => void rest.residual(tf.slice(h, [0, 6, 0], [4, 6, 32])));
      rest.dispose();
    };
    cycle();
    const before = tf.memory().numTensors;
    cycle();
    expect(tf.memory().numTensors).toBe(before);
    h.dispose();
  });
});

describe('a recovery run on Gemma-2 from the hook onward', () => {
  // Window 3 with prompts of up to 9 tokens and δ from position 2: the onward path's past outgrows the window.
  const config: Gemma2Config = {
    nLayer: 3,
    dModel: 32,
    dMlp: 48,
    nHead: 4,
    nKvHead: 2,
    headDim: 8,
    nCtx: 16,
    vocabSize: 300,
    rmsEps: 1e-6,
    ropeTheta: 10000,
    queryPreAttnScalar: 8,
    slidingWindow: 3,
    sliding: [true, false, true],
    attnSoftcap: 3,
    finalSoftcap: 5,
    tieWordEmbeddings: true,
  };
  const model = randomGemma2(config, 7, 0.3, 0.3);
  const N = 5;
  const T = 9;
  const tokens = Array.from({ length: N }, (_, i) => Array.from({ length: T }, (_, t) => (i * 37 + t * 11 + 3) % config.vocabSize));
  const hook = 'blocks.1.hook_resid_pre';
  const rand = mulberry32(11);
  const dSae = 48;
  const normal = (n: number, s: number) => Float32Array.from({ length: n }, () => (rand() + rand() + rand() - 1.5) * s);
  const sae = Sae.create(
    { architecture: 'standard', dIn: config.dModel, dSae, applyBDecToInput: true, normalizeActivations: 'none', centerInput: false },
    {
      W_enc: normal(config.dModel * dSae, 0.4),
      b_enc: normal(dSae, 0.05),
      W_dec: normal(dSae * config.dModel, 0.4),
      b_dec: normal(config.dModel, 0.05),
    },
  );
  afterAll(() => {
    model.dispose();
    sae.dispose();
  });
  const last = [8, 6, 7, 5, 8];
  const terms = last.map((_, i) => [[10 + i, 1] as [number, number], [50 + i, -1] as [number, number]]);
  const placed = {
    delta: [
      [2, 4],
      [3, -1],
      [6, -1],
      [2, -1],
      [5, -1],
    ],
    at: [7, 5, 8, 4, 7],
  };

  it.each([
    ['blocks.0.hook_resid_pre', 6],
    ['blocks.1.hook_resid_mid', 5],
    ['blocks.0.hook_resid_post', 8],
  ] as const)('%s from position %i of 9 (window 3): the suffix residual equals the full forward', (h, from) => {
    expect(onwardErr(model, tokens, h, from)).toBeLessThan(1e-5);
  });

  async function run(hookOnward: boolean, mode: 'none' | 'encoder' | 'jacobian', layout: 'last' | 'placed') {
    const positions = layout === 'last' ? last.map((p) => [p]) : placed.delta;
    const readout = { at: layout === 'last' ? last : placed.at, terms };
    const h = tf.tidy(() => model.runToHook(tokens, hook));
    const b = logitBehaviour(model, hook, readout);
    const site = await RecoverySite.create({
      sae,
      features: [0, 3, 5, 8, 13],
      clamp: parseClampRule('zero'),
      h,
      positions,
      behaviour: b.behaviour,
      hookOnward,
    });
    const r = await RecoveryRun.create(site, {
      mode,
      steps: 10,
      lr: 0.05,
      budget: 3,
      jacobian: { exactMaxRows: 64, probes: 0, correctionSteps: 1, correctionLr: 0.05 },
    });
    await r.run();
    const out = { objective: r.history.map((e) => e.objective as number), delta: await r.deltaValues() };
    r.dispose();
    site.dispose();
    b.dispose();
    h.dispose();
    return out;
  }

  it.each([
    ['none', 'last'],
    ['jacobian', 'last'],
    ['encoder', 'placed'],
  ] as const)('%s, δ at %s: per-step objective and δ equal the full forward’s to 1e-5', async (mode, layout) => {
    const full = await run(false, mode, layout);
    const onward = await run(true, mode, layout);
    expect(full.objective.length).toBe(11);
    expect(maxRelErr(onward.objective, full.objective)).toBeLessThan(1e-5);
    expect(normRelErr(onward.delta, full.delta)).toBeLessThan(1e-5);
    expect(Math.max(...Array.from(full.delta, Math.abs))).toBeGreaterThan(1e-3);
  });

  it('the gradient through the onward path (cached keys and values, the window, the caps) equals the full forward’s', () => {
    // δ at the last position only: the full forward's gradient at that position equals the onward one's.
    const from = 6;
    const [gFull, gOnward] = tf.tidy(() => {
      const h = model.runToHook(tokens, hook);
      const r = tf.randomNormal([N, T, config.vocabSize], 0, 1, 'float32', 3);
      const full = tf.grad((x: Tensor) => tf.sum(tf.mul(model.forwardFrom(hook, x as Tensor3D), r)))(h);
      const rest = HookOnward.create(model, hook, tf.slice(h, [0, 0, 0], [N, from, 32]));
      const rs = tf.slice(r, [0, from, 0], [N, T - from, config.vocabSize]);
      const onward = tf.grad((x: Tensor) => tf.sum(tf.mul(model.unembed(rest.residual(x as Tensor3D)), rs)))(
        tf.slice(h, [0, from, 0], [N, T - from, 32]),
      );
      rest.dispose();
      return [tf.slice(full, [0, from, 0], [N, T - from, 32]).dataSync(), onward.dataSync()];
    });
    expect(maxRelErr(gOnward, gFull)).toBeLessThan(1e-5);
    expect(Math.max(...Array.from(gFull, Math.abs))).toBeGreaterThan(1e-3);
  });
});
