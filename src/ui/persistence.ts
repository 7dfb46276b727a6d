// Runs and settings that survive a reload, in IndexedDB (idb): the finished runs, the last configuration, and
// the run in progress (its optimiser state and history, so a reload mid-run continues it). Every write is one
// transaction: a run is saved whole or not at all, and a full quota leaves what was there.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { z } from 'zod';
import type { HistoryEntry, RecoveryResult } from '../core/metrics.ts';
import type { RunSnapshot } from '../engine/protocol.ts';
import { parseSavedConfig, type PlaygroundConfig } from './config.ts';

export interface SavedRun {
  id: string;
  savedAt: number;
  label: string;
  config: PlaygroundConfig;
  result: RecoveryResult;
}

/** The run in progress: enough to show its charts again and continue it from `snapshot.step`. */
export interface CurrentRun {
  config: PlaygroundConfig;
  totalSteps: number;
  snapshot: RunSnapshot;
  history: HistoryEntry[];
  savedAt: number;
}

interface Schema extends DBSchema {
  runs: { key: string; value: SavedRun; indexes: { savedAt: number } };
  settings: { key: string; value: unknown };
}

const MAX_RUNS = 30;
const CURRENT_RUN = 'current-run';
let lastSavedAt = 0;
let db: Promise<IDBPDatabase<Schema>> | null = null;

function open(): Promise<IDBPDatabase<Schema>> {
  db ??= openDB<Schema>('unclamp', 1, {
    upgrade(d) {
      d.createObjectStore('runs', { keyPath: 'id' }).createIndex('savedAt', 'savedAt');
      d.createObjectStore('settings');
    },
  });
  return db;
}

/** Storage failures in words, with what was kept. */
export class StorageError extends Error {
  override name = 'StorageError';
}

function storageError(e: unknown, what: string): StorageError {
  const name = (e as { name?: string })?.name;
  if (name === 'QuotaExceededError')
    return new StorageError(
      `${what} was not saved: this browser's storage for the page is full. Everything saved before is kept; delete saved runs (the "Runs & files" tab) or free disk space.`,
    );
  return new StorageError(`${what} was not saved (${(e as Error)?.message ?? String(e)}). Everything saved before is kept.`);
}

export function runLabel(result: RecoveryResult): string {
  const c = result.config;
  const a = result.aggregate;
  return `${c.scenario ?? 'run'} · ${c.mode} · ρ ${c.budget} · ${a.recovered}/${a.validFlips}`;
}

/** Save a finished run; in the same transaction drop the oldest beyond MAX_RUNS and the run-in-progress record. */
export async function saveRun(result: RecoveryResult, config: PlaygroundConfig): Promise<SavedRun> {
  const d = await open();
  // Strictly increasing, so two runs saved in the same millisecond still prune oldest-first.
  lastSavedAt = Math.max(Date.now(), lastSavedAt + 1);
  const run: SavedRun = {
    id: `${lastSavedAt}-${Math.random().toString(36).slice(2, 8)}`,
    savedAt: lastSavedAt,
    label: runLabel(result),
    config,
    result,
  };
  const tx = d.transaction(['runs', 'settings'], 'readwrite');
  // An aborted transaction rejects `done` too; the error that caused it is the one reported below.
  tx.done.catch(() => undefined);
  try {
    const runs = tx.objectStore('runs');
    await runs.put(run);
    const keys = await runs.index('savedAt').getAllKeys();
    for (const k of keys.slice(0, Math.max(0, keys.length - MAX_RUNS))) await runs.delete(k);
    await tx.objectStore('settings').delete(CURRENT_RUN);
    await tx.done;
  } catch (e) {
    // Whatever part failed, undo the parts that went through: all or nothing.
    try {
      tx.abort();
    } catch {
      // already finished or aborted
    }
    throw storageError(e, 'The finished run');
  }
  return run;
}

export async function listRuns(): Promise<SavedRun[]> {
  const d = await open();
  return (await d.getAllFromIndex('runs', 'savedAt')).reverse();
}

export async function deleteRun(id: string): Promise<void> {
  await (await open()).delete('runs', id);
}

export async function saveConfig(config: PlaygroundConfig): Promise<void> {
  await (await open()).put('settings', config, 'config');
}

export async function loadConfig(): Promise<PlaygroundConfig | null> {
  return parseSavedConfig(await (await open()).get('settings', 'config'));
}

export async function saveCurrentRun(run: CurrentRun): Promise<void> {
  try {
    await (await open()).put('settings', run, CURRENT_RUN);
  } catch (e) {
    throw storageError(e, 'The run in progress');
  }
}

export async function clearCurrentRun(): Promise<void> {
  await (await open()).delete('settings', CURRENT_RUN);
}

const f32 = z.instanceof(Float32Array);
const currentRunSchema = z.object({
  totalSteps: z.number().int().min(1),
  savedAt: z.number(),
  snapshot: z.object({
    step: z.number().int().min(0),
    delta: f32,
    m: f32,
    v: f32,
    best: z.object({ delta: f32, score: f32, fallbackDelta: f32, fallbackScore: f32 }).optional(),
  }),
  history: z.array(z.object({ step: z.number().int().min(0) }).passthrough()),
});

/** The run in progress, or null when there is none or it was written by an incompatible version. */
export async function loadCurrentRun(): Promise<CurrentRun | null> {
  const raw = (await (await open()).get('settings', CURRENT_RUN)) as { config?: unknown } | undefined;
  if (!raw) return null;
  const config = parseSavedConfig(raw.config);
  const parsed = currentRunSchema.safeParse(raw);
  if (!config || !parsed.success) return null;
  return { ...(raw as CurrentRun), config };
}
