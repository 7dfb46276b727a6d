// Recovery from the hook onward gives the numbers of the plain forward: the suffix residual with cached keys and
// values, the column readout, and whole recovery runs (objective per step and δ) on a GPT-2-shaped fixture.
import { afterAll, describe, expect, it } from 'vitest';
import { maxRelErr, normRelErr } from '../core/compare.ts';
import { tf, type Tensor3D } from '../core/tf.ts';
import { randomGpt2 } from './families/gpt2/load.ts';
import { HookOnward, ReadoutHead } from './hook-onward.ts';
import { Sae } from '../core/sae.ts';
import { parseClampRule } from '../core/clamp.ts';
import { RecoverySite } from '../core/site.ts';
import { RecoveryRun } from '../core/recovery.ts';
import { mulberry32 } from '../core/rng.ts';
import { logitBehaviour } from '../scenarios/builtin/common.ts';

const config = { nLayer: 3, nHead: 4, dModel: 32, nCtx: 16, vocabSize: 300, lnEps: 1e-5 };
const model = randomGpt2(config, 7, 0.2);
afterAll(() => model.dispose());

const N = 5;
const T = 9;
const ids = Array.from({ length: N }, (_, i) => Array.from({ length: T }, (_, t) => (i * 37 + t * 11 + 3) % config.vocabSize));

describe('the model from the hook onward', () => {
  it.each([
    ['blocks.1.hook_resid_pre', 5],
    ['blocks.0.hook_resid_mid', 3],
    ['blocks.1.hook_resid_post', 8],
    ['blocks.1.hook_resid_pre', 0],
  ] as const)('%s from position %i: the suffix residual equals the full forward', (hook, from) => {
    const [full, onward] = tf.tidy(() => {
      const h = model.runToHook(ids, hook);
      const want = tf.slice(model.residualFrom(hook, h), [0, from, 0], [N, T - from, config.dModel]);
      const rest = HookOnward.create(model, hook, tf.slice(h, [0, 0, 0], [N, from, config.dModel]));
      const got = rest.residual(tf.slice(h, [0, from, 0], [N, T - from, config.dModel]));
      const out = [want.dataSync().slice(), got.dataSync().slice()];
      rest.dispose();
      return out;
    });
    expect(onward.length).toBe(N * (T - from) * config.dModel);
    expect(maxRelErr(onward, full)).toBeLessThan(1e-5);
  });

  it('leaks no tensor: a create, use and dispose leaves the count as it was', () => {
    const h = tf.tidy(() => model.runToHook(ids, 'blocks.1.hook_resid_pre'));
    const cycle = () => {
      const prefix = tf.slice(h, [0, 0, 0], [N, 4, config.dModel]);
      const rest = HookOnward.create(model, 'blocks.1.hook_resid_pre', prefix);
      prefix.dispose();
      tf.tidy(() => {
        rest.residual(tf.slice(h, [0, 4, 0], [N, T - 4, config.dModel]));
      });
      rest.dispose();
    };
    cycle();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) cycle();
    expect(tf.memory().numTensors).toBe(before);
    h.dispose();
  });

  it('the column readout equals the weighted full logits at each row’s position', () => {
    const at = [8, 6, 8, 7, 5];
    const terms = at.map((_, i) => [
      [i + 1, 1],
      [i + 40, -1],
      [i + 1, 0.5],
    ]) as [number, number][][];
    const head = new ReadoutHead(model, { at, terms });
    const [got, want] = tf.tidy(() => {
      const h = model.runToHook(ids, 'blocks.2.hook_resid_pre');
      const logits = model.forwardFrom('blocks.2.hook_resid_pre', h).arraySync() as number[][][];
      const want = at.map((p, i) => terms[i].reduce((s, [tok, w]) => s + w * logits[i][p][tok], 0));
      return [Array.from(head.apply(model.residualFrom('blocks.2.hook_resid_pre', h)).dataSync()), want];
    });
    head.dispose();
    expect(maxRelErr(got, want)).toBeLessThan(1e-5);
  });

  it('refuses a readout token outside the vocabulary and a position before the suffix', () => {
    expect(() => new ReadoutHead(model, { at: [0], terms: [[[300, 1]]] })).toThrow('readout token 300 is outside the vocabulary 0..299');
    const head = new ReadoutHead(model, { at: [2], terms: [[[3, 1]]] });
    expect(() => tf.tidy(() => head.apply(tf.zeros([1, 4, config.dModel]) as Tensor3D, 3))).toThrow('readout position 2 is outside 3..6');
    head.dispose();
  });
});

