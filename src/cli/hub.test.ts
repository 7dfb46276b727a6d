// Hub downloads against a local server in the Hub's URL layout (scripts/fixtures/fake-hub.ts) that can drop a
// connection, truncate a file, answer 404 / 401 / 500, or serve the wrong bytes. Nothing here touches the real Hub.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hubFileUrl, parseHubRef } from '../io/hub.ts';
import { writeSaeLensFolder } from '../io/saelens.ts';
import { mulberry32, normals } from '../core/rng.ts';
import { cachePath, type HubOptions, hubFile } from './hub-cache.ts';
import { FakeHub } from '../../scripts/fixtures/fake-hub.ts';

const hub = new FakeHub();
let dir: string;
const opts = (over: Partial<HubOptions> = {}): HubOptions => ({
  endpoint: hub.url,
  cacheDir: path.join(dir, 'cache'),
  retryDelayMs: 5,
  ...over,
});
const big = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7) % 251));

beforeAll(async () => {
  await hub.start();
  dir = mkdtempSync(path.join(tmpdir(), 'unclamp-hub-'));
});
afterAll(async () => {
  await hub.stop();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  hub.log = [];
  rmSync(path.join(dir, 'cache'), { recursive: true, force: true });
});

describe('Hub references', () => {
  it('parse repository, revision and path, and build the resolve URL', () => {
    expect(parseHubRef('hf:openai-community/gpt2')).toEqual({ repo: 'openai-community/gpt2', revision: 'main', path: '' });
    const ref = parseHubRef('hf:jbloom/GPT2-Small-SAEs-Reformatted@v1.0/blocks.4.hook_resid_pre');
    expect(ref).toEqual({ repo: 'jbloom/GPT2-Small-SAEs-Reformatted', revision: 'v1.0', path: 'blocks.4.hook_resid_pre' });
    expect(hubFileUrl('https://hf.example/', ref, 'cfg.json')).toBe(
      'https://hf.example/jbloom/GPT2-Small-SAEs-Reformatted/resolve/v1.0/blocks.4.hook_resid_pre/cfg.json',
    );
    expect(() => parseHubRef('hf:gpt2')).toThrow('"hf:gpt2" is not a Hub reference');
    expect(() => parseHubRef('hf:a/b/../../etc')).toThrow('may not contain ".."');
  });
});

