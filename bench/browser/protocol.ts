// Messages between the bench page (BenchPage.tsx, its own build) and its worker (bench.worker.ts). Types only:
// its main thread loads no TensorFlow.js, so everything it learns about the run comes through these.
import type { BackendInfo, BackendName } from '../../src/engine/protocol.ts';
import type { BenchLevel, BenchRecord } from '../record.ts';

/** One level on one backend. `params`: the page's query, read by the worker against the level's defaults. */
export interface BenchRequest {
  level: BenchLevel;
  backend: BackendName;
  params: Record<string, string>;
}

/** What the worker's environment was, for the records' notes. */
export interface BenchEnvironment {
  backend: BackendInfo;
  hardwareConcurrency: number;
  crossOriginIsolated: boolean;
  userAgent: string;
}

export type BenchMessage =
  | { kind: 'ready'; env: BenchEnvironment }
  | { kind: 'progress'; message: string }
  | { kind: 'record'; record: BenchRecord }
  | { kind: 'done' }
  | { kind: 'error'; message: string };

/** What the page shows and hands to bench/browser.bench.ts (as JSON in <pre data-testid="bench-json"> and window.__bench). */
export interface BenchOutcome {
  status: 'running' | 'done' | 'error';
  request: BenchRequest | null;
  env: BenchEnvironment | null;
  records: BenchRecord[];
  error: string | null;
  progress: string[];
}
