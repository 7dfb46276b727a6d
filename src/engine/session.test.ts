// The engine session as the worker drives it, in Node (cpu backend): loading, the defence, the run loop's
// controls, analyses, memory, the scenario's defaults, and one case per kind of bad request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../core/tf.ts';
import { InputError } from '../core/errors.ts';
import { REPLAY_PARTS } from '../core/analyses.ts';
import { SCENARIOS } from '../scenarios/catalog.ts';
import { RUN_BOUNDS } from '../core/options.ts';
import { rhoForKappa } from '../core/budget.ts';
import { EngineSession } from './session.ts';
import { nodeSessionHost } from './node-host.ts';
import { initNodeBackend } from './node-backend.ts';
import type { DefenceInfo, EngineEvent, RunConfig, ScenarioInfo } from './protocol.ts';
import type { RecoveryResult } from '../core/metrics.ts';

function makeSession() {
  const events: EngineEvent[] = [];
  const session = new EngineSession(nodeSessionHost((e) => events.push(e)));
  const done = () => (events.find((e) => e.type === 'done') as { result: RecoveryResult } | undefined)?.result;
  return { session, events, done };
}

const waitFor = async (cond: () => boolean, ms = 30_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

const ZERO = { kind: 'set', value: 0, onlyActive: false } as const;
const config: RunConfig = { settings: { steps: 40, mode: 'encoder', positions: 'all' }, metricsEvery: 5, stepDelayMs: 2 };

describe('engine session on the probe example', () => {
  let s: ReturnType<typeof makeSession>;
  let info: ScenarioInfo;
  let defence: DefenceInfo;
  let tensorsBefore: number;
  beforeAll(async () => {
    tensorsBefore = tf.memory().numTensors;
    s = makeSession();
    info = await s.session.handle({ type: 'loadScenario', scenario: { kind: 'probe-example' } });
    defence = await s.session.handle({ type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp });
  });
  afterAll(() => s.session.dispose());

  it('loads the scenario with its feature table and its table of defaults', () => {
    expect(info.id).toBe('probe-example');
    expect(info.n).toBe(48);
    expect(info.features.attribution).toHaveLength(info.dSae);
    expect(info.features.logDensity).toHaveLength(info.dSae);
    expect(info.defaults.run).toEqual(SCENARIOS['probe-example'].defaults.run);
    expect(info.defaults.features).toHaveLength(SCENARIOS['probe-example'].defaults.k(info.dSae));
    expect(info.featureRule).toBe('top-4 positive attribution to B over every real token');
  });

  it('shows what the clamp alone does before any attack', () => {
    expect(defence.validFlips).toBeGreaterThan(10);
    expect(defence.valid.filter(Boolean)).toHaveLength(defence.validFlips);
    expect(defence.features).toEqual(info.defaults.features);
  });

  it('pauses (the step stops moving), steps exactly one, resumes and finishes with the whole history', async () => {
    await s.session.handle({ type: 'start', config });
    await waitFor(() => s.events.filter((e) => e.type === 'metrics').length >= 3);
    const paused = await s.session.handle({ type: 'pause' });
    expect(paused.status).toBe('paused');
    expect(paused.step).toBeGreaterThan(0);
    expect(paused.step).toBeLessThan(40);
    await new Promise((r) => setTimeout(r, 50));
    expect((await s.session.handle({ type: 'pause' })).step).toBe(paused.step);
    const stepped = await s.session.handle({ type: 'step', count: 1 });
    expect(stepped).toEqual({ status: 'paused', step: paused.step + 1 });
    expect(await s.session.handle({ type: 'resume' })).toEqual({ status: 'running' });
    await waitFor(() => s.done() !== undefined);
    const result = s.done()!;
    expect(result.history.at(-1)!.step).toBe(40);
    expect(result.aggregate.validFlips).toBe(defence.validFlips);
    expect(result.config).toMatchObject({
      scenario: 'probe-example',
      steps: 40,
      positions: 'all',
      lr: SCENARIOS['probe-example'].defaults.run.lr,
    });
  });

  it('gives the same numbers whether paused on the way or run straight through', async () => {
    const straight = makeSession();
    await straight.session.handle({ type: 'loadScenario', scenario: { kind: 'probe-example' } });
    await straight.session.handle({ type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp });
    await straight.session.handle({ type: 'start', config: { ...config, stepDelayMs: 0 } });
    await waitFor(() => straight.done() !== undefined);
    expect(straight.done()!.samples.map((x) => x.recovered)).toEqual(s.done()!.samples.map((x) => x.recovered));
    await straight.session.dispose();
  });

  it("posts each snapshot after its step's record, so a page saving at any event holds the whole history", () => {
    // A page saves the last snapshot with the records it has received. Were a snapshot posted before its own
    // step's record, a save between the two would resume past a step whose record never comes.
    const received = new Set<number>();
    const every = config.metricsEvery!;
    let snapshots = 0;
    for (const e of s.events) {
      if (e.type === 'metrics') received.add(e.entry.step);
      if (e.type !== 'snapshot') continue;
      snapshots++;
      for (let step = 0; step <= e.state.step; step += every) expect(received, `snapshot at step ${e.state.step}`).toContain(step);
    }
    expect(snapshots).toBeGreaterThan(10);
  });

  it('replays the recovery path, analyses the Jacobian and sweeps the budget', async () => {
    const replay = await s.session.handle({ type: 'replay' });
    expect(replay.map((r) => r.part)).toEqual(REPLAY_PARTS);
    expect(replay[0].recovered).toBe(s.done()!.aggregate.recovered);
    const jac = await s.session.handle({ type: 'jacobian' });
    expect(jac.d).toBe(info.d);
    expect(jac.nullSpaceDim).toBe(jac.d - jac.rank);
    const sweep = await s.session.handle({ type: 'budgetSweep', budgets: [0.1, 4], relative: false });
    expect(sweep.map((r) => [r.budget, r.rho])).toEqual([
      [0.1, 0.1],
      [4, 4],
    ]);
    expect(sweep[0].recovered).toBeLessThanOrEqual(sweep[1].recovered);
    // A relative sweep: ρ = κ · median ‖h_def‖ at the δ positions · √P.
    const rel = await s.session.handle({ type: 'budgetSweep', budgets: [0.05, 0.5], relative: true });
    expect(rel[1].rho).toBeCloseTo(10 * rel[0].rho, 4);
    expect(rel[0].rho).toBe(rhoForKappa(0.05, defence));
  });

  it('frees every tensor when disposed', async () => {
    await s.session.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});

describe('engine session on a built-in scenario', () => {
  beforeAll(() => initNodeBackend('wasm'));
  afterAll(() => initNodeBackend('cpu'));

  it("runs the scenario's own settings, with only the changed ones replaced", async () => {
    const { session, done } = makeSession();
    const info = await session.handle({ type: 'loadScenario', scenario: { kind: 'builtin', scenario: 'ioi' } });
    expect(info.defaults.run).toEqual(SCENARIOS.ioi.defaults.run);
    const defence = await session.handle({ type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp });
    await session.handle({ type: 'start', config: { settings: { steps: 3 }, metricsEvery: 1, stepDelayMs: 0 } });
    await waitFor(() => done() !== undefined, 60_000);
    const { steps: _steps, positions: _positions, budget: _budget, ...rest } = SCENARIOS.ioi.defaults.run;
    expect(done()!.config).toMatchObject({ ...rest, steps: 3, scenario: 'ioi', featureRule: info.featureRule });
    // The table's budget is relative: the run reports the absolute ρ it used.
    expect(done()!.config.budget).toBe(rhoForKappa(SCENARIOS.ioi.defaults.run.budgetRel!, defence));
    await session.dispose();
  });

  it('the ρ the page shows beside κ is the ρ the run uses, on ragged δ positions too (TPP: every token)', async () => {
    const { session, done } = makeSession();
    const info = await session.handle({ type: 'loadScenario', scenario: { kind: 'builtin', scenario: 'tpp' } });
    const defence = await session.handle({ type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp });
    await session.handle({ type: 'start', config: { settings: { steps: 1 }, metricsEvery: 1, stepDelayMs: 0 } });
    await waitFor(() => done() !== undefined, 60_000);
    expect(done()!.config.budget).toBe(rhoForKappa(SCENARIOS.tpp.defaults.run.budgetRel!, defence));
    await session.dispose();
  });
});

describe('engine session: bad requests get input errors that say what is wrong', () => {
  const s = makeSession();
  afterAll(() => s.session.dispose());

  it('a defence before any scenario', async () => {
    const p = s.session.handle({ type: 'setDefence', features: [1], clamp: ZERO });
    await expect(p).rejects.toBeInstanceOf(InputError);
    await expect(p).rejects.toThrow('load a scenario first');
  });

  it('a run before any defence', async () => {
    await s.session.handle({ type: 'loadScenario', scenario: { kind: 'probe-example' } });
    await expect(s.session.handle({ type: 'start', config: { settings: {}, metricsEvery: 1, stepDelayMs: 0 } })).rejects.toThrow(
      'choose the defended features first',
    );
  });

  it('a feature index outside the SAE', async () => {
    const p = s.session.handle({ type: 'setDefence', features: [100000], clamp: ZERO });
    await expect(p).rejects.toBeInstanceOf(InputError);
    await expect(p).rejects.toThrow('feature index 100000 is out of range: this SAE has features 0..127');
  });

  it('a negative learning rate', async () => {
    await s.session.handle({ type: 'setDefence', features: [1], clamp: ZERO });
    await expect(s.session.handle({ type: 'start', config: { settings: { lr: -1 }, metricsEvery: 1, stepDelayMs: 0 } })).rejects.toThrow(
      'lr must be a positive number, got -1',
    );
  });

  it('an absurd step count and metrics interval', async () => {
    await expect(
      s.session.handle({ type: 'start', config: { settings: { steps: 1e9 }, metricsEvery: 1, stepDelayMs: 0 } }),
    ).rejects.toThrow(`steps = 1000000000 is above the limit ${RUN_BOUNDS.steps.max}`);
    await expect(s.session.handle({ type: 'start', config: { settings: {}, metricsEvery: 0, stepDelayMs: 0 } })).rejects.toThrow(
      'metrics interval must be a whole number ≥ 1',
    );
  });

  it('uploaded files that are not safetensors', async () => {
    const files = { cfgJson: '{', weights: new ArrayBuffer(8), activations: new ArrayBuffer(8), probe: new ArrayBuffer(8) };
    const p = s.session.handle({ type: 'loadScenario', scenario: { kind: 'probe', files } });
    await expect(p).rejects.toBeInstanceOf(InputError);
    await expect(p).rejects.toThrow(/^activations: /);
  });

  it('an analysis before there is anything to analyse', async () => {
    await s.session.handle({ type: 'loadScenario', scenario: { kind: 'probe-example' } });
    await expect(s.session.handle({ type: 'jacobian' })).rejects.toThrow('choose the defended features first');
    await expect(s.session.handle({ type: 'replay' })).rejects.toThrow('start a run first');
  });
});
