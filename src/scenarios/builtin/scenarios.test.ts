// The paper's four experiments on the committed built-in model: each default run has valid flips to recover,
// the encoder projection drifts less than none on the same run, the residual-only replay recovers at least
// as many flips as the clamped-features-only replay, and reruns are identical.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxRelErr, normRelErr } from '../../core/compare.ts';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { initNodeBackend } from '../../engine/node-backend.ts';
import { loadScenario } from '../load.ts';
import type { LoadedScenario } from '../loaded.ts';
import { createSite, defaultDefence, runOptions, runScenario, type ScenarioRunOutput } from '../run.ts';
import { RecoveryRun } from '../../core/recovery.ts';
import { resultToJson } from '../../io/results.ts';
import { BUILTIN_SCENARIO_IDS, SCENARIOS } from '../catalog.ts';

const root = path.resolve(import.meta.dirname, '../../../public');
const read = async (p: string) => new Uint8Array(readFileSync(path.join(root, p)));

beforeAll(async () => {
  await initNodeBackend('wasm');
});
afterAll(async () => {
  await initNodeBackend('cpu');
});

describe.each(BUILTIN_SCENARIO_IDS)('%s on the built-in model', (id) => {
  let sc: LoadedScenario;
  beforeAll(async () => {
    sc = await loadScenario({ kind: 'builtin', scenario: id }, read);
  });
  afterAll(() => sc.dispose());

  it("loads with the scenario table's defaults", () => {
    const table = SCENARIOS[id].defaults;
    expect(sc.defaults.run).toEqual(table.run);
    expect(sc.defaults.clamp).toEqual(table.clamp);
    expect(sc.defaults.features).toEqual(sc.rank.slice(0, table.k(sc.sae.dSae)));
    expect(sc.defaults.features.length).toBeGreaterThan(0);
  });

  it('has enough valid flips; encoder drifts less than none; residual-only replay ≥ clamped-only replay', async () => {
    const none = await runScenario(sc, { settings: { steps: 40, mode: 'none' } });
    const enc = await runScenario(sc, { settings: { steps: 40, mode: 'encoder' }, replayTopK: 8 });
    // 20, except unlearning's defence, calibrated for specificity and retain accuracy ≥ 0.99 (catalog.ts).
    expect(none.result.aggregate.validFlips).toBeGreaterThanOrEqual(id === 'unlearning' ? 12 : 20);
    expect(enc.result.aggregate.validFlips).toBe(none.result.aggregate.validFlips);
    // Where mode none moves the defended features at all (unlearning's four features at −6 may stay off in both).
    const noneDrift = none.result.aggregate.meanAbsDrift!;
    if (noneDrift > 0) expect(enc.result.aggregate.meanAbsDrift!).toBeLessThan(noneDrift);
    else expect(enc.result.aggregate.meanAbsDrift!).toBe(0);
    const part = (name: string) => enc.replay!.find((r) => r.part === name)!.recovered;
    expect(part('residual')).toBeGreaterThanOrEqual(part('clamped features'));
    expect(part('full')).toBe(enc.result.aggregate.recovered);
  });

  it('gives identical JSON when rerun with the same seed', async () => {
    const req = { settings: { steps: 8, seed: 3 } };
    const a = await runScenario(sc, req);
    const b = await runScenario(sc, req);
    const strip = (r: typeof a.result) => resultToJson({ ...r, config: { ...r.config, backend: null } });
    expect(strip(b.result)).toEqual(strip(a.result));
    expect(a.result.config).toMatchObject({ scenario: id, steps: 8, seed: 3, mode: SCENARIOS[id].defaults.run.mode });
  });

  it('gives the same result on one site reused across runs and with metrics read only at the ends (as the report runs)', async () => {
    const req = { settings: { steps: 8, seed: 3 } };
    const strip = (r: ScenarioRunOutput['result']) => resultToJson({ ...r, config: { ...r.config, backend: null }, history: [] });
    const fresh = await runScenario(sc, req);
    const site = await createSite(sc, defaultDefence(sc));
    try {
      for (let i = 0; i < 2; i++) {
        const again = await runScenario(sc, { ...req, site }, { metricsEvery: Number.POSITIVE_INFINITY });
        expect(strip(again.result)).toEqual(strip(fresh.result));
        // The history's entries, the projection cosine among them, are those of the same steps in the fresh run.
        expect(again.result.history).toEqual([fresh.result.history[0], fresh.result.history.at(-1)]);
      }
      await expect(runScenario(sc, { ...req, features: sc.rank.slice(0, 1), site })).rejects.toThrow(/another defence/);
    } finally {
      site.dispose();
    }
  });

  it('computes B from the hook onward (first changed position, read columns) with the whole forward’s numbers', async () => {
    // TPP's B is a probe on the mean-pooled residual: no model runs after the hook, so there is nothing to skip.
    expect(Boolean(sc.behaviour.onward)).toBe(id !== 'tpp');
    if (!sc.behaviour.onward) return;
    const trace = async (hookOnward: boolean) => {
      const site = await createSite(sc, defaultDefence(sc), { hookOnward });
      const run = await RecoveryRun.create(site, runOptions(id, { steps: 6, mode: 'none' }));
      await run.run();
      const out = { objective: run.history.map((e) => e.objective as number), delta: await run.deltaValues() };
      run.dispose();
      site.dispose();
      return out;
    };
    const full = await trace(false);
    const onward = await trace(true);
    expect(onward.objective).toHaveLength(7);
    expect(maxRelErr(onward.objective, full.objective)).toBeLessThan(1e-5);
    expect(normRelErr(onward.delta, full.delta)).toBeLessThan(1e-5);
  });
});
