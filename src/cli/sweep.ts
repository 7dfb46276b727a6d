// `unclamp sweep`: one shard of a grid of runs on the built-in model, written as JSON lines; `unclamp merge`
// (merge.ts) joins the shards. A shard file starts with a header (the sweep's id, grid, fixed settings, shard)
// and gains one line per finished cell, so a preempted job that reruns the same command resumes where it stopped.
import { existsSync, readFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { type BackendFlags, backendOption, startBackend, threadsOption } from './backend.ts';
import { parseClampRule } from '../core/clamp.ts';
import { InputError } from '../core/errors.ts';
import type { Aggregate } from '../core/metrics.ts';
import { isBuiltinScenarioId, type RunSettings } from '../scenarios/catalog.ts';
import { loadScenario, topFeatures, type ScenarioSpec } from '../scenarios/load.ts';
import type { LoadedScenario } from '../scenarios/loaded.ts';
import { runOptions, runScenario } from '../scenarios/run.ts';
import { readPublic, writeOutput } from './fs.ts';
import { type Cell, cellAt, type Grid, gridSize, parseGrid, parseShard, shardCells, sweepId } from './grid.ts';
import { addSettingOptions, settingsFromFlags, type SettingFlags } from './settings.ts';

export const SWEEP_FORMAT = 'unclamp-sweep-shard/1';

export interface ShardHeader {
  format: typeof SWEEP_FORMAT;
  sweep: string;
  grid: Grid;
  fixed: Record<string, unknown>;
  shard: { index: number; count: number };
  cells: number;
}

export interface CellRecord {
  cell: number;
  params: Cell;
  /** The absolute budget ρ the run used (a relative budget resolves to one). */
  rho: number;
  aggregate: Aggregate;
  seconds: number;
}

interface SweepFlags extends SettingFlags, BackendFlags {
  grid: string[];
  scenario?: string;
  sae?: string;
  n?: number;
  shard: string;
  out: string;
  quiet?: boolean;
}

/** Grid axes that are run settings, and the setting each one sets. */
const SETTING_AXES: Partial<Record<keyof Cell, keyof RunSettings>> = {
  mode: 'mode',
  optimizer: 'optimizer',
  delta: 'delta',
  positions: 'positions',
  steps: 'steps',
  lr: 'lr',
  'budget-rel': 'budgetRel',
  budget: 'budget',
  'lambda-act': 'lambdaAct',
  seed: 'seed',
};

export function register(program: Command): void {
  const cmd = program
    .command('sweep')
    .description(
      'Run one shard of a grid of runs on the built-in model (e.g. --grid mode=none,encoder --grid budget-rel=0.1,0.3 --grid seed=0-4 --shard 0/4); `unclamp merge` joins the shards.',
    )
    .requiredOption(
      '--grid <axis=values>',
      'an axis and its values; repeat for each axis (values a,b,c; whole-number ranges a-b)',
      collect,
      [],
    )
    .option('--scenario <id>', 'the scenario when it is not an axis')
    .option('--sae <id>', "the SAE when it is not an axis (default: the scenario's)")
    .option('--n <n>', 'held-out samples per run when n is not an axis');
  addSettingOptions(cmd)
    .option('--shard <i/n>', 'run the cells i, i+n, i+2n, … (0-based i, as a job-array index)', '0/1')
    .requiredOption('--out <dir>', 'folder for the shard file shard-<i>-of-<n>.jsonl')
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--quiet', 'no line per cell')
    .action(async (flags: SweepFlags) => sweepCommand(flags));
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/** What a cell runs: the scenario to load and the run request, validated. */
function planCell(cell: Cell, flags: SweepFlags, fixed: Partial<RunSettings>) {
  const scenario = String(cell.scenario ?? flags.scenario ?? '');
  if (!isBuiltinScenarioId(scenario)) throw new InputError('give the scenario: --scenario ID or --grid scenario=ID,…');
  const settings: Partial<RunSettings> = { ...fixed };
  for (const [axis, key] of Object.entries(SETTING_AXES)) {
    const v = cell[axis as keyof Cell];
    if (v !== undefined) (settings as Record<string, unknown>)[key] = v;
  }
  runOptions(scenario, settings); // throws on a bad combination before anything runs
  const n = (cell.n as number | undefined) ?? flags.n;
  if (n !== undefined && !(n >= 1 && n <= 512)) throw new InputError('n must be in 1..512');
  const spec: ScenarioSpec = {
    kind: 'builtin',
    scenario,
    sae: (cell.sae as string | undefined) ?? flags.sae,
    seed: settings.seed ?? 0,
    n,
  };
  const clamp = cell.clamp !== undefined ? parseClampRule(String(cell.clamp)) : undefined;
  return { scenario, spec, settings, clamp, k: cell.k as number | undefined };
}

function readShard(file: string, header: ShardHeader): Set<number> {
  const done = new Set<number>();
  if (!existsSync(file)) return done;
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  let head: ShardHeader;
  try {
    head = JSON.parse(lines[0]) as ShardHeader;
  } catch {
    throw new InputError(`${file} exists but is not a sweep shard; use another --out or remove it`);
  }
  if (head.format !== SWEEP_FORMAT || head.sweep !== header.sweep)
    throw new InputError(`${file} belongs to another sweep (a different grid or settings); use another --out or remove it`);
  for (const line of lines.slice(1)) {
    try {
      done.add((JSON.parse(line) as CellRecord).cell);
    } catch {
      // A line cut off by a kill mid-write: that cell runs again.
    }
  }
  return done;
}

async function sweepCommand(flags: SweepFlags): Promise<void> {
  const grid = parseGrid(flags.grid);
  const shard = parseShard(flags.shard);
  const given = settingsFromFlags(flags);
  for (const a of grid.axes) {
    const key = SETTING_AXES[a.name];
    if (
      (key && given[key] !== undefined) ||
      (a.name === 'scenario' && flags.scenario) ||
      (a.name === 'sae' && flags.sae) ||
      (a.name === 'n' && flags.n)
    )
      throw new InputError(`${a.name} is both a grid axis and a fixed flag; give it once`);
  }
  const fixed = { ...given, scenario: flags.scenario, sae: flags.sae, n: flags.n };
  const cells = shardCells(grid, shard);
  const plans = new Map(cells.map((i) => [i, planCell(cellAt(grid, i), flags, given)]));
  const header: ShardHeader = { format: SWEEP_FORMAT, sweep: sweepId(grid, fixed), grid, fixed, shard, cells: gridSize(grid) };
  const file = path.join(flags.out, `shard-${shard.index}-of-${shard.count}.jsonl`);
  const done = readShard(file, header);
  if (!existsSync(file)) writeOutput(file, `${JSON.stringify(header)}\n`);
  const todo = cells.filter((i) => !done.has(i));
  process.stdout.write(
    `sweep ${header.sweep}: ${header.cells} cells, shard ${shard.index}/${shard.count} has ${cells.length} (${done.size} already done)\n`,
  );
  const { backend } = await startBackend(flags, { smallModel: true }); // sweeps run the built-in scenarios
  // Cells sharing a scenario, SAE, seed and n share one loaded scenario (the grid's order keeps them together).
  const cache: { key?: string; sc?: LoadedScenario } = {};
  const load = async (spec: ScenarioSpec): Promise<LoadedScenario> => {
    const key = JSON.stringify(spec);
    if (cache.key !== key || !cache.sc) {
      cache.sc?.dispose();
      cache.sc = undefined;
      cache.sc = await loadScenario(spec, readPublic);
      cache.key = key;
    }
    return cache.sc;
  };
  try {
    for (const i of todo) {
      const plan = plans.get(i)!;
      const sc = await load(plan.spec);
      const t0 = performance.now();
      const features = plan.k !== undefined ? topFeatures(sc, plan.k) : undefined;
      const out = await runScenario(sc, { features, clamp: plan.clamp, settings: plan.settings });
      const record: CellRecord = {
        cell: i,
        params: cellAt(grid, i),
        rho: out.result.config.budget as number,
        aggregate: out.result.aggregate,
        seconds: (performance.now() - t0) / 1000,
      };
      appendFileSync(file, `${JSON.stringify(record)}\n`);
      if (!flags.quiet) {
        const a = out.result.aggregate;
        process.stdout.write(
          `cell ${i} ${JSON.stringify(record.params)}: ${a.recovered}/${a.validFlips} recovered (${backend}, ${record.seconds.toFixed(1)} s)\n`,
        );
      }
    }
  } finally {
    cache.sc?.dispose();
  }
  process.stdout.write(`shard ${shard.index}/${shard.count} complete: ${file}\n`);
}
