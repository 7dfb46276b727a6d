// The engine session as the worker drives it, in Node (cpu backend).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { tf } from '../core/tf.ts';
import { EngineSession } from './session.ts';
import type { DefenceInfo, EngineEvent, ScenarioInfo } from './protocol.ts';
import type { RecoveryResult } from '../core/metrics.ts';

const publicDir = path.resolve(import.meta.dirname, '../../public');

function makeSession() {
  const events: EngineEvent[] = [];
  const session = new EngineSession({
    emit: (e) => events.push(e),
    fetchAsset: async (p) => {
      const b = readFileSync(path.join(publicDir, p));
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    },
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  });
  return { session, events };
}

const waitFor = async (cond: () => boolean, ms = 30_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('engine session', () => {
  it('loads the probe example, shows the clamp alone, runs, pauses, steps, resumes and finishes', async () => {
    const { session, events } = makeSession();
    const before = tf.memory().numTensors;
    const info = (await session.handle({ type: 'loadScenario', scenario: { kind: 'probe-example' } })) as ScenarioInfo;
    expect(info.n).toBe(48);
    expect(info.features.attribution).toHaveLength(info.dSae);
    expect(info.defaults.features.length).toBeGreaterThan(0);
    const defence = (await session.handle({ type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp })) as DefenceInfo;
    expect(defence.validFlips).toBeGreaterThan(10);
    expect(defence.valid.filter(Boolean)).toHaveLength(defence.validFlips);

    const config = { options: { steps: 40, mode: 'encoder' as const }, positions: 'all' as const, metricsEvery: 5, stepDelayMs: 2 };
    await session.handle({ type: 'start', config });
    await waitFor(() => events.filter((e) => e.type === 'metrics').length >= 3);
    const paused = (await session.handle({ type: 'pause' })) as { status: string; step: number };
    expect(paused.status).toBe('paused');
    expect(paused.step).toBeGreaterThan(0);
    expect(paused.step).toBeLessThan(40);
    const stepped = (await session.handle({ type: 'step', count: 1 })) as { step: number };
    expect(stepped.step).toBe(paused.step + 1);
    await session.handle({ type: 'resume' });
    await waitFor(() => events.some((e) => e.type === 'done'));
    const done = events.find((e) => e.type === 'done') as { result: RecoveryResult };
    expect(done.result.history.at(-1)!.step).toBe(40);
    expect(done.result.aggregate.validFlips).toBe(defence.validFlips);

    // The same configuration run straight through gives the same numbers (pausing changes nothing).
    const straight = makeSession();
    await straight.session.handle({ type: 'loadScenario', scenario: { kind: 'probe-example' } });
    await straight.session.handle({ type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp });
    await straight.session.handle({ type: 'start', config: { ...config, stepDelayMs: 0 } });
    await waitFor(() => straight.events.some((e) => e.type === 'done'));
    const other = straight.events.find((e) => e.type === 'done') as { result: RecoveryResult };
    expect(other.result.samples.map((s) => s.recovered)).toEqual(done.result.samples.map((s) => s.recovered));

    const replay = (await session.handle({ type: 'analyse', analysis: 'replay' })) as { part: string; recovered: number }[];
    expect(replay[0]).toMatchObject({ part: 'full', recovered: done.result.aggregate.recovered });
    const jac = (await session.handle({ type: 'analyse', analysis: 'jacobian' })) as { nullSpaceDim: number; d: number };
    expect(jac.nullSpaceDim).toBeLessThanOrEqual(jac.d);
    const sweep = (await session.handle({ type: 'analyse', analysis: 'budget-sweep', budgets: [0.1, 4] })) as { recovered: number }[];
    expect(sweep[0].recovered).toBeLessThanOrEqual(sweep[1].recovered);

    await session.dispose();
    await straight.session.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects requests out of order and bad settings with input errors', async () => {
    const { session } = makeSession();
    await expect(session.handle({ type: 'setDefence', features: [1], clamp: { kind: 'set', value: 0, onlyActive: false } })).rejects.toThrow(/load a scenario first/);
    await session.handle({ type: 'loadScenario', scenario: { kind: 'probe-example' } });
    await expect(session.handle({ type: 'start', config: { options: {}, positions: 'all', metricsEvery: 1, stepDelayMs: 0 } })).rejects.toThrow(/choose the defended features first/);
    await expect(session.handle({ type: 'setDefence', features: [100000], clamp: { kind: 'set', value: 0, onlyActive: false } })).rejects.toThrow(/out of range/);
    await session.handle({ type: 'setDefence', features: [1], clamp: { kind: 'set', value: 0, onlyActive: false } });
    await expect(session.handle({ type: 'start', config: { options: { lr: -1 }, positions: 'all', metricsEvery: 1, stepDelayMs: 0 } })).rejects.toThrow(/lr must be a positive number/);
    await expect(session.handle({ type: 'loadScenario', scenario: { kind: 'probe', files: { cfgJson: '{', weights: new ArrayBuffer(8), activations: new ArrayBuffer(8), probe: new ArrayBuffer(8) } } })).rejects.toThrow(/./);
    await session.dispose();
  });
});
