// Quality gates on the committed built-in model and its SAEs (issue 3): the assets in public/models must
// solve every task family, their SAEs must be sparse, alive and as good as their names say, and the
// default defences must flip enough held-out samples for the scenarios to have something to recover.
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { tf, type Tensor2D } from '../core/tf.ts';
import { loadBuiltinModel, loadBuiltinSae, readModelIndex, type BuiltinModel, type ModelIndexEntry } from '../scenarios/builtin/assets.ts';
import { BUILTIN_SCENARIO_IDS } from '../scenarios/catalog.ts';
import { loadScenario } from '../scenarios/load.ts';
import { createSite, defaultDefence } from '../scenarios/run.ts';
import { initNodeBackend } from '../engine/node-backend.ts';
import { FAMILIES, heldOutSet } from './generate.ts';
import { accuracyByFamily, batchIds } from './evaluate.ts';

const publicDir = path.resolve(import.meta.dirname, '../../public');
const root = path.join(publicDir, 'models');
const read = async (p: string) => new Uint8Array(readFileSync(path.join(publicDir, p)));

let index: ModelIndexEntry[];
let builtin: BuiltinModel;
beforeAll(async () => {
  // On wasm, not the suite's default cpu backend: the same checks (thresholds, not exact figures) several times faster.
  await initNodeBackend('wasm');
  index = await readModelIndex(read);
  builtin = await loadBuiltinModel(read);
});
afterAll(() => builtin.model.dispose());

describe('the built-in model', () => {
  it('reaches ≥ 95% held-out accuracy on every task family', async () => {
    const sets = Object.fromEntries(FAMILIES.map((f) => [f, heldOutSet(f, 200, 77)]));
    const acc = await accuracyByFamily(builtin.model, builtin.tokenizer, sets);
    for (const f of FAMILIES) expect(acc[f], f).toBeGreaterThanOrEqual(0.95);
  });

  it('keeps the committed assets within 10 MB', () => {
    const bytes = (p: string): number =>
      statSync(p).isDirectory() ? readdirSync(p).reduce((n, f) => n + bytes(path.join(p, f)), 0) : statSync(p).size;
    expect(bytes(root)).toBeLessThanOrEqual(10 * 2 ** 20);
  });
});

describe('its SAEs', () => {
  it('are sparse (L0 ≤ d/4), alive (≤ 10% dead) and explain what their names say on held-out text', async () => {
    const { model, tokenizer } = builtin;
    const d = model.config.dModel;
    const examples = FAMILIES.flatMap((f) => heldOutSet(f, 100, 91));
    const entry = index[0];
    const archs = new Set<string>();
    const hooks = new Set<string>();
    for (const s of entry.saes) {
      const { loaded } = await loadBuiltinSae(read, entry, s.id);
      const { ids, lengths } = batchIds(tokenizer, examples, 'full');
      const T = ids[0].length;
      const h = tf.tidy(() => model.runToHook(ids, s.hook));
      const rows: number[] = [];
      lengths.forEach((l, b) => {
        for (let t = 0; t < l; t++) rows.push(b * T + t);
      });
      const [ev, l0, dead] = tf.tidy(() => {
        const x = tf.gather(tf.reshape(h, [-1, d]), tf.tensor1d(rows, 'int32')) as Tensor2D;
        const z = loaded.sae.encode(x);
        const resid = tf.sum(tf.square(tf.sub(x, loaded.sae.reconstruct(x))));
        const total = tf.sum(tf.square(tf.sub(x, tf.mean(x, 0, true))));
        const fires = tf.sum(tf.step(z), 0);
        return [
          tf.sub(1, tf.div(resid, total)).dataSync()[0],
          tf.mean(tf.sum(tf.step(z), 1)).dataSync()[0],
          tf.mean(tf.cast(tf.equal(fires, 0), 'float32')).dataSync()[0],
        ];
      });
      h.dispose();
      loaded.sae.dispose();
      expect(l0, `${s.name} L0`).toBeLessThanOrEqual(d / 4);
      expect(dead, `${s.name} dead share`).toBeLessThanOrEqual(0.1);
      expect(ev, `${s.name} explained variance`).toBeGreaterThanOrEqual(0.7);
      expect(Math.abs(ev - s.explainedVariance), `${s.name} matches its record`).toBeLessThanOrEqual(0.05);
      archs.add(s.architecture);
      hooks.add(s.hook);
    }
    expect([...archs].sort()).toEqual(['jumprelu', 'standard', 'topk']);
    expect(hooks.size).toBeGreaterThanOrEqual(2);
    const ladder = entry.saes
      .filter((s) => s.id.startsWith('ladder-'))
      .map((s) => s.explainedVariance)
      .sort();
    expect(ladder).toHaveLength(3);
    [0.75, 0.9, 0.98].forEach((rung, i) => expect(Math.abs(ladder[i] - rung), `ladder rung ${rung}`).toBeLessThanOrEqual(0.05));
  });
});

/**
 * Valid flips the default defence must make on seed 0: 20, except unlearning's, calibrated to be specific and keep
 * retain accuracy ≥ 0.99 (SAEBench's rule; catalog.ts), which flips 18 of 128 there (13–18 on seeds 0–1).
 */
const MIN_VALID_FLIPS: Record<string, number> = { unlearning: 12 };

describe('the phenomenon is there', () => {
  it.each(BUILTIN_SCENARIO_IDS)('%s: the default defence flips enough held-out samples', async (id) => {
    const sc = await loadScenario({ kind: 'builtin', scenario: id }, read);
    const site = await createSite(sc, defaultDefence(sc));
    expect(site.baseline.valid.filter(Boolean).length).toBeGreaterThanOrEqual(MIN_VALID_FLIPS[id] ?? 20);
    site.dispose();
    sc.dispose();
  });
});
