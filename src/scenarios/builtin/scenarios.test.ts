// The paper's four experiments on the committed built-in model (issue 4): each default run has valid flips
// to recover, the encoder projection drifts less than none on the same run, the residual-only replay
// recovers at least as many flips as the clamped-features-only replay, and reruns are identical.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { initNodeBackend } from '../../engine/node-backend.ts';
import { openWorkbench, runScenario, type Workbench } from '../run.ts';
import { resultToJson } from '../../io/results.ts';
import { SCENARIO_IDS } from './types.ts';

const root = path.resolve(import.meta.dirname, '../../../public/models');
const read = async (p: string) => new Uint8Array(readFileSync(path.join(root, p)));
let wb: Workbench;

beforeAll(async () => {
  await initNodeBackend('wasm');
  wb = await openWorkbench(read);
});
afterAll(async () => {
  wb.dispose();
  await initNodeBackend('cpu');
});

describe.each(SCENARIO_IDS)('%s on the built-in model', (id) => {
  it('has ≥ 20 valid flips; encoder drifts less than none; residual-only replay ≥ clamped-only replay', async () => {
    const steps = { steps: 40 };
    const none = await runScenario(wb, { scenario: id, options: { ...steps, mode: 'none' } });
    const enc = await runScenario(wb, { scenario: id, options: { ...steps, mode: 'encoder' }, replayTopK: 8 });
    expect(none.result.aggregate.validFlips).toBeGreaterThanOrEqual(20);
    expect(enc.result.aggregate.validFlips).toBe(none.result.aggregate.validFlips);
    expect(enc.result.aggregate.meanAbsDrift!).toBeLessThan(none.result.aggregate.meanAbsDrift!);
    const part = (name: string) => enc.replay!.find((r) => r.part === name)!.recovered;
    expect(part('residual')).toBeGreaterThanOrEqual(part('clamped features'));
    expect(part('full')).toBe(enc.result.aggregate.recovered);
  });

  it('gives identical JSON when rerun with the same seed', async () => {
    const req = { scenario: id, options: { steps: 8, seed: 3 } } as const;
    const a = await runScenario(wb, req);
    const b = await runScenario(wb, req);
    const strip = (r: typeof a.result) => resultToJson({ ...r, config: { ...r.config, backend: null } });
    expect(strip(b.result)).toEqual(strip(a.result));
  });
});
