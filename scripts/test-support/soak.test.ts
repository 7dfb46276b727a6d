// Soak, short form (scripts/soak.ts runs 10,000 steps and 50 cycles): a long run and repeated start/reset
// cycles on the built-in IOI scenario leave the tensor count where it was.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/core/tf.ts';
import { loadScenario } from '../../src/scenarios/load.ts';
import type { LoadedScenario } from '../../src/scenarios/loaded.ts';
import { initNodeBackend } from '../../src/engine/node-backend.ts';
import { EngineSession } from '../../src/engine/session.ts';
import { nodeSessionHost } from '../../src/engine/node-host.ts';
import { readPublic } from '../../src/cli/fs.ts';
import type { EngineEvent } from '../../src/engine/protocol.ts';
import { soakCycles, soakRun } from './soak.ts';

beforeAll(async () => {
  await initNodeBackend('wasm');
});
afterAll(async () => {
  await initNodeBackend('cpu');
});

describe('soak (short)', () => {
  let sc: LoadedScenario;
  beforeAll(async () => {
    sc = await loadScenario({ kind: 'builtin', scenario: 'ioi' }, readPublic);
  });
  afterAll(() => sc.dispose());

  it('600 steps: the tensor count and tensor memory stay flat after the first reading, and all goes with the run', async () => {
    const before = tf.memory().numTensors;
    const r = await soakRun(sc, 600, 4);
    expect(r.map((x) => x.at)).toEqual([0, 200, 400, 600]);
    expect(new Set(r.slice(1).map((x) => x.tensors)).size).toBe(1);
    expect(new Set(r.slice(1).map((x) => x.tensorMB)).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('10 start/reset cycles in the engine session leave the tensor count where it was', async () => {
    const events: EngineEvent[] = [];
    const session = new EngineSession(nodeSessionHost((e) => events.push(e)));
    const info = await session.handle({ type: 'loadScenario', scenario: { kind: 'builtin', scenario: 'ioi' } });
    await session.handle({ type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp });
    // One cycle first: the run's kernels and buffers are made once.
    await soakCycles(session, events, 1);
    const r = await soakCycles(session, events, 10);
    expect(r.map((x) => x.at)).toEqual([0, 10]);
    expect(r[1].tensors).toBe(r[0].tensors);
    expect(events.filter((e) => e.type === 'metrics').length).toBeGreaterThan(20);
    await session.dispose();
  });
});
