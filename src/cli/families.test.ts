// The acceptance of the model families on the command line: `unclamp inspect` and `unclamp run --prompts` on a
// Gemma-2 checkpoint with a Gemma Scope SAE and on a Pythia (GPT-NeoX) checkpoint with a SAELens SAE, each from a
// local folder and from the Hub's layout (the fake Hub in this process; the Gemma-2 weights sharded behind a
// model.safetensors.index.json, the Gemma Scope folder chosen by the closest-L0 rule: hub-fixtures.ts), then again
// with the Hub gone.
// The SAE features `inspect` reports are checked against the independent float64 reference of the fixtures.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeHub } from '../../scripts/fixtures/fake-hub.ts';
import { FAMILY_REPOS, serveFamilyFixtures } from '../../scripts/fixtures/hub-fixtures.ts';
import { parseSafetensors } from '../io/safetensors.ts';
import { writeSaeLensFolder } from '../io/saelens.ts';
import { main } from './main.ts';
import { PUBLISHED_CONFIGS } from '../model/published.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../model/__fixtures__');
const hub = new FakeHub();
let dir: string;

interface Case {
  family: string;
  /** The fixture folder, and the repository the fake Hub serves it as. */
  model: string;
  repo: string;
  /** The SAE as a local folder and as the hf: reference the fake Hub serves it under. */
  saeLocal: string;
  saeHub: string;
  /** The folder the hf: reference resolves to, and the reference's key for its features. */
  saeResolved: string;
  refKey: string;
  prompts: [string, string, string][];
}

const CASES: Case[] = [
  {
    family: 'gemma2',
    model: 'tiny-gemma2',
    repo: FAMILY_REPOS.gemma2,
    saeLocal: path.join(FIXTURES, 'tiny-gemma2-saes/layer_1/width_16/average_l0_5'),
    saeHub: `hf:${FAMILY_REPOS.gemmaSae}`,
    saeResolved: `hf:${FAMILY_REPOS.gemmaSaeResolved}`,
    refKey: 'sae.layer_1/width_16/average_l0_5',
    prompts: [
      ['The cat sat on the', ' mat', ' cat'],
      ['The dog sat on the', ' mat', ' dog'],
      ['When Mary and John went to the store, John gave', ' Mary', ' John'],
    ],
  },
  {
    family: 'gpt_neox',
    model: 'tiny-neox',
    repo: FAMILY_REPOS.neox,
    saeLocal: path.join(FIXTURES, 'tiny-neox-saes/blocks.1.hook_resid_pre'),
    saeHub: `hf:${FAMILY_REPOS.neoxSae}`,
    saeResolved: `hf:${FAMILY_REPOS.neoxSae}`,
    refKey: 'sae.blocks.1.hook_resid_pre',
    prompts: [
      ['The cat sat on the', ' mat', ' cat'],
      ['The dog ran', ' home', ' away'],
      ['When Mary and John went to the store, John gave', ' Mary', ' John'],
    ],
  },
];

beforeAll(async () => {
  await hub.start();
  dir = mkdtempSync(path.join(tmpdir(), 'unclamp-families-'));
  serveFamilyFixtures(hub);
});
afterAll(async () => {
  await hub.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The command line's own entry point in this process (the fake Hub answers from here too), output captured. */
async function unclamp(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => out.push(String(s)) > 0);
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => err.push(String(s)) > 0);
  try {
    const code = await main([...args, '--backend', 'cpu']);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const hubFlags = () => ['--hub-endpoint', hub.url, '--cache-dir', path.join(dir, 'cache'), '--quiet'];

describe.each(CASES)('$family on the command line', (c) => {
  const reference = parseSafetensors(readFileSync(path.join(FIXTURES, c.model, 'reference.safetensors'))).tensors;
  const ids = JSON.parse(readFileSync(path.join(FIXTURES, c.model, 'ids.json'), 'utf8')) as { ids: number[][]; attention_mask: number[][] };

  it('inspect: the SAE features at the hook equal the float64 reference, from a local folder and from the Hub', async () => {
    const row = ids.ids[0].slice(
      0,
      ids.attention_mask[0].reduce((a, b) => a + b, 0),
    );
    const reports = [];
    for (const [model, sae, extra] of [
      [path.join(FIXTURES, c.model), c.saeLocal, []],
      [`hf:${c.repo}`, c.saeHub, hubFlags()],
    ] as const) {
      const out = path.join(dir, `${c.family}-inspect.json`);
      const r = await unclamp([
        ...['inspect', '--model', model, '--sae', sae, '--ids', row.join(','), '--features', '16', '--processing', 'none'],
        ...['--no-prepend-bos', '--json', out, ...extra],
      ]);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('unclamp: error'))).toEqual([]);
      expect(r.code).toBe(0);
      reports.push(JSON.parse(readFileSync(out, 'utf8')));
    }
    const [local, fromHub] = reports;
    expect(fromHub.sae).toBe(c.saeResolved);
    expect(fromHub.positions).toEqual(local.positions);
    expect(fromHub.nextTokens).toEqual(local.nextTokens);
    const ref = reference.get(c.refKey)!;
    const [, T, m] = ref.shape;
    let scale = 0;
    for (const v of ref.data) scale = Math.max(scale, Math.abs(v));
    for (const p of local.positions as { index: number; activeFeatures: number; features: { index: number; value: number }[] }[]) {
      const refRow = ref.data.subarray(p.index * m, (p.index + 1) * m);
      expect(p.activeFeatures).toBe(refRow.filter((v) => v > 0).length);
      for (const f of p.features) expect(Math.abs(f.value - refRow[f.index]) / scale).toBeLessThan(1e-4);
    }
    expect(local.positions).toHaveLength(row.length);
    expect(T).toBeGreaterThanOrEqual(row.length);
  });

  it('run --prompts: the same result from the Hub layout as from local folders, and again with the Hub gone', async () => {
    const set = path.join(dir, `${c.family}.jsonl`);
    writeFileSync(set, c.prompts.map(([prompt, target, contrast]) => `${JSON.stringify({ prompt, target, contrast })}\n`).join(''));
    const run = async (model: string, sae: string, extra: string[], name: string) => {
      const out = path.join(dir, name);
      const r = await unclamp([
        'run',
        '--model',
        model,
        '--sae',
        sae,
        '--prompts',
        set,
        '--steps',
        '3',
        '--json',
        out,
        '--quiet',
        ...extra,
      ]);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('unclamp: error'))).toEqual([]);
      expect(r.code).toBe(0);
      return { stdout: r.stdout, json: JSON.parse(readFileSync(out, 'utf8')) };
    };
    const local = await run(path.join(FIXTURES, c.model), c.saeLocal, [], `${c.family}-local.json`);
    const fromHub = await run(`hf:${c.repo}`, c.saeHub, hubFlags(), `${c.family}-hub.json`);
    expect(local.json.aggregate.samples).toBe(3);
    expect(fromHub.json.aggregate).toEqual(local.json.aggregate);
    expect(fromHub.json.samples).toEqual(local.json.samples);
    expect(fromHub.json.config.sources.sae).toBe(c.saeResolved);
    await hub.stop();
    try {
      const offline = await run(`hf:${c.repo}`, c.saeHub, hubFlags(), `${c.family}-offline.json`);
      expect(offline.stdout).toBe(fromHub.stdout);
    } finally {
      await hub.start();
    }
  });
});

