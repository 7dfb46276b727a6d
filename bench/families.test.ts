// Level d's body at tiny shapes (bench/families.ts), on the cpu backend: it runs and makes level-d records, and its
// implementations of one step compute the same objective — from the hook onward over cached keys and values against
// every position from the hook, and (Gemma-2) 16-bit weights against the same weights widened to float32 and
// folded. Timings are not asserted.
import { afterAll, describe, expect, it } from 'vitest';
import { tf } from '../src/core/tf.ts';
import { parseSafetensors } from '../src/io/safetensors.ts';
import {
  buildGemmaCase,
  buildNeoxCase,
  compareObjectives,
  GEMMA_DEFAULTS,
  type GemmaStepOptions,
  loadNeox,
  NEOX_DEFAULTS,
  NEOX_SIZES,
  neoxCaseData,
  neoxCaseFile,
  neoxCheckpoint,
  type NeoxStepOptions,
  runCase,
  type StepCase,
  stepObjective,
} from './families.ts';
import type { BenchHost } from './levels.ts';

const host: BenchHost = { rssMB: () => null, readAsset: async () => new Uint8Array(), progress: () => {} };
const worst = (r: Record<string, number>) => Math.max(...Object.values(r));

describe('level d, gemma-2-shaped (tiny)', () => {
  const o: GemmaStepOptions = { ...GEMMA_DEFAULTS, size: 'tiny', n: 3, t: 6, steps: 1, variants: ['onward', 'from-hook'], fromHookN: 3 };
  const cases: StepCase[] = [];
  afterAll(() => {
    for (const c of cases) c.dispose();
  });

  it('the onward step, the step on every position and the 16-bit weights’ step compute the same objective', async () => {
    const f32 = await buildGemmaCase(host, { ...o, weights16: false });
    const w16 = await buildGemmaCase(host, { ...o, weights16: true });
    cases.push(f32, w16);
    const probe = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i + 1));
    const onward = await stepObjective(f32, 'onward', probe, ['none', 'encoder'], 3);
    const fromHook = await stepObjective(f32, 'from-hook', probe, ['none', 'encoder'], 3);
    const sixteen = await stepObjective(w16, 'onward', probe, ['none', 'encoder'], 3);
    expect(worst(compareObjectives(onward, fromHook))).toBeLessThan(1e-4);
    expect(worst(compareObjectives(sixteen, onward))).toBeLessThan(1e-4);
    // Not vacuous: B varies across prompts, the gradient and δ are not zero.
    expect(Math.max(...onward.grad.map(Math.abs))).toBeGreaterThan(1e-4);
    expect(new Set(onward.bDef.map((b) => b.toFixed(4))).size).toBe(3);
    expect(Math.max(...onward.delta.encoder.map(Math.abs))).toBeGreaterThan(1e-2);
  });

  it('runs both variants and modes into level-d records with memory figures', async () => {
    const records = await runCase(host, cases[0], { ...o, matmulPeak: false });
    expect(records.map((r) => `${r.impl} ${r.mode}`)).toEqual([
      'unclamp onward none',
      'unclamp onward encoder',
      'unclamp from-hook none',
      'unclamp from-hook encoder',
    ]);
    for (const r of records) {
      expect(r.failed).toBeUndefined();
      expect(r.level).toBe('d');
      expect(r.case).toMatch(/, 3×6$/);
      expect(r.extra?.stepPeakMB).toBeTypeOf('number');
      expect(r.extra?.planStepMB).toBeTypeOf('number');
    }
  });
});

describe('level d, pythia-shaped (tiny), through the family loader', () => {
  const o: NeoxStepOptions = { ...NEOX_DEFAULTS, size: 'tiny', n: 3, t: 5, steps: 1, fromHookN: 3 };
  const { config } = NEOX_SIZES.tiny;

  it('the onward step and the step on every position compute the same objective; the case file holds the case', async () => {
    const tensors = tf.memory().numTensors;
    const model = await loadNeox(config, neoxCheckpoint(config, 3));
    const data = neoxCaseData('tiny', o.n, o.t, 3);
    const c = buildNeoxCase(model, o, data);
    try {
      const onward = await stepObjective(c, 'onward', data.probeDelta, ['none', 'encoder'], 3);
      const fromHook = await stepObjective(c, 'from-hook', data.probeDelta, ['none', 'encoder'], 3);
      expect(worst(compareObjectives(onward, fromHook))).toBeLessThan(1e-4);
      expect(Math.max(...onward.grad.map(Math.abs))).toBeGreaterThan(1e-4);
    } finally {
      c.dispose();
      model.dispose();
    }
    const file = parseSafetensors(neoxCaseFile(data)).tensors;
    expect(Array.from(file.get('ids')!.data)).toEqual(data.ids.flat());
    expect(file.get('W_enc')!.shape).toEqual([32, 80]);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
