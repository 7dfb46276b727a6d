// `unclamp defences` and `unclamp run --defence`: every flag checked before anything loads (exit 2, one line), and the
// matrix end to end on IOI in a tiny configuration, spawned as a user would run it, twice: the same numbers each time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFENCE_IDS } from '../core/defence-kinds.ts';
import type { DefenceMatrix } from '../scenarios/defence-matrix.ts';
import { matrixWork, parseBudgets, parseDefenceList, parseModes, parseSeeds, planDefences } from './defences.ts';
import { defenceFromFlags } from './run.ts';

const root = path.resolve(import.meta.dirname, '../..');

function unclamp(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/unclamp.js'), ...args], { encoding: 'utf8', cwd: root, timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const plan = (flags: Partial<Parameters<typeof planDefences>[0]> = {}) =>
  planDefences({
    scenario: 'ioi',
    seeds: '5',
    modes: 'none,encoder,jacobian',
    defences: DEFENCE_IDS.join(','),
    budgets: '0.25,0.5,1,2',
    lambdaDetect: 10,
    ...flags,
  });

describe('the defences flags', () => {
  it('reads seeds as a count or a list', () => {
    expect(parseSeeds('5')).toEqual([0, 1, 2, 3, 4]);
    expect(parseSeeds('0,3,7')).toEqual([0, 3, 7]);
    expect(parseSeeds('2-4')).toEqual([2, 3, 4]);
    expect(parseSeeds('3-3')).toEqual([3]);
    expect(() => parseSeeds('0')).toThrow('--seeds: a count of seeds must be in 1..50, got 0 (one seed s alone: --seeds s-s)');
    expect(() => parseSeeds('51')).toThrow('1..50');
    expect(() => parseSeeds('0-60')).toThrow('--seeds: at most 50 seeds');
    expect(() => parseSeeds('1,x')).toThrow('--seeds must be a count (5) or comma-separated seeds (0,1,2 or 0-4), got "x"');
    expect(() => parseSeeds('1,1')).toThrow('--seeds lists 1 twice');
    expect(() => parseSeeds('4-2')).toThrow('--seeds: range 4-2 runs backwards');
    expect(() => parseSeeds(',')).toThrow('--seeds is empty');
  });

  it('reads modes, budgets and defences, refusing repeats and unknowns', () => {
    expect(parseModes('encoder,none')).toEqual(['encoder', 'none']);
    expect(() => parseModes('encoder,pca')).toThrow('--modes: "pca" is not a projection mode: choose from none, encoder, jacobian');
    expect(() => parseModes('none,none')).toThrow('--modes lists none twice');
    expect(parseBudgets('2,0.5,1')).toEqual([0.5, 1, 2]);
    expect(() => parseBudgets('1,-1')).toThrow('--budgets: each multiple of the budget must be a number in (0, 100], got "-1"');
    expect(() => parseBudgets('1,1')).toThrow('--budgets lists 1 twice');
    const choices = parseDefenceList('clamp, no-error-term+detect ,multi-layer+reclamp');
    expect(choices.map((c) => c.ids.join('+'))).toEqual(['clamp', 'no-error-term+detect', 'reclamp+multi-layer']);
    expect(() => parseDefenceList('no-error-term+detect,detect+no-error-term')).toThrow('--defences lists no-error-term+detect twice');
    expect(() => parseDefenceList('clamp,shield')).toThrow('"shield" is not a defence');
    expect(() => parseDefenceList('clip-error+reclamp')).toThrow('both act at the hook');
    expect(() => parseDefenceList('clamp', { clipPercentile: 95 })).toThrow(
      "--clip-percentile sets the clip-error defence's cap: add clip-error to --defences",
    );
    expect(() => parseDefenceList('clip-error', { clipPercentile: 0 })).toThrow('the clip percentile must be in (0, 100], got 0');
    expect(parseDefenceList('clip-error+detect', { clipPercentile: 95, detectFpr: 0.05 })[0]).toMatchObject({
      clipPercentile: 95,
      detectFpr: 0.05,
    });
  });

  it('plans a matrix: the scenario, the settings and λ_detect checked as the runs will check them', () => {
    const p = plan();
    expect(p.seeds).toEqual([0, 1, 2, 3, 4]);
    expect(p.defences).toHaveLength(DEFENCE_IDS.length);
    expect(p.notes).toEqual([]);
    expect(() => plan({ scenario: undefined })).toThrow('give --scenario (ioi, refusal, tpp, unlearning)');
    expect(() => plan({ scenario: 'probe-example' })).toThrow(
      '--scenario must be one of ioi, refusal, tpp, unlearning (the built-in scenarios), got "probe-example"',
    );
    expect(() => plan({ steps: 0 })).toThrow(/steps/);
    expect(() => plan({ lambdaDetect: -1 })).toThrow(/lambda-detect must be a number in \[0, /);
    // Refusal's data does not depend on the seed: more seeds would repeat one run.
    const refusal = plan({ scenario: 'refusal' });
    expect(refusal.seeds).toEqual([0]);
    expect(refusal.notes).toEqual(["refusal's held-out data does not depend on the seed: seed 0 only (more would repeat the same runs)"]);
  });

  it('counts the work a matrix does', () => {
    const p = plan({ seeds: '2', modes: 'encoder', defences: 'clamp,no-error-term', budgets: '0.5,1' });
    // Per seed: the paper's attacker and no-error-term's adaptive one; on the first seed, per defence, 2 budgets and 2× steps.
    expect(matrixWork(p)).toEqual({ runs: 2 * 2 + 2 * 3, messages: 2 * 2 + 2 * 3 + 2 });
  });

  it('reads --defence for `unclamp run`: the paper clamp is no defence flag at all', () => {
    expect(defenceFromFlags({})).toBeUndefined();
    expect(defenceFromFlags({ defence: 'clamp' })).toBeUndefined();
    expect(defenceFromFlags({ defence: 'no-error-term,detect', detectFpr: 0.05 })).toMatchObject({
      ids: ['no-error-term', 'detect'],
      detectFpr: 0.05,
    });
    expect(() => defenceFromFlags({ detectFpr: 0.05 })).toThrow(
      "--detect-fpr sets the detect defence's threshold: add detect to --defence",
    );
    expect(() => defenceFromFlags({ defence: 'reclamp', clipPercentile: 90 })).toThrow('add clip-error to --defence');
  });

  it('refuses bad flags with one line and exit 2, before anything loads', () => {
    const cases: [string[], string][] = [
      [['defences', '--scenario', 'nope'], '--scenario must be one of ioi, refusal, tpp, unlearning (the built-in scenarios), got "nope"'],
      [['defences', '--scenario', 'ioi', '--seeds', '1,x'], '--seeds must be a count (5) or comma-separated seeds (0,1,2 or 0-4), got "x"'],
      [['defences', '--scenario', 'ioi', '--defences', 'clamp,shield'], `"shield" is not a defence: choose from ${DEFENCE_IDS.join(', ')}`],
      [
        ['run', '--scenario', 'ioi', '--defence', 'clamp,ablate-span'],
        'clamp and ablate-span both act at the hook: combine one of clamp, no-error-term, clip-error, reclamp, ablate-span with multi-layer and/or detect',
      ],
      [
        ['run', '--scenario', 'ioi', '--clip-percentile', '90'],
        "--clip-percentile sets the clip-error defence's cap: add clip-error to --defence",
      ],
    ];
    for (const [args, message] of cases) {
      const r = unclamp(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(`unclamp: ${message}`);
    }
  });
});

describe('unclamp defences and run --defence, end to end on IOI', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'unclamp-defences-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a tiny matrix twice with the same numbers, the clamp attacked alike by both attackers', () => {
    const args = ['--scenario', 'ioi', '--seeds', '0-0', '--modes', 'encoder', '--defences', 'clamp,no-error-term', '--budgets', '0.5,1'];
    const run = (name: string) => {
      const json = path.join(dir, name);
      const r = unclamp(['defences', ...args, '--steps', '5', '--quiet', '--json', json]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return { stdout: r.stdout, m: JSON.parse(readFileSync(json, 'utf8')) as DefenceMatrix & { backend: string } };
    };
    const a = run('a.json');
    const b = run('b.json');
    const { m } = a;
    expect(m).toMatchObject({
      scenario: 'ioi',
      seeds: [0],
      modes: ['encoder'],
      curveMode: 'encoder',
      settings: { steps: 5 },
      backend: 'wasm',
    });
    expect(m.defences.map((d) => d.defence)).toEqual(['clamp', 'no-error-term']);
    expect(m.cells.map((c) => `${c.defence}|${c.attacker}|${c.mode}`)).toEqual([
      'clamp|paper|encoder',
      'clamp|adaptive|encoder',
      'no-error-term|paper|encoder',
      'no-error-term|adaptive|encoder',
    ]);
    for (const d of m.defences) {
      expect(d.budgetCurve.map((p) => p.multiple)).toEqual([0.5, 1]);
      expect(Object.keys(d.checks).sort()).toEqual(['beatsRandom', 'budgetMonotone', 'moreStepsNotLower', 'stepsRates']);
      expect(d.cost.samples).toBe(64);
      expect(d.cost.utility?.tokens).toBeGreaterThan(0);
      expect(d.detector).toBeUndefined();
    }
    const [paper, adaptive] = m.cells;
    // The paper's attacker is the adaptive one against the paper's clamp: one δ, one cell.
    const { attacker: _a, ...paperRest } = paper;
    const { attacker: _b, ...adaptiveRest } = adaptive;
    expect(adaptiveRest).toEqual(paperRest);
    expect(paper.validFlips).toBeGreaterThan(0);
    expect(m.gaps[0]).toMatchObject({ defence: 'clamp', mode: 'encoder', gap: 0 });
    // Deterministic: everything but the wall time is the same on a second call.
    const { durationS: _d1, ...first } = a.m;
    const { durationS: _d2, ...second } = b.m;
    expect(second).toEqual(first);
    expect(a.stdout.replace(/\n[\d.]+ s\n$/, '')).toBe(b.stdout.replace(/\n[\d.]+ s\n$/, ''));
    expect(a.stdout).toContain('recovery in encoder mode');
    expect(a.stdout).toMatch(/^clamp +\d+\/\d+ /m);
  });

  it('`run --defence` records the defence and the monitor’s detection rate; `--defence clamp` is the default run', () => {
    const json = path.join(dir, 'run.json');
    const r = unclamp(['run', '--scenario', 'ioi', '--steps', '3', '--quiet', '--defence', 'no-error-term,detect', '--json', json]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('defence: No error term + Detector at 1% FPR\n');
    expect(r.stdout).toMatch(/^run +.*detected$/m);
    expect(r.stdout).toMatch(/^ioi encoder no-error-term\+detect /m);
    const out = JSON.parse(readFileSync(json, 'utf8'));
    expect(out.config.defence).toEqual({ ids: ['no-error-term', 'detect'], description: 'No error term + Detector at 1% FPR' });
    expect(typeof out.aggregate.detectionRate).toBe('number');

    const plain = unclamp(['run', '--scenario', 'ioi', '--steps', '3', '--quiet']);
    const clamp = unclamp(['run', '--scenario', 'ioi', '--steps', '3', '--quiet', '--defence', 'clamp']);
    expect(plain.code).toBe(0);
    expect(clamp.stdout).toBe(plain.stdout);
    expect(plain.stdout).not.toContain('defence');
    expect(plain.stdout).not.toContain('detected');
  });
});
