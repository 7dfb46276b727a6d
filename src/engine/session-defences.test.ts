// The engine session with defences other than the paper's clamp (the playground's defence choice) and the defence
// matrix as the page asks the worker for it: progress events, cancel, errors, and nothing left behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../core/tf.ts';
import { InputError } from '../core/errors.ts';
import { parseDefence } from '../core/defence-kinds.ts';
import { EngineSession, MatrixCancelled } from './session.ts';
import { nodeSessionHost } from './node-host.ts';
import { initNodeBackend } from './node-backend.ts';
import type { EngineEvent, MatrixRequest, RunConfig } from './protocol.ts';
import type { RecoveryResult } from '../core/metrics.ts';

function makeSession() {
  const events: EngineEvent[] = [];
  const session = new EngineSession(nodeSessionHost((e) => events.push(e)));
  return { session, events };
}

const waitFor = async (cond: () => boolean, ms = 120_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

const SHORT: RunConfig = { settings: { steps: 4 }, metricsEvery: 2, stepDelayMs: 0 };
const TINY_MATRIX: MatrixRequest = {
  scenario: 'ioi',
  seeds: [0],
  modes: ['encoder'],
  defences: [parseDefence('clamp'), parseDefence('no-error-term')],
  settings: { steps: 3 },
  budgets: [0.5, 1],
};

describe('engine session: the defence choice', () => {
  beforeAll(() => initNodeBackend('wasm'));
  afterAll(() => initNodeBackend('cpu'));

  it('applies no-error-term + detect on a built-in scenario, says what it set up, and the run reports its detection rate', async () => {
    const { session, events } = makeSession();
    try {
      const info = await session.handle({ type: 'loadScenario', scenario: { kind: 'builtin', scenario: 'ioi' } });
      expect(info.defenceKit).toBe(true);
      const clamp = await session.handle({ type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp });
      expect(clamp.choice).toEqual(parseDefence('clamp'));
      expect(clamp.description).toBe('Clamp (the paper’s)');
      const d = await session.handle({
        type: 'setDefence',
        features: info.defaults.features,
        clamp: info.defaults.clamp,
        defence: parseDefence('no-error-term+detect', { detectFpr: 0.05 }),
      });
      expect(d.choice.ids).toEqual(['no-error-term', 'detect']);
      expect(d.description).toBe('No error term + Detector at 5% FPR');
      expect(d.notes.join('\n')).toMatch(/monitor threshold \d/);
      await session.handle({ type: 'start', config: SHORT });
      await waitFor(() => events.some((e) => e.type === 'done'));
      const result = (events.find((e) => e.type === 'done') as { result: RecoveryResult }).result;
      expect(result.aggregate.detectionRate === null || typeof result.aggregate.detectionRate === 'number').toBe(true);
      expect(result.aggregate).toHaveProperty('detectionRate');
      expect(result.config.defence).toMatchObject({ ids: ['no-error-term', 'detect'] });
      // A changed δ position set rebuilds the site with the same defence.
      await session.handle({ type: 'start', config: { ...SHORT, settings: { steps: 2, positions: 'last' } } });
      await waitFor(() => events.filter((e) => e.type === 'done').length === 2);
      const again = (events.filter((e) => e.type === 'done')[1] as { result: RecoveryResult }).result;
      expect(again.config.defence).toMatchObject({ ids: ['no-error-term', 'detect'] });
    } finally {
      await session.dispose();
    }
  });

  it('refuses a defence the scenario cannot serve, or a malformed one, with an input error', async () => {
    const { session } = makeSession();
    try {
      const info = await session.handle({ type: 'loadScenario', scenario: { kind: 'probe-example' } });
      expect(info.defenceKit).toBe(false);
      const base = { type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp } as const;
      await expect(session.handle({ ...base, defence: parseDefence('detect') })).rejects.toThrow(/detect needs clean text/);
      await expect(
        session.handle({ ...base, defence: { ...parseDefence('clamp'), ids: ['no-error-term', 'reclamp'] } }),
      ).rejects.toBeInstanceOf(InputError);
      await expect(session.handle({ ...base, defence: { ...parseDefence('detect'), detectFpr: 3 } })).rejects.toThrow(/false-positive/);
      // The error-term-free defence needs nothing from the scenario.
      const d = await session.handle({ ...base, defence: parseDefence('no-error-term') });
      expect(d.validFlips).toBeGreaterThanOrEqual(0);
    } finally {
      await session.dispose();
    }
  });
});

describe('engine session: the defence matrix', () => {
  beforeAll(() => initNodeBackend('wasm'));
  afterAll(() => initNodeBackend('cpu'));

  it('runs a tiny matrix with progress events, leaves the loaded scenario as it was and frees what it made', async () => {
    const { session, events } = makeSession();
    try {
      const info = await session.handle({ type: 'loadScenario', scenario: { kind: 'probe-example' } });
      await session.handle({ type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp });
      const before = tf.memory().numTensors;
      const m = await session.handle({ type: 'matrix', ...TINY_MATRIX });
      expect(tf.memory().numTensors).toBe(before);
      expect(m.scenario).toBe('ioi');
      expect(m.defences.map((d) => d.defence)).toEqual(['clamp', 'no-error-term']);
      expect(m.cells).toHaveLength(4);
      expect(m.defences[0].budgetCurve.map((p) => p.multiple)).toEqual([0.5, 1]);
      const progress = events.filter((e) => e.type === 'matrixProgress');
      expect(progress.length).toBeGreaterThan(3);
      progress.forEach((p, i) => {
        expect(p.done).toBe(i);
        expect(p.total).toBeGreaterThanOrEqual(p.done);
      });
      // The estimate is the count: paper δ (1), no-error-term's adaptive δ (1), per defence cost + 2 curve points + steps (4 × 2).
      expect(progress[0].total).toBe(10);
      expect(progress).toHaveLength(10);
      // The session's own scenario and defence still serve a run.
      await session.handle({ type: 'start', config: SHORT });
      await waitFor(() => events.some((e) => e.type === 'done'));
    } finally {
      await session.dispose();
    }
  });

  it('stops at the next stage when cancelled, frees everything, and can run again', async () => {
    const { session, events } = makeSession();
    try {
      expect(await session.handle({ type: 'matrixCancel' })).toEqual({ cancelled: false });
      const before = tf.memory().numTensors;
      const running = session.handle({ type: 'matrix', ...TINY_MATRIX });
      running.catch(() => undefined);
      await waitFor(() => events.some((e) => e.type === 'matrixProgress'));
      await expect(session.handle({ type: 'matrix', ...TINY_MATRIX })).rejects.toThrow(/already running/);
      expect(await session.handle({ type: 'matrixCancel' })).toEqual({ cancelled: true });
      await expect(running).rejects.toBeInstanceOf(MatrixCancelled);
      expect(tf.memory().numTensors).toBe(before);
      expect(await session.handle({ type: 'matrixCancel' })).toEqual({ cancelled: false });
    } finally {
      await session.dispose();
    }
  });

  it('refuses what cannot run before loading anything', async () => {
    const { session } = makeSession();
    const bad: [Partial<MatrixRequest>, RegExp][] = [
      [{ scenario: 'probe-example' as MatrixRequest['scenario'] }, /built-in scenarios/],
      [{ seeds: [] }, /between 1 and 20 seeds/],
      [{ seeds: [0, 0] }, /listed twice/],
      [{ seeds: [-1] }, /seed/],
      [{ modes: [] }, /projection modes/],
      [{ modes: ['sideways' as 'none'] }, /projection modes/],
      [{ defences: [] }, /between 1 and 16 defences/],
      [{ defences: [parseDefence('clamp'), parseDefence('clamp')] }, /listed twice/],
      [{ defences: [{ ...parseDefence('clamp'), ids: ['no-error-term', 'clip-error'] }] }, /both act at the hook/],
      [{ budgets: [0] }, /budget multiples/],
      [{ settings: { steps: -3 } }, /steps/],
    ];
    for (const [change, message] of bad) {
      const e = await session.handle({ type: 'matrix', ...TINY_MATRIX, ...change }).catch((x) => x);
      expect(e, JSON.stringify(change)).toBeInstanceOf(InputError);
      expect(e.message, JSON.stringify(change)).toMatch(message);
    }
    await session.dispose();
  });
});
