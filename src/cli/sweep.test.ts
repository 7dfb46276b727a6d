// Sweeps: the grid's cells and shards, and `unclamp sweep` / `unclamp merge` run as a user (or a job array) would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cellAt, gridSize, parseGrid, parseShard, shardCells } from './grid.ts';
import { mergeShards } from './merge.ts';

const root = path.resolve(import.meta.dirname, '../..');

function unclamp(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/unclamp.js'), ...args], { encoding: 'utf8', cwd: root, timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the grid', () => {
  it('expands values and whole-number ranges; the last axis varies fastest', () => {
    const g = parseGrid(['mode=none,encoder', 'seed=0-2', 'budget-rel=0.1']);
    expect(gridSize(g)).toBe(6);
    expect(cellAt(g, 0)).toEqual({ mode: 'none', seed: 0, 'budget-rel': 0.1 });
    expect(cellAt(g, 1)).toEqual({ mode: 'none', seed: 1, 'budget-rel': 0.1 });
    expect(cellAt(g, 3)).toEqual({ mode: 'encoder', seed: 0, 'budget-rel': 0.1 });
    expect(Object.keys(cellAt(g, 5))).toEqual(['mode', 'seed', 'budget-rel']);
  });

  it.each([
    [['mode=none,fast'], '--grid mode: "fast" is not one of none, encoder, jacobian'],
    [['speed=1,2'], '--grid: unknown axis "speed"'],
    [['seed=3-1'], '--grid seed: range 3-1 runs backwards'],
    [['lr=0.1,x'], '--grid lr: "x" is not a number'],
    [['k=1.5'], '--grid k: "1.5" is not a whole number'],
    [['seed=1,1'], '--grid seed: a value is listed twice'],
    [['mode=none', 'mode=encoder'], '--grid: axis mode is given twice'],
    [['mode'], '--grid expects name=v1,v2,…'],
    [['seed=0-999', 'k=1-999'], 'the grid has 999000 cells; at most 100000 are allowed'],
  ])('refuses %j: %s', (specs, message) => {
    expect(() => parseGrid(specs)).toThrow(message);
  });

  it('refuses shards outside 0..n−1', () => {
    expect(parseShard('3/4')).toEqual({ index: 3, count: 4 });
    expect(() => parseShard('4/4')).toThrow('--shard 4/4: i must be in 0..3');
    expect(() => parseShard('1-4')).toThrow('--shard expects i/n');
  });

  it('splits the cells among n shards so that each cell is in exactly one', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 9 }), (sizes, n) => {
        const g = {
          axes: sizes.map((m, a) => ({ name: (['seed', 'k', 'steps', 'n'] as const)[a], values: Array.from({ length: m }, (_, i) => i) })),
        };
        const seen = Array.from({ length: n }, (_, i) => shardCells(g, { index: i, count: n })).flat();
        expect(seen.sort((x, y) => x - y)).toEqual(Array.from({ length: gridSize(g) }, (_, i) => i));
      }),
    );
  });
});