describe('a recovery run from the hook onward', () => {
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
  afterAll(() => sae.dispose());

  // Prompts of different lengths (right-padded), δ and the readout at each one's last token, as in refusal.
  const lengths = [9, 7, 8, 6, 9];
  const last = lengths.map((l) => l - 1);
  // A prompt set's placed positions: δ mid-prompt (two slots in the first row, one unused elsewhere), the readout
  // after it but before the last token, so the onward path starts at δ's first position, not the readout.
  const placed = {
    delta: [
      [2, 4],
      [3, -1],
      [4, -1],
      [2, -1],
      [3, -1],
    ],
    at: [6, 5, 4, 4, 7],
  };
  const terms = last.map((_, i) => [[10 + i, 1] as [number, number], [50 + i, -1] as [number, number]]);

  async function run(hookOnward: boolean, mode: 'none' | 'encoder' | 'jacobian', layout: 'last' | 'placed' = 'last') {
    const positions = layout === 'last' ? last.map((p) => [p]) : placed.delta;
    const readout = { at: layout === 'last' ? last : placed.at, terms };
    const h = tf.tidy(() => model.runToHook(ids, hook));
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
      steps: 12,
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

  it.each(['none', 'encoder', 'jacobian'] as const)('%s: per-step objective and δ equal the full forward’s to 1e-5', async (mode) => {
    const full = await run(false, mode);
    const onward = await run(true, mode);
    expect(full.objective.length).toBe(13);
    expect(maxRelErr(onward.objective, full.objective)).toBeLessThan(1e-5);
    expect(normRelErr(onward.delta, full.delta)).toBeLessThan(1e-5);
    // The run did something: δ is not zero.
    expect(Math.max(...Array.from(full.delta, Math.abs))).toBeGreaterThan(1e-3);
  });

  it.each(['none', 'encoder'] as const)('%s, δ mid-prompt and the readout after it: equal to the full forward’s to 1e-5', async (mode) => {
    const full = await run(false, mode, 'placed');
    const onward = await run(true, mode, 'placed');
    expect(maxRelErr(onward.objective, full.objective)).toBeLessThan(1e-5);
    expect(normRelErr(onward.delta, full.delta)).toBeLessThan(1e-5);
    expect(Math.max(...Array.from(full.delta, Math.abs))).toBeGreaterThan(1e-3);
  });

  it('δ mid-prompt changes the residual only at its position and after, and B at the readout', () => {
    const from = 3;
    const b = logitBehaviour(model, hook, { at: [6, 6, 6, 6, 6], terms });
    let before: number[] = [];
    let after: number[] = [];
    let bChange = 0;
    let onwardErr = 1;
    tf.tidy(() => {
      const h = model.runToHook(ids, hook);
      const at = tf.oneHot(tf.fill([N], from, 'int32'), T).reshape([N, T, 1]);
      const hRec = tf.add(h, tf.mul(at, tf.randomNormal([N, 1, config.dModel], 0, 1, 'float32', 5))) as Tensor3D;
      const change = tf
        .abs(tf.sub(model.residualFrom(hook, hRec), model.residualFrom(hook, h)))
        .max([0, 2])
        .arraySync() as number[];
      [before, after] = [change.slice(0, from), change.slice(from)];
      const bRec = b.behaviour(hRec);
      bChange = Math.max(...Array.from(tf.abs(tf.sub(bRec, b.behaviour(h))).dataSync()));
      const suffix = b.behaviour.onward?.(h, from);
      if (!suffix) throw new Error('a logit behaviour has an onward form');
      onwardErr = maxRelErr(suffix.behaviour(tf.slice(hRec, [0, from, 0], [N, T - from, config.dModel])).dataSync(), bRec.dataSync());
      suffix.dispose();
    });
    b.dispose();
    expect(Math.max(...before)).toBe(0);
    expect(Math.min(...after)).toBeGreaterThan(1e-4);
    expect(bChange).toBeGreaterThan(1e-4);
    expect(onwardErr).toBeLessThan(1e-5);
  });
});