describe('downloads into the cache', () => {
  it('fetches once, then serves from the cache without the network', async () => {
    hub.put('o/m', 'sub/w.bin', big);
    const ref = parseHubRef('hf:o/m/sub');
    const p = await hubFile(ref, 'w.bin', opts());
    expect(p).toBe(cachePath(opts(), ref, 'w.bin'));
    expect(readFileSync(p!).equals(big)).toBe(true);
    expect(await hubFile(ref, 'w.bin', opts())).toBe(p);
    expect(hub.log).toHaveLength(1);
  });

  it('resumes a dropped connection with a Range request', async () => {
    const url = hub.put('o/m', 'drop.bin', big);
    hub.modes.set(url, 'drop-once');
    const p = await hubFile(parseHubRef('hf:o/m'), 'drop.bin', opts());
    expect(readFileSync(p!).equals(big)).toBe(true);
    expect(hub.log.map((l) => l.range)).toEqual([undefined, `bytes=${big.length / 2}-`]);
  });

  it('retries a 500, and names a missing file (an optional one is simply absent)', async () => {
    const url = hub.put('o/m', 'flaky.json', '{}');
    hub.modes.set(url, 'status-500-once');
    expect(readFileSync((await hubFile(parseHubRef('hf:o/m'), 'flaky.json', opts()))!, 'utf8')).toBe('{}');
    await expect(hubFile(parseHubRef('hf:o/m@dev/x'), 'cfg.json', opts())).rejects.toThrow(
      'hf:o/m@dev/x/cfg.json was not found on the Hub (check the repository id, the folder and the revision)',
    );
    expect(await hubFile(parseHubRef('hf:o/m'), 'sparsity.safetensors', opts(), true)).toBeNull();
  });

  it('asks for a token on a gated repository and sends it in a header only', async () => {
    const url = hub.put('gated/m', 'cfg.json', '{"a":1}');
    hub.modes.set(url, 'status-401');
    await expect(hubFile(parseHubRef('hf:gated/m'), 'cfg.json', opts())).rejects.toThrow(
      'needs an access token (a gated or private repository): set HF_TOKEN or pass --hub-token',
    );
    const p = await hubFile(parseHubRef('hf:gated/m'), 'cfg.json', opts({ token: 'secret-token' }));
    expect(readFileSync(p!, 'utf8')).toBe('{"a":1}');
    expect(hub.log.at(-1)?.auth).toBe('Bearer secret-token');
    expect(readFileSync(`${p}.json`, 'utf8')).not.toContain('secret-token');
  });

  it('never keeps a truncated file or one whose SHA-256 differs from the ETag', async () => {
    const t = hub.put('o/m', 'short.bin', big);
    hub.modes.set(t, 'truncate');
    const ref = parseHubRef('hf:o/m');
    await expect(hubFile(ref, 'short.bin', opts({ retries: 2 }))).rejects.toThrow(
      /short\.bin: download failed after 3 tries: the (server sent \d+|connection dropped at \d+) of 200000 bytes/,
    );
    expect(existsSync(cachePath(opts(), ref, 'short.bin'))).toBe(false);
    const w = hub.put('o/m', 'bad.bin', big);
    hub.modes.set(w, 'wrong-sha');
    await expect(hubFile(ref, 'bad.bin', opts())).rejects.toThrow("bad.bin: the downloaded file does not match the Hub's SHA-256");
    expect(existsSync(cachePath(opts(), ref, 'bad.bin'))).toBe(false);
  });
});

