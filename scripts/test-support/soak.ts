// Long runs and many start/reset cycles, with the memory read as they go: what a tab left running for an hour
// (or a student pressing Run and Reset fifty times) does to the tensor count and the heap. Used by the soak test
// and by scripts/soak.ts (docs/reliability.md).
import { tf } from '../../src/core/tf.ts';
import { RecoveryRun } from '../../src/core/recovery.ts';
import type { LoadedScenario } from '../../src/scenarios/loaded.ts';
import { createSite, defaultDefence, runOptions } from '../../src/scenarios/run.ts';
import type { EngineSession } from '../../src/engine/session.ts';
import type { EngineEvent } from '../../src/engine/protocol.ts';

export interface MemoryReading {
  /** Steps done (soakRun) or cycles done (soakCycles). */
  at: number;
  tensors: number;
  tensorMB: number;
  heapMB: number;
}

const read = (at: number): MemoryReading => ({
  at,
  tensors: tf.memory().numTensors,
  tensorMB: tf.memory().numBytes / 2 ** 20,
  heapMB: typeof process !== 'undefined' ? process.memoryUsage().heapUsed / 2 ** 20 : Number.NaN,
});

/** `steps` steps of the scenario's own run (its defaults, `steps` long), memory read at `readings` evenly spaced steps. */
export async function soakRun(sc: LoadedScenario, steps: number, readings = 3): Promise<MemoryReading[]> {
  const site = await createSite(sc, defaultDefence(sc));
  const out: MemoryReading[] = [];
  try {
    const run = await RecoveryRun.create(site, runOptions(sc.id, { steps }));
    try {
      const every = Math.max(1, Math.floor(steps / (readings - 1)));
      // The first reading after the first metrics record: kernels compiled, buffers allocated, history started.
      await run.run({ metricsEvery: every, onMetrics: (e) => void out.push(read(e.step)) });
    } finally {
      run.dispose();
    }
  } finally {
    site.dispose();
  }
  return out;
}

/**
 * `cycles` times: start a run in the session, let it take a few steps, reset it. Readings before the first cycle
 * and after each tenth.
 */
export async function soakCycles(session: EngineSession, events: EngineEvent[], cycles: number): Promise<MemoryReading[]> {
  const out = [read(0)];
  for (let c = 1; c <= cycles; c++) {
    const seen = events.length;
    await session.handle({ type: 'start', config: { settings: { steps: 50 }, metricsEvery: 2, stepDelayMs: 0 } });
    const t0 = Date.now();
    while (!events.slice(seen).some((e) => e.type === 'metrics' && e.entry.step >= 4)) {
      if (Date.now() - t0 > 60_000) throw new Error(`cycle ${c}: the run took no steps in 60 s`);
      await new Promise((r) => setTimeout(r, 2));
    }
    await session.handle({ type: 'reset' });
    if (c % 10 === 0 || c === cycles) out.push(read(c));
  }
  return out;
}
