// What survives a reload, on an in-memory IndexedDB (fake-indexeddb): a run is saved whole or not at all, a
// full quota keeps what was there and says so, and the run in progress comes back as it was saved.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import type { RecoveryResult } from '../core/metrics.ts';
import { DEFAULT_CONFIG } from './config.ts';
import {
  type CurrentRun,
  clearCurrentRun,
  deleteRun,
  listRuns,
  loadCurrentRun,
  saveCurrentRun,
  saveRun,
  StorageError,
} from './persistence.ts';

function result(recovered: number): RecoveryResult {
  return {
    config: { scenario: 'ioi', mode: 'encoder', budget: 2 },
    samples: [],
    aggregate: { recovered, validFlips: 10 },
    history: [{ step: 0 }, { step: 5 }],
  } as unknown as RecoveryResult;
}

function current(step: number): CurrentRun {
  const f = (x: number) => new Float32Array([x, x + 1, x + 2]);
  return {
    config: { ...DEFAULT_CONFIG, run: { steps: 50 } },
    totalSteps: 50,
    snapshot: { step, delta: f(step), m: f(0.5), v: f(0.25) },
    history: [{ step: 0 } as CurrentRun['history'][number], { step } as CurrentRun['history'][number]],
    savedAt: 1,
  };
}

afterEach(async () => {
  for (const r of await listRuns()) await deleteRun(r.id);
  await clearCurrentRun();
});

describe('saved runs', () => {
  it('keeps the newest 30 and clears the run in progress in the same transaction', async () => {
    await saveCurrentRun(current(7));
    for (let i = 0; i < 32; i++) await saveRun(result(i), DEFAULT_CONFIG);
    const runs = await listRuns();
    expect(runs).toHaveLength(30);
    expect(runs[0].result.aggregate.recovered).toBe(31);
    expect(await loadCurrentRun()).toBeNull();
  });

  it('a run that cannot be stored is not stored at all, and what was there stays', async () => {
    await saveRun(result(1), DEFAULT_CONFIG);
    await saveCurrentRun(current(9));
    const bad = { ...result(2), history: [{ step: 0, oops: () => 0 }] } as unknown as RecoveryResult;
    await expect(saveRun(bad, DEFAULT_CONFIG)).rejects.toBeInstanceOf(StorageError);
    const runs = await listRuns();
    expect(runs.map((r) => r.result.aggregate.recovered)).toEqual([1]);
    expect((await loadCurrentRun())?.snapshot.step).toBe(9);
  });

  it('a failure after the run was written undoes the write: saved whole or not at all', async () => {
    await saveRun(result(1), DEFAULT_CONFIG);
    await saveCurrentRun(current(5));
    const proto = IDBObjectStore.prototype;
    const del = proto.delete;
    proto.delete = () => {
      throw new DOMException('simulated failure after the put', 'UnknownError');
    };
    try {
      await expect(saveRun(result(2), DEFAULT_CONFIG)).rejects.toBeInstanceOf(StorageError);
    } finally {
      proto.delete = del;
    }
    expect((await listRuns()).map((r) => r.result.aggregate.recovered)).toEqual([1]);
    expect((await loadCurrentRun())?.snapshot.step).toBe(5);
  });

  it('a full quota says so in words and keeps the earlier runs', async () => {
    await saveRun(result(1), DEFAULT_CONFIG);
    const proto = IDBObjectStore.prototype;
    const put = proto.put;
    proto.put = () => {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    };
    try {
      const err = await saveRun(result(2), DEFAULT_CONFIG).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as Error).message).toMatch(/storage for the page is full.*Everything saved before is kept/);
      await expect(saveCurrentRun(current(3))).rejects.toThrow(/run in progress was not saved: this browser's storage/);
    } finally {
      proto.put = put;
    }
    expect((await listRuns()).map((r) => r.result.aggregate.recovered)).toEqual([1]);
  });
});

describe('the run in progress', () => {
  it('comes back exactly as saved, typed arrays included', async () => {
    const run = current(12);
    await saveCurrentRun(run);
    const back = await loadCurrentRun();
    expect(back).toEqual(run);
    expect(back!.snapshot.delta).toBeInstanceOf(Float32Array);
  });

  it('a record from an incompatible version is ignored, not half-used', async () => {
    const run = current(4) as unknown as Record<string, unknown>;
    await saveCurrentRun({ ...run, snapshot: { step: 4, delta: [1, 2] } } as unknown as CurrentRun);
    expect(await loadCurrentRun()).toBeNull();
    await saveCurrentRun({ ...run, config: { scenario: 'no-such-scenario' } } as unknown as CurrentRun);
    expect(await loadCurrentRun()).toBeNull();
  });
});
