// The real `unclamp` binary, spawned as a user would run it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import { writeSafetensors } from '../io/safetensors.ts';

const root = path.resolve(import.meta.dirname, '../..');
const example = path.join(root, 'public/examples/probe');
const schema = JSON.parse(readFileSync(path.join(root, 'public/schemas/recovery-result.schema.json'), 'utf8'));

function unclamp(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/unclamp.js'), ...args], { encoding: 'utf8', cwd: root, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const base = [
  'recover',
  '--sae',
  path.join(example, 'sae'),
  '--activations',
  path.join(example, 'activations.safetensors'),
  '--probe',
  path.join(example, 'probe.safetensors'),
];

describe('unclamp recover', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'unclamp-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints help', () => {
    const r = unclamp(['recover', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--top-k <k>/);
    expect(r.stdout).toMatch(/--mode <mode>/);
  });

  it('runs a recovery and writes JSON that follows the schema, and CSV', () => {
    const json = path.join(dir, 'out.json');
    const csv = path.join(dir, 'out.csv');
    const r = unclamp([
      ...base,
      '--top-k',
      '4',
      '--mode',
      'encoder',
      '--steps',
      '30',
      '--lr',
      '0.05',
      '--budget',
      '2',
      '--seed',
      '1',
      '--json',
      json,
      '--csv',
      csv,
      '--metrics-every',
      '10',
    ]);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/valid flips/);
    expect(r.stdout).toMatch(/rate \[95% CI\]/);
    // --budget 2 is an absolute budget: the relative one (κ) is off, and the line says so.
    expect(r.stdout).toMatch(
      /^probe: mode encoder, adam, .*ρ 2\.000, .*; changed from the scenario's: steps 30 \(scenario: 100\), budgetRel null \(scenario: 0\.3\), seed 1 \(scenario: 0\)$/m,
    );
    const result = JSON.parse(readFileSync(json, 'utf8'));
    const ajv = new Ajv2020({ allErrors: true });
    const valid = ajv.validate(schema, result);
    expect(ajv.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    expect(result.samples).toHaveLength(48);
    expect(result.samples.map((s: { index: number }) => s.index)).toEqual([...Array(48).keys()]);
    expect(result.config).toMatchObject({ mode: 'encoder', steps: 30, lr: 0.05, budget: 2, delta: 'per-sample', seed: 1 });
    expect(result.config.features).toHaveLength(4);
    expect(result.aggregate.validFlips).toBeGreaterThan(10);
    expect(result.history.map((h: { step: number }) => h.step)).toEqual([0, 10, 20, 30]);
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(49);
    expect(lines[0]).toMatch(/^index,base,defended,recovered,valid,success,defendedNorm,relDrift/);
  });

  it('gives identical JSON for the same seed', () => {
    const a = path.join(dir, 'a.json');
    const b = path.join(dir, 'b.json');
    const args = [...base, '--features', '1,4,7', '--mode', 'jacobian', '--steps', '8', '--lr', '0.05', '--budget', '1', '--quiet'];
    expect(unclamp([...args, '--json', a]).code).toBe(0);
    expect(unclamp([...args, '--json', b]).code).toBe(0);
    expect(readFileSync(a, 'utf8')).toEqual(readFileSync(b, 'utf8'));
  });

  describe('bad input: exit 2 with one line saying what is wrong', () => {
    const cases: [string, () => string[], RegExp][] = [
      [
        'missing SAE dir',
        () => ['recover', '--sae', '/nope', '--activations', 'x', '--probe', 'y', '--top-k', '2'],
        /activations file x does not exist|SAE directory \/nope does not exist/,
      ],
      [
        'features out of range',
        () => [...base, '--features', '1,999'],
        /feature index 999 is out of range: this SAE has features 0\.\.127/,
      ],
      ['negative steps', () => [...base, '--top-k', '2', '--steps', '-5'], /steps must be a positive number/],
      ['zero lr', () => [...base, '--top-k', '2', '--lr', '0'], /lr must be a positive number/],
      ['zero budget', () => [...base, '--top-k', '2', '--budget', '0'], /budget must be a positive number/],
      ['non-numeric lr', () => [...base, '--top-k', '2', '--lr', 'fast'], /--lr must be a number/],
      [
        'both feature options',
        () => [...base, '--top-k', '2', '--features', '1'],
        /choose the defended features with --features or --top-k, not both/,
      ],
      ['bad clamp', () => [...base, '--top-k', '2', '--clamp', 'set:x'], /clamp "set:x"/],
      ['unknown mode', () => [...base, '--top-k', '2', '--mode', 'magic'], /--mode must be one of none, encoder, jacobian/],
      ['absurd steps', () => [...base, '--top-k', '2', '--steps', '1000000000'], /above the limit/],
    ];
    it.each(cases)('%s', (_, args, message) => {
      const r = unclamp(args());
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    });

    it('reports malformed and mismatched files', () => {
      const bad = path.join(dir, 'bad');
      mkdirSync(bad, { recursive: true });
      cpSync(path.join(example, 'sae'), path.join(bad, 'sae'), { recursive: true });
      // Truncated activations.
      const acts = readFileSync(path.join(example, 'activations.safetensors'));
      writeFileSync(path.join(bad, 'trunc.safetensors'), acts.subarray(0, 100));
      // NaN in activations.
      const nan = new Float32Array(4 * 32).fill(0.5);
      nan[37] = NaN;
      writeFileSync(path.join(bad, 'nan.safetensors'), writeSafetensors({ h: { shape: [4, 32], data: nan } }));
      // Wrong width.
      writeFileSync(path.join(bad, 'wide.safetensors'), writeSafetensors({ h: { shape: [4, 31], data: new Float32Array(4 * 31) } }));
      // Probe with the wrong bias shape.
      writeFileSync(
        path.join(bad, 'probe.safetensors'),
        writeSafetensors({ w: { shape: [32], data: new Float32Array(32) }, b: { shape: [2], data: new Float32Array(2) } }),
      );
      // cfg.json that is not JSON.
      mkdirSync(path.join(bad, 'sae-broken'), { recursive: true });
      cpSync(path.join(example, 'sae/sae_weights.safetensors'), path.join(bad, 'sae-broken/sae_weights.safetensors'));
      writeFileSync(path.join(bad, 'sae-broken/cfg.json'), '{"d_in": 32,');
      const run = (sae: string, acts: string, probe: string) =>
        unclamp(['recover', '--sae', sae, '--activations', acts, '--probe', probe, '--features', '1']);
      const probe = path.join(example, 'probe.safetensors');
      const cases: [ReturnType<typeof run>, RegExp][] = [
        [run(path.join(bad, 'sae'), path.join(bad, 'trunc.safetensors'), probe), /larger than the file|truncated/],
        [run(path.join(bad, 'sae'), path.join(bad, 'nan.safetensors'), probe), /non-finite value \(NaN\) at sample 1/],
        [run(path.join(bad, 'sae'), path.join(bad, 'wide.safetensors'), probe), /probe has d=32 but activations have d=31/],
        [
          run(path.join(bad, 'sae'), path.join(example, 'activations.safetensors'), path.join(bad, 'probe.safetensors')),
          /binary probe \(w \[d\]\) needs b of shape \[\] or \[1\]/,
        ],
        [run(path.join(bad, 'sae-broken'), path.join(example, 'activations.safetensors'), probe), /cfg\.json: not valid JSON/],
      ];
      for (const [r, message] of cases) {
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
      }
    });
  });
});
