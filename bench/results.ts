// bench/results.json: the latest records of every benchmark level, one array. Each bench run replaces the
// records of its own level and runner (Node with its PyTorch references, or Chromium; the Chromium driver also by
// backend) and keeps the others, so `npm run bench` (all levels), one level alone, or the Chromium levels alone
// (or one backend of them) all leave a complete file;
// bench/render-performance.ts turns it into docs/performance.md.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type BenchLevel, type BenchRecord, type BenchRunner, percentOfPeak, runnerOf } from './record.ts';

export type { BenchLevel, BenchRecord, BenchRunner } from './record.ts';
export { mib, percentOfPeak, perPromptRatio, promptsOf, runnerOf } from './record.ts';
export { printTable } from '../scripts/lib/table.ts';

export const RESULTS_PATH = 'bench/results.json';

/** Every bench's `--out FILE`: where its records go (default bench/results.json). */
export const OUT_OPTION = { out: { type: 'string', default: RESULTS_PATH } } as const;

export function readRecords(file = RESULTS_PATH): BenchRecord[] {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BenchRecord[]) : [];
}

/** Replace the records of `level` and `runner` (only those of `backends`, when given) with `records`. */
export function writeRecords(
  level: BenchLevel,
  records: BenchRecord[],
  file = RESULTS_PATH,
  runner: BenchRunner = 'node',
  backends?: string[],
): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const replaced = (r: BenchRecord) => r.level === level && runnerOf(r) === runner && (!backends || backends.includes(r.backend));
  const kept = readRecords(file).filter((r) => !replaced(r));
  writeFileSync(file, `${JSON.stringify([...kept, ...records], null, 2)}\n`);
  console.log(`level ${level} (${runner}): ${records.length} records written to ${file}`);
}

/** The rate columns of every Node bench table. */
export const RATE_HEADER = ['ms/step', 'steps/s', 'GFLOP/step', 'GFLOP/s', '% of peak'];

/** A record's cells under RATE_HEADER; `fine`: more digits, for a level whose steps take milliseconds. */
export function rateCells(r: BenchRecord, fine = false): string[] {
  if (r.failed) return [`failed: ${r.failed.slice(0, 60)}`, '—', '—', '—', '—'];
  const [ms, rate, gflop, gflops] = fine ? [2, 1, 4, 2] : [0, 2, 2, 1];
  return [
    r.msPerStep.toFixed(ms),
    r.stepsPerSec.toFixed(rate),
    r.gflopPerStep?.toFixed(gflop) ?? '—',
    r.gflops?.toFixed(gflops) ?? '—',
    percentOfPeak(r),
  ];
}