describe('a run that cannot fit', () => {
  it('gemma-2-2b on wasm is refused before its weights are downloaded, naming the figure and the limit', async () => {
    // gemma-2-2b's config (its tokenizer stands in: only its size is checked against vocab_size), an SAE at layer 11
    // of its width (16 features, so the SAE itself is small), and no weights on the Hub at all.
    const repo = 'test/gemma-2-2b-config';
    const gemma = JSON.parse(readFileSync(path.join(FIXTURES, 'tiny-gemma2/config.json'), 'utf8'));
    const config = { ...gemma, ...PUBLISHED_CONFIGS['gemma-2-2b'] };
    hub.put(repo, 'config.json', JSON.stringify(config));
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) hub.put(repo, f, readFileSync(path.join(FIXTURES, 'tiny-gemma2', f)));
    const sae = writeSaeLensFolder(
      {
        architecture: 'standard',
        dIn: 2304,
        dSae: 16,
        applyBDecToInput: false,
        normalizeActivations: 'none',
        centerInput: false,
        hookName: 'blocks.11.hook_resid_post',
      },
      {
        W_enc: new Float32Array(2304 * 16),
        b_enc: new Float32Array(16),
        W_dec: new Float32Array(16 * 2304),
        b_dec: new Float32Array(2304),
      },
    );
    hub.put('test/gemma-2-2b-sae', 'l11/cfg.json', sae.cfgJson);
    hub.put('test/gemma-2-2b-sae', 'l11/sae_weights.safetensors', sae.weights);
    const set = path.join(dir, 'big.jsonl');
    writeFileSync(set, `${JSON.stringify({ prompt: 'The cat sat on the', target: ' mat', contrast: ' cat' })}\n`);
    hub.log = [];
    const out: string[] = [];
    const o = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => out.push(String(s)) > 0);
    let code: number;
    try {
      code = await main([
        'run',
        '--model',
        `hf:${repo}`,
        '--sae',
        'hf:test/gemma-2-2b-sae/l11',
        '--prompts',
        set,
        ...hubFlags(),
        '--backend',
        'wasm',
      ]);
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
    const said = out.join('');
    expect(code).toBe(2);
    expect(said).toMatch(
      /this run needs [\d.]+ GB of wasm memory for hf:test\/gemma-2-2b-config's layers 12–25 in float32 \(widened from bfloat16\) and 1 prompt .*; the wasm backend \(TF\.js's 4 GB heap\) has at most 4\.3 GB/,
    );
    // `unclamp plan` says the same per backend, from the same small files.
    const plan = await unclamp([
      'plan',
      '--model',
      `hf:${repo}`,
      '--sae',
      'hf:test/gemma-2-2b-sae/l11',
      '--prompts',
      set,
      '--no-dawn',
      ...hubFlags(),
    ]);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/parameters 2,614,341,888/);
    expect(plan.stdout).toMatch(
      /TF\.js wasm, \d cores? \(4\.3 GB \(4 GiB\) heap\): peak [\d.]+ GB on the device.*\n {2}does not fit: this run needs [\d.]+ GB of wasm memory/,
    );
    // The weights index was asked for (absent); no weights file was.
    expect(hub.log.filter((l) => l.path.startsWith(`/${repo}/`) && l.path.endsWith('.safetensors'))).toEqual([]);
  });
});
