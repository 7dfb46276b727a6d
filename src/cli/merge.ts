// `unclamp merge`: join the shard files of one sweep into one result (JSON, CSV and the printed table), after
// checking that they belong to the same sweep and that every cell is there exactly once.
import Papa from 'papaparse';
import type { Command } from 'commander';
import { InputError } from '../core/errors.ts';
import { cellAt, gridSize, shardCells } from './grid.ts';
import { readText, writeOutput } from './fs.ts';
import { paperTable } from './table.ts';
import { type CellRecord, SWEEP_FORMAT, type ShardHeader } from './sweep.ts';

interface MergeFlags {
  json?: string;
  csv?: string;
  allowMissing?: boolean;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('merge')
    .description('Join the shard files of one `unclamp sweep` into one result.')
    .argument('<shards...>', 'shard files (shard-<i>-of-<n>.jsonl)')
    .option('--json <out>', 'write the merged sweep as JSON')
    .option('--csv <out>', 'write one row per cell as CSV')
    .option('--allow-missing', 'merge even when some cells have not run yet (they are listed)')
    .option('--quiet', 'no table')
    .action(async (files: string[], flags: MergeFlags) => mergeCommand(files, flags));
}

export interface MergedSweep {
  format: 'unclamp-sweep/1';
  sweep: string;
  grid: ShardHeader['grid'];
  fixed: ShardHeader['fixed'];
  missing: number[];
  cells: CellRecord[];
}

/** The shards' texts (file name → content) merged; throws an InputError naming the file on any inconsistency. */
export function mergeShards(texts: Map<string, string>, allowMissing = false): MergedSweep {
  let first: { file: string; header: ShardHeader } | null = null;
  const where = new Map<number, string>();
  const cells: CellRecord[] = [];
  for (const [file, text] of texts) {
    const lines = text.split('\n').filter(Boolean);
    let header: ShardHeader;
    try {
      header = JSON.parse(lines[0] ?? '') as ShardHeader;
    } catch {
      throw new InputError(`${file} is not a sweep shard (its first line is not JSON)`);
    }
    if (header.format !== SWEEP_FORMAT) throw new InputError(`${file} is not a sweep shard (format ${String(header.format)})`);
    if (!first) first = { file, header };
    else if (header.sweep !== first.header.sweep)
      throw new InputError(
        `${file} belongs to sweep ${header.sweep}, ${first.file} to ${first.header.sweep}: they have different grids or settings`,
      );
    lines.slice(1).forEach((line, k) => {
      let rec: CellRecord;
      try {
        rec = JSON.parse(line) as CellRecord;
      } catch {
        // A last line cut off by a kill mid-write is expected; anywhere else the file is damaged.
        if (k === lines.length - 2) return;
        throw new InputError(`${file}: line ${k + 2} is not JSON`);
      }
      if (!Number.isInteger(rec.cell) || rec.cell < 0 || rec.cell >= header.cells)
        throw new InputError(`${file}: line ${k + 2} names cell ${rec.cell}, outside 0..${header.cells - 1}`);
      const prev = where.get(rec.cell);
      if (prev) throw new InputError(`cell ${rec.cell} appears in both ${prev} and ${file}`);
      where.set(rec.cell, file);
      cells.push(rec);
    });
  }
  if (!first) throw new InputError('no shard files given');
  const { header } = first;
  const missing = Array.from({ length: gridSize(header.grid) }, (_, i) => i).filter((i) => !where.has(i));
  if (missing.length && !allowMissing) {
    const owner = (i: number) => {
      const n = header.shard.count;
      return shardCells(header.grid, { index: i % n, count: n }).includes(i) ? `shard ${i % n}/${n}` : '?';
    };
    const list = missing
      .slice(0, 10)
      .map((i) => `${i} (${owner(i)})`)
      .join(', ');
    throw new InputError(
      `${missing.length} of ${header.cells} cells have no result: ${list}${missing.length > 10 ? ', …' : ''}; run those shards, or pass --allow-missing`,
    );
  }
  cells.sort((a, b) => a.cell - b.cell);
  return { format: 'unclamp-sweep/1', sweep: header.sweep, grid: header.grid, fixed: header.fixed, missing, cells };
}

/** One row per cell: the axes, then the headline metrics (docs/method.md §4). */
export function sweepCsv(m: MergedSweep): string {
  const rows = m.cells.map((c) => {
    const a = c.aggregate;
    return {
      cell: c.cell,
      ...c.params,
      rho: c.rho,
      validFlips: a.validFlips,
      recovered: a.recovered,
      recoveryRate: a.recoveryRate,
      relDriftMedian: a.relDrift.median,
      meanAbsDrift: a.meanAbsDrift,
      meanDeltaOverResidual: a.meanDeltaOverResidual,
      reactivation: a.reactivation,
      zeroReactivationRate: a.zeroReactivationRate,
      seconds: c.seconds,
    };
  });
  return `${Papa.unparse(rows, { newline: '\n' })}\n`;
}

function mergeCommand(files: string[], flags: MergeFlags): void {
  const merged = mergeShards(new Map(files.map((f) => [f, readText(f, 'shard file')])), flags.allowMissing);
  if (merged.missing.length) process.stderr.write(`unclamp: ${merged.missing.length} cells missing: ${merged.missing.join(', ')}\n`);
  if (!flags.quiet) {
    const label = (c: CellRecord) =>
      Object.entries(cellAt(merged.grid, c.cell))
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
    process.stdout.write(paperTable(merged.cells.map((c) => ({ label: label(c), agg: c.aggregate }))));
  }
  if (flags.json) writeOutput(flags.json, `${JSON.stringify(merged, null, 2)}\n`);
  if (flags.csv) writeOutput(flags.csv, sweepCsv(merged));
}