describe('unclamp sweep and merge', () => {
  let dir: string;
  const grid = [
    '--scenario',
    'tpp',
    '--grid',
    'mode=none,encoder',
    '--grid',
    'budget-rel=0.1,0.3',
    '--grid',
    'seed=0',
    '--steps',
    '4',
    '--n',
    '16',
  ];
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'unclamp-sweep-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('two shards merged give the figures of the same grid in one shard; a rerun resumes', () => {
    const two = path.join(dir, 'two');
    for (const s of ['0/2', '1/2']) expect(unclamp(['sweep', ...grid, '--shard', s, '--out', two, '--quiet']).code).toBe(0);
    const one = path.join(dir, 'one');
    expect(unclamp(['sweep', ...grid, '--out', one, '--quiet']).code).toBe(0);
    const merged = path.join(dir, 'merged.json');
    const csv = path.join(dir, 'merged.csv');
    const m = unclamp([
      'merge',
      path.join(two, 'shard-0-of-2.jsonl'),
      path.join(two, 'shard-1-of-2.jsonl'),
      '--json',
      merged,
      '--csv',
      csv,
    ]);
    expect(m.stderr).toBe('');
    expect(m.code).toBe(0);
    expect(m.stdout).toMatch(/^mode=encoder budget-rel=0\.3 seed=0 +16 +\d+ +\d+/m);
    const a = JSON.parse(readFileSync(merged, 'utf8'));
    const b = JSON.parse(readFileSync(path.join(one, 'shard-0-of-1.jsonl'), 'utf8').split('\n')[1]);
    expect(a.cells.map((c: { cell: number }) => c.cell)).toEqual([0, 1, 2, 3]);
    expect(a.cells[0].aggregate).toEqual(b.aggregate);
    expect(readFileSync(csv, 'utf8').split('\n')[0]).toBe(
      'cell,mode,budget-rel,seed,rho,validFlips,recovered,recoveryRate,relDriftMedian,meanAbsDrift,meanDeltaOverResidual,reactivation,zeroReactivationRate,seconds',
    );
    // A shard killed mid-write (its last line cut off) reruns only what is missing.
    const file = path.join(two, 'shard-1-of-2.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    writeFileSync(file, `${lines.slice(0, 2).join('\n')}\n${lines[2].slice(0, 20)}`);
    const r = unclamp(['sweep', ...grid, '--shard', '1/2', '--out', two]);
    expect(r.stdout).toContain('shard 1/2 has 2 (1 already done)');
    expect(r.stdout).toContain('cell 3 ');
    expect(r.stdout).not.toContain('cell 1 ');
  });

  it('refuses a shard file of another sweep, and a fixed flag that is also an axis', () => {
    const out = path.join(dir, 'other');
    expect(unclamp(['sweep', ...grid, '--out', out, '--quiet']).code).toBe(0);
    const r = unclamp(['sweep', ...grid.map((g) => (g === '4' ? '5' : g)), '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('belongs to another sweep');
    const both = unclamp(['sweep', ...grid, '--mode', 'none', '--out', out]);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe('unclamp: mode is both a grid axis and a fixed flag; give it once\n');
  });
});

describe('merging shards', () => {
  const header = (sweep: string, index: number, count: number) =>
    JSON.stringify({
      format: 'unclamp-sweep-shard/1',
      sweep,
      grid: { axes: [{ name: 'seed', values: [0, 1, 2] }] },
      fixed: {},
      shard: { index, count },
      cells: 3,
    });
  const cell = (i: number) => JSON.stringify({ cell: i, params: { seed: i }, rho: 1, aggregate: { validFlips: 1 }, seconds: 0 });

  it('names the missing cells and the shard that owns them', () => {
    const texts = new Map([['a.jsonl', `${header('s', 0, 3)}\n${cell(0)}\n`]]);
    expect(() => mergeShards(texts)).toThrow(
      '2 of 3 cells have no result: 1 (shard 1/3), 2 (shard 2/3); run those shards, or pass --allow-missing',
    );
    expect(mergeShards(texts, true).missing).toEqual([1, 2]);
  });

  it('refuses shards of different sweeps, a cell twice, and a damaged line', () => {
    expect(() =>
      mergeShards(
        new Map([
          ['a.jsonl', `${header('s', 0, 1)}\n${cell(0)}`],
          ['b.jsonl', `${header('t', 0, 1)}\n${cell(1)}`],
        ]),
      ),
    ).toThrow('b.jsonl belongs to sweep t, a.jsonl to s');
    expect(() =>
      mergeShards(
        new Map([
          ['a.jsonl', `${header('s', 0, 2)}\n${cell(0)}`],
          ['b.jsonl', `${header('s', 1, 2)}\n${cell(0)}`],
        ]),
      ),
    ).toThrow('cell 0 appears in both a.jsonl and b.jsonl');
    expect(() => mergeShards(new Map([['a.jsonl', `${header('s', 0, 1)}\n{oops\n${cell(1)}`]]))).toThrow('a.jsonl: line 2 is not JSON');
    expect(() => mergeShards(new Map([['a.jsonl', 'hello']]))).toThrow('a.jsonl is not a sweep shard');
  });
});
