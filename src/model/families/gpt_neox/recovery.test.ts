// Whole recovery runs on the GPT-NeoX fixture with its SAELens SAE (blocks.1.hook_resid_pre): from the hook onward
// (cached rotary keys and values, the suffix at positions from the first δ position) they give the per-step
// objective and δ of the run on the whole residual. Both residual forms; TransformerLens-processed weights.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseClampRule } from '../../../core/clamp.ts';
import { maxRelErr, normRelErr } from '../../../core/compare.ts';
import { RecoveryRun } from '../../../core/recovery.ts';
import { Sae } from '../../../core/sae.ts';
import { RecoverySite } from '../../../core/site.ts';
import { tf } from '../../../core/tf.ts';
import { parseSafetensors } from '../../../io/safetensors.ts';
import { logitBehaviour } from '../../../scenarios/builtin/common.ts';
import { loadNeoxFixture, NEOX_DIRS, NEOX_SAE_DIR, neoxIds } from './testing.ts';

const w = parseSafetensors(readFileSync(path.join(NEOX_SAE_DIR, 'sae_weights.safetensors'))).tensors;
// The SAE reads the processed model's residual here, as SAELens's Pythia SAEs do; the equivalence does not depend on its fit.
const sae = Sae.create(
  { architecture: 'standard', dIn: 64, dSae: 32, applyBDecToInput: true, normalizeActivations: 'none', centerInput: false },
  { W_enc: w.get('W_enc')!.data, b_enc: w.get('b_enc')!.data, W_dec: w.get('W_dec')!.data, b_dec: w.get('b_dec')!.data },
);
afterAll(() => sae.dispose());

const hook = 'blocks.1.hook_resid_pre';

describe.each([
  ['parallel', NEOX_DIRS.parallel, ['none', 'encoder'] as const],
  ['sequential', NEOX_DIRS.sequential, ['encoder'] as const],
])('a recovery run from the hook onward (%s residual)', (_, dir, modes) => {
  const { model } = loadNeoxFixture(dir, 'transformer-lens');
  afterAll(() => model.dispose());
  // The two full-length prompts of the fixture and the two padded ones cut to a common length of 10.
  const ids = neoxIds(dir).ids.map((row) => row.slice(0, 10));
  const last = [9, 9, 9, 4];
  const terms = last.map((_, i) => [[300 + i, 1] as [number, number], [260 + 3 * i, -1] as [number, number]]);

  async function run(hookOnward: boolean, mode: 'none' | 'encoder', layout: 'last' | 'placed') {
    // 'placed': δ mid-prompt (two slots in the first row), the readout after it.
    const positions =
      layout === 'last'
        ? last.map((p) => [p])
        : [
            [3, 6],
            [5, -1],
            [4, -1],
            [2, -1],
          ];
    const readout = { at: layout === 'last' ? last : [7, 8, 6, 4], terms };
    const h = tf.tidy(() => model.runToHook(ids, hook));
    const b = logitBehaviour(model, hook, readout);
    const site = await RecoverySite.create({
      sae,
      features: [0, 3, 5, 8, 13, 21],
      clamp: parseClampRule('zero'),
      h,
      positions,
      behaviour: b.behaviour,
      hookOnward,
    });
    const r = await RecoveryRun.create(site, { mode, steps: 6, lr: 0.05, budget: 3 });
    await r.run();
    const out = { objective: r.history.map((e) => e.objective as number), delta: await r.deltaValues() };
    r.dispose();
    site.dispose();
    b.dispose();
    h.dispose();
    return out;
  }

  it.each(modes.map((m) => [m, m === 'none' ? 'last' : 'placed'] as const))(
    '%s, δ at %s: the per-step objective and δ equal the whole-residual run’s to 1e-5',
    async (mode, layout) => {
      const full = await run(false, mode, layout);
      const onward = await run(true, mode, layout);
      expect(full.objective.length).toBe(7);
      expect(maxRelErr(onward.objective, full.objective)).toBeLessThan(1e-5);
      expect(normRelErr(onward.delta, full.delta)).toBeLessThan(1e-5);
      expect(Math.max(...Array.from(full.delta, Math.abs))).toBeGreaterThan(1e-3);
    },
  );
});
