// bench/results.json: the latest records of every benchmark level, one array. Each bench run replaces the
// records of its own level and keeps the others, so `npm run bench` (all levels) or one level alone both
// leave a complete file; scripts/render-performance.ts turns it into docs/performance.md.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type BenchLevel = 'a' | 'b' | 'c';

export interface BenchRecord {
  /** a: the linear-probe case; b: a built-in scenario end to end; c: a GPT-2-small-shaped IOI step. */
  level: BenchLevel;
  case: string;
  /** What ran: "unclamp onward", "torch paper-pipeline", … */
  impl: string;
  backend: string;
  mode: string;
  msPerStep: number;
  stepsPerSec: number;
  gflopPerStep: number | null;
  gflops: number | null;
  /** Peak tensor memory (TF.js) or peak resident memory (PyTorch), MiB. */
  peakMB: number;
  rssMB: number;
  /** Anything else the level measures (e.g. the metrics read-out's ms). */
  extra?: Record<string, number | string>;
}

export const RESULTS_PATH = 'bench/results.json';

export function readRecords(file = RESULTS_PATH): BenchRecord[] {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BenchRecord[]) : [];
}

export function writeRecords(level: BenchLevel, records: BenchRecord[], file = RESULTS_PATH): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const kept = readRecords(file).filter((r) => r.level !== level);
  writeFileSync(file, `${JSON.stringify([...kept, ...records], null, 2)}\n`);
  console.log(`level ${level}: ${records.length} records written to ${file}`);
}

/** Fixed-width text table. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  console.log(header.map((h, i) => h.padEnd(widths[i])).join('  '));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
}

export const mib = (bytes: number) => Math.round(bytes / 2 ** 20);

/** The batch a record ran on, from its case ("…, 64×15" → 64 prompts); 1 when the case names none. */
export function promptsOf(r: BenchRecord): number {
  const m = /(\d+)×\d+/.exec(r.case);
  return m ? Number(m[1]) : 1;
}

/** (ms per step and prompt of a) ÷ (that of b): records of different batch sizes compare per prompt. */
export function perPromptRatio(a: BenchRecord, b: BenchRecord): number {
  return a.msPerStep / promptsOf(a) / (b.msPerStep / promptsOf(b));
}
