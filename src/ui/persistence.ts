// Runs and settings that survive a reload: finished runs in IndexedDB (idb), the last configuration too.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { RecoveryResult } from '../core/metrics.ts';
import { parseSavedConfig, type PlaygroundConfig } from './config.ts';

export interface SavedRun {
  id: string;
  savedAt: number;
  label: string;
  config: PlaygroundConfig;
  result: RecoveryResult;
}

interface Schema extends DBSchema {
  runs: { key: string; value: SavedRun; indexes: { savedAt: number } };
  settings: { key: string; value: unknown };
}

const MAX_RUNS = 30;
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

export function runLabel(result: RecoveryResult): string {
  const c = result.config;
  const a = result.aggregate;
  return `${c.scenario ?? 'run'} · ${c.mode} · ρ ${c.budget} · ${a.recovered}/${a.validFlips}`;
}

export async function saveRun(result: RecoveryResult, config: PlaygroundConfig): Promise<SavedRun> {
  const d = await open();
  const run: SavedRun = {
    id: `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
    savedAt: Date.now(),
    label: runLabel(result),
    config,
    result,
  };
  await d.put('runs', run);
  const keys = await d.getAllKeysFromIndex('runs', 'savedAt');
  for (const k of keys.slice(0, Math.max(0, keys.length - MAX_RUNS))) await d.delete('runs', k);
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