describe('unclamp run with hf: references', () => {
  const root = path.resolve(import.meta.dirname, '../..');
  const modelDir = path.join(root, 'src/model/__fixtures__/tiny-bpe');
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      // Asynchronous: the fake Hub answers from this process while the CLI runs.
      const child = spawn(process.execPath, [path.join(root, 'bin/unclamp.js'), ...args], { cwd: root });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });

  /** The tiny-bpe checkpoint as hf:test/tiny-gpt2 and a 4-wide SAE as hf:test/saes/blocks.1.hook_resid_pre. */
  function serveFixtures() {
    hub.put('test/tiny-gpt2', 'config.json', readFileSync(path.join(modelDir, 'config.json')));
    hub.put('test/tiny-gpt2', 'model.safetensors', readFileSync(path.join(modelDir, 'model.safetensors')));
    const rand = mulberry32(1);
    const sae = writeSaeLensFolder(
      {
        architecture: 'standard',
        dIn: 4,
        dSae: 8,
        applyBDecToInput: true,
        normalizeActivations: 'none',
        centerInput: false,
        hookName: 'blocks.1.hook_resid_pre',
      },
      { W_enc: normals(rand, 32), b_enc: new Float32Array(8).fill(0.1), W_dec: normals(rand, 32), b_dec: new Float32Array(4) },
    );
    hub.put('test/saes', 'blocks.1.hook_resid_pre/cfg.json', sae.cfgJson);
    hub.put('test/saes', 'blocks.1.hook_resid_pre/sae_weights.safetensors', Buffer.from(sae.weights));
  }

  it('downloads the model and the SAE once, then runs from the cache with the Hub gone', async () => {
    serveFixtures();
    const prompts = path.join(dir, 'set.jsonl');
    writeFileSync(
      prompts,
      `${JSON.stringify({ prompt: 'When Mary and John went out, John waved at', target: ' Mary', contrast: ' John' })}\n`,
    );
    const args = ['run', '--model', 'hf:test/tiny-gpt2', '--sae', 'hf:test/saes/blocks.1.hook_resid_pre', '--prompts', prompts];
    const common = ['--hub-endpoint', hub.url, '--cache-dir', path.join(dir, 'cli-cache'), '--steps', '2', '--hub-token', 'tok-123'];
    const first = await run([...args, ...common]);
    expect(first.stderr).toContain('hf:test/tiny-gpt2: model.safetensors');
    expect(first.stderr).not.toContain('tok-123');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^prompts: mode encoder/m);
    // The plan's small files first (the model's config, weights index and tokenizer files: absent; the SAE's
    // cfg.json), then, the plan fitting, the SAE's weights (sparsity: absent) and the model's weights.
    expect(hub.log.map((l) => l.path.split('/resolve/main/')[1])).toEqual([
      'config.json',
      'model.safetensors.index.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'blocks.1.hook_resid_pre/cfg.json',
      'blocks.1.hook_resid_pre/sae_weights.safetensors',
      'blocks.1.hook_resid_pre/sparsity.safetensors',
      'model.safetensors',
    ]);
    await hub.stop();
    const second = await run([...args, ...common, '--quiet']);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    await hub.start();
  });

  it('runs the paper-ioi scenario on the 64 shipped prompts with the paper’s settings, and says what it needs offline', async () => {
    serveFixtures();
    const cache = ['--cache-dir', path.join(dir, 'paper-cache')];
    const r = await run([
      'run',
      '--scenario',
      'paper-ioi',
      '--model',
      'hf:test/tiny-gpt2',
      '--sae',
      'hf:test/saes/blocks.1.hook_resid_pre',
      '--hub-endpoint',
      hub.url,
      ...cache,
      '--steps',
      '2',
      '--quiet',
    ]);
    // Only the SAE check's warnings: the fixture SAE is random.
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/^unclamp: warning: explained variance/);
    expect(lines.every((l) => l.startsWith('unclamp: warning: '))).toBe(true);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^paper-ioi: mode encoder, adam, δ shared at default positions, 2 steps, lr 0\.1, ρ 20\.000, λ_act 0/m);
    expect(r.stdout).toMatch(/^paper-ioi encoder +64 /m);
    expect(r.stdout).toContain('the paper (GPT-2 small, this setting), mode encoder: 37 valid flips of 64, 37 recovered, abs drift 0.783');
    const offline = await run(['run', '--scenario', 'paper-ioi', '--hub-endpoint', 'http://127.0.0.1:9', ...cache, '--quiet']);
    expect(offline.code).toBe(2);
    expect(offline.stderr).toContain(
      'the paper-ioi scenario needs GPT-2 small (hf:openai-community/gpt2) and its SAE (hf:jbloom/GPT2-Small-SAEs-Reformatted/blocks.4.hook_resid_pre): from the Hub, or give local copies with --model DIR --sae DIR',
    );
  }, 60_000);
});

describe("the paper's IOI prompts", () => {
  const root = path.resolve(import.meta.dirname, '../..');
  const file = path.join(root, 'public/data/paper-ioi.jsonl');

  it('are what scripts/make-paper-ioi.py generates: 64 BABA prompts of one template, 15 GPT-2 tokens each', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync('python3', [path.join(root, 'scripts/make-paper-ioi.py')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(readFileSync(file, 'utf8'));
    const { Gpt2BpeTokenizer } = await import('../model/tokenizers/bpe.ts');
    const tok = new Gpt2BpeTokenizer();
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { prompt: string; target: string; contrast: string });
    expect(lines).toHaveLength(64);
    expect(new Set(lines.map((l) => tok.encode(l.prompt).length))).toEqual(new Set([15]));
    expect(lines.every((l) => /^Then, (\w+) and (\w+) went to the \w+\. \1 gave a \w+ to$/.test(l.prompt))).toBe(true);
    expect(lines.every((l) => tok.tokenId(l.target) !== undefined && tok.tokenId(l.contrast) !== undefined)).toBe(true);
    expect(lines[0].prompt).toBe('Then, Jeremy and Scott went to the hospital. Jeremy gave a snack to');
  });
});
