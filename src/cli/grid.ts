// The grid of a sweep: axes from `--grid name=v1,v2,…`, cells in one fixed order (the cartesian product, last
// axis fastest), and shards that split the cells with no scheduler of our own: shard i of n takes the cells
// whose index ≡ i (mod n), so a Slurm job array or a Kubernetes indexed Job runs the same command with its index.
import { createHash } from 'node:crypto';
import { InputError } from '../core/errors.ts';
import { DELTA_SHARINGS, OPTIMIZER_KINDS, PROJECTION_MODES } from '../core/options.ts';
import { BUILTIN_SCENARIO_IDS, DELTA_POSITIONS } from '../scenarios/catalog.ts';

type Kind = 'number' | 'integer' | { oneOf: readonly string[] } | 'string';

/** Every axis a sweep can vary, with how its values parse. Names are the CLI's flag names. */
export const GRID_AXES = {
  scenario: { oneOf: BUILTIN_SCENARIO_IDS },
  sae: 'string',
  seed: 'integer',
  k: 'integer',
  clamp: 'string',
  mode: { oneOf: PROJECTION_MODES },
  optimizer: { oneOf: OPTIMIZER_KINDS },
  delta: { oneOf: DELTA_SHARINGS },
  positions: { oneOf: DELTA_POSITIONS },
  steps: 'integer',
  lr: 'number',
  'budget-rel': 'number',
  budget: 'number',
  'lambda-act': 'number',
  n: 'integer',
} as const satisfies Record<string, Kind>;

export type AxisName = keyof typeof GRID_AXES;
export type CellValue = string | number;
export interface Grid {
  axes: { name: AxisName; values: CellValue[] }[];
}
export type Cell = Partial<Record<AxisName, CellValue>>;

const isAxis = (name: string): name is AxisName => Object.hasOwn(GRID_AXES, name);

function parseValue(axis: AxisName, raw: string): CellValue {
  const kind: Kind = GRID_AXES[axis];
  const v = raw.trim();
  if (kind === 'number' || kind === 'integer') {
    const x = Number(v);
    if (v === '' || !Number.isFinite(x) || (kind === 'integer' && !Number.isInteger(x)))
      throw new InputError(`--grid ${axis}: "${raw}" is not ${kind === 'integer' ? 'a whole number' : 'a number'}`);
    return x;
  }
  if (typeof kind === 'object' && !kind.oneOf.includes(v))
    throw new InputError(`--grid ${axis}: "${raw}" is not one of ${kind.oneOf.join(', ')}`);
  if (v === '') throw new InputError(`--grid ${axis}: an empty value`);
  return v;
}

/** `["mode=none,encoder", "seed=0-2"]` → the grid (integer axes accept ranges a-b). */
export function parseGrid(specs: readonly string[], maxCells = 100_000): Grid {
  const axes: Grid['axes'] = [];
  for (const spec of specs) {
    const m = /^([a-z-]+)=(.+)$/.exec(spec.trim());
    if (!m) throw new InputError(`--grid expects name=v1,v2,… (e.g. mode=none,encoder), got "${spec}"`);
    const name = m[1];
    if (!isAxis(name)) throw new InputError(`--grid: unknown axis "${name}" (axes: ${Object.keys(GRID_AXES).join(', ')})`);
    if (axes.some((a) => a.name === name)) throw new InputError(`--grid: axis ${name} is given twice`);
    const values: CellValue[] = [];
    for (const part of m[2].split(',')) {
      const range = GRID_AXES[name] === 'integer' ? /^\s*(-?\d+)-(-?\d+)\s*$/.exec(part) : null;
      if (range) {
        const [a, b] = [Number(range[1]), Number(range[2])];
        if (b < a) throw new InputError(`--grid ${name}: range ${part} runs backwards`);
        for (let i = a; i <= b; i++) values.push(i);
      } else values.push(parseValue(name, part));
    }
    if (new Set(values).size !== values.length) throw new InputError(`--grid ${name}: a value is listed twice`);
    axes.push({ name, values });
  }
  const size = gridSize({ axes });
  if (size > maxCells) throw new InputError(`the grid has ${size} cells; at most ${maxCells} are allowed`);
  return { axes };
}

export function gridSize(grid: Grid): number {
  return grid.axes.reduce((n, a) => n * a.values.length, 1);
}

/** Cell `index` of the product, the last axis varying fastest. */
export function cellAt(grid: Grid, index: number): Cell {
  const picked: [AxisName, CellValue][] = [];
  let rest = index;
  for (let a = grid.axes.length - 1; a >= 0; a--) {
    const { name, values } = grid.axes[a];
    picked.unshift([name, values[rest % values.length]]);
    rest = Math.floor(rest / values.length);
  }
  return Object.fromEntries(picked);
}

/** "i/n" with 0 ≤ i < n (0-based, as SLURM_ARRAY_TASK_ID with --array=0-(n-1) and JOB_COMPLETION_INDEX). */
export function parseShard(spec: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  if (!m) throw new InputError(`--shard expects i/n (e.g. 0/4), got "${spec}"`);
  const [index, count] = [Number(m[1]), Number(m[2])];
  if (count < 1) throw new InputError('--shard: n must be at least 1');
  if (index >= count) throw new InputError(`--shard ${spec}: i must be in 0..${count - 1}`);
  return { index, count };
}

/** The cell indices of shard i of n. */
export function shardCells(grid: Grid, shard: { index: number; count: number }): number[] {
  const out: number[] = [];
  for (let i = shard.index; i < gridSize(grid); i += shard.count) out.push(i);
  return out;
}

/** Identifies a sweep: the grid and the fixed settings. Shards of different sweeps must not be merged. */
export function sweepId(grid: Grid, fixed: Record<string, unknown>): string {
  const canonical = JSON.stringify({ axes: grid.axes, fixed: Object.fromEntries(Object.entries(fixed).sort()) });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}
