// `unclamp run` spawned as a user would run it: the scenario's table supplies every setting a flag does not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SCENARIOS } from '../scenarios/catalog.ts';

const root = path.resolve(import.meta.dirname, '../..');

function unclamp(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/unclamp.js'), ...args], { encoding: 'utf8', cwd: root, timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('unclamp run', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'unclamp-run-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("runs IOI with the scenario's table, changing only what the flags say", () => {
    const json = path.join(dir, 'ioi.json');
    const r = unclamp(['run', '--scenario', 'ioi', '--steps', '3', '--quiet', '--json', json]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(readFileSync(json, 'utf8'));
    // The budget is relative (κ 0.3): the line and the JSON give the absolute ρ it meant.
    const rho = out.config.budget.toFixed(3).replace('.', '\\.');
    const line = `^ioi: mode encoder, adam, δ shared at default positions, 3 steps, lr 0\\.1, ρ ${rho} \\(κ 0\\.3\\).*changed from the scenario's: steps 3 \\(scenario: 100\\)$`;
    expect(r.stdout).toMatch(new RegExp(line, 'm'));
    const { positions: _p, steps: _s, budget: _b, ...table } = SCENARIOS.ioi.defaults.run;
    expect(out.config).toMatchObject({
      ...table,
      steps: 3,
      scenario: 'ioi',
      positions: 'default',
      sae: 'L1-resid_post-standard-w128-L0_5.2-ev0.84',
    });
    expect(out.config.clamp).toEqual({ kind: 'set', value: -5, onlyActive: true, description: 'set to -5 where active' });
    expect(out.config.budget).toBeGreaterThan(1);
    expect(out.config.features).toHaveLength(SCENARIOS.ioi.defaults.k(128));
  });

  it('refuses an unknown scenario, and points the probe scenario to `unclamp recover`', () => {
    for (const id of ['nope', 'probe']) {
      const r = unclamp(['run', '--scenario', id]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(
        `unclamp: --scenario must be one of ioi, refusal, tpp, unlearning, probe-example, paper-ioi (got "${id}"); your own probe files go to \`unclamp recover\`, your own prompts to --prompts`,
      );
    }
  });

  it('refuses a defended-set size the SAE cannot give', () => {
    const r = unclamp(['run', '--scenario', 'probe-example', '--k', '999']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('unclamp: the defended-set size K must be a whole number in 1..128, got 999');
  });
});
