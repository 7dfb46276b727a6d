// readSaeSource (the CLI's --sae) on Gemma Scope folders: a local one, an hf: one through the fake Hub
// (scripts/fixtures/fake-hub.ts, in-process), the closest-L0 form resolved through the Hub's listing and remembered in
// the cache, then all of it again with the Hub gone; and `unclamp inspect` end to end on such an SAE (in this process).
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeHub } from '../../scripts/fixtures/fake-hub.ts';
import { gemmaScopeArrays, gemmaScopeNpz } from '../io/__fixtures__/gemma-scope.ts';
import { parseHubRef } from '../io/hub.ts';
import { loadSaeFolder } from '../io/sae-folder.ts';
import { writeSaeLensFolder } from '../io/saelens.ts';
import { readSaeDir } from './fs.ts';
import { main } from './main.ts';
import { hubOptionsFrom } from './hub-cache.ts';
import { resolutionRecordPath } from './hub-resolve.ts';
import { readSaeSource, type SourceFlags } from './sources.ts';

const hub = new FakeHub();
let dir: string;
const D = 4;
const M = 8;
const arrays = gemmaScopeArrays(D, M, 11);
const params = gemmaScopeNpz(arrays, D, M);
const REPO = 'test/gemma-scope-tiny';

const flags = (over: Partial<SourceFlags> = {}): SourceFlags => ({
  processing: 'none',
  hubEndpoint: hub.url,
  cacheDir: path.join(dir, 'cache'),
  quiet: true,
  ...over,
});

/** layer_1/width_8 with three average L0s; the one closest to 100 is 90 (|90 − 100| < |120 − 100|). */
function serve() {
  for (const n of [3, 90, 120]) hub.put(REPO, `layer_1/width_8/average_l0_${n}/params.npz`, Buffer.from(params));
}

beforeAll(async () => {
  await hub.start();
  dir = mkdtempSync(path.join(tmpdir(), 'unclamp-sae-source-'));
});
afterAll(async () => {
  await hub.stop();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  hub.files.clear();
  hub.modes.clear();
  hub.log = [];
  hub.offline = false;
  rmSync(path.join(dir, 'cache'), { recursive: true, force: true });
});

describe('a local Gemma Scope folder', () => {
  it('is read as one (params.npz, the path naming the hook) and loads', async () => {
    const folder = path.join(dir, 'local', 'layer_1', 'width_8', 'average_l0_90');
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, 'params.npz'), params);
    const src = await readSaeSource(folder, flags());
    expect(src).toMatchObject({ layout: 'gemma-scope', path: folder, name: folder });
    const loaded = loadSaeFolder(src, { source: src.name });
    expect(loaded.config).toMatchObject({ architecture: 'jumprelu', dIn: D, dSae: M, hookName: 'blocks.1.hook_resid_post' });
    loaded.sae.dispose();
    expect(() => readSaeDir(folder)).toThrow(`${folder} is a Gemma Scope folder (params.npz); this command takes a SAELens folder`);
    // The closest-L0 form chooses among the folders there, by the same rule.
    for (const n of [3, 120]) {
      mkdirSync(path.join(dir, 'local', 'layer_1', 'width_8', `average_l0_${n}`), { recursive: true });
      writeFileSync(path.join(dir, 'local', 'layer_1', 'width_8', `average_l0_${n}`, 'params.npz'), params);
    }
    const closest = await readSaeSource(path.join(dir, 'local', 'layer_1', 'width_8', 'average_l0_closest_100'), flags());
    expect(closest).toMatchObject({ layout: 'gemma-scope', name: folder, path: folder });
    await expect(readSaeSource(path.join(dir, 'local', 'layer_2', 'average_l0_closest_100'), flags())).rejects.toThrow(
      `SAE directory ${path.join(dir, 'local', 'layer_2')} does not exist (to choose average_l0_closest_100 in it)`,
    );
    const empty = path.join(dir, 'local', 'empty');
    mkdirSync(empty, { recursive: true });
    await expect(readSaeSource(empty, flags())).rejects.toThrow(
      `SAE directory ${empty} has neither cfg.json + sae_weights.safetensors (a SAELens folder) nor params.npz (a Gemma Scope folder)`,
    );
  });
});

describe('a Gemma Scope folder on the Hub', () => {
  it('downloads params.npz through the cache, then reads it with the Hub gone', async () => {
    serve();
    const ref = `hf:${REPO}/layer_1/width_8/average_l0_3`;
    const src = await readSaeSource(ref, flags());
    expect(src).toMatchObject({ layout: 'gemma-scope', path: ref, name: ref });
    expect(hub.log.map((l) => l.path)).toEqual([`/${REPO}/resolve/main/layer_1/width_8/average_l0_3/params.npz`]);
    hub.offline = true;
    const again = await readSaeSource(ref, flags());
    expect(again.layout === 'gemma-scope' && Buffer.from(new Uint8Array(again.params)).equals(Buffer.from(params))).toBe(true);
  });

  it('resolves average_l0_closest_N by the listing, says so, remembers it, and reruns offline', async () => {
    serve();
    const ref = `hf:${REPO}/layer_1/width_8/average_l0_closest_100`;
    const said: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => said.push(String(s)) > 0);
    let src: Awaited<ReturnType<typeof readSaeSource>>;
    try {
      src = await readSaeSource(ref, flags({ quiet: false }));
    } finally {
      spy.mockRestore();
    }
    const resolved = `hf:${REPO}/layer_1/width_8/average_l0_90`;
    expect(src).toMatchObject({ layout: 'gemma-scope', path: resolved, name: resolved });
    expect(said[0]).toBe(`${ref}: layer_1/width_8/average_l0_90 (average L0 90, the closest to 100 of 120, 3, 90)\n`);
    expect(said.slice(1).every((l) => l.startsWith(`${resolved}: params.npz `))).toBe(true);
    expect(hub.log.map((l) => l.path)).toEqual([
      `/api/models/${REPO}/tree/main/layer_1/width_8`,
      `/${REPO}/resolve/main/layer_1/width_8/average_l0_90/params.npz`,
    ]);
    const record = resolutionRecordPath(hubOptionsFrom(flags()), parseHubRef(ref));
    expect(record).toBe(path.join(dir, 'cache', 'test', 'gemma-scope-tiny', 'main', 'layer_1', 'width_8', 'average_l0_closest_100.json'));
    expect(JSON.parse(readFileSync(record, 'utf8')).choice.path).toBe('layer_1/width_8/average_l0_90');
    hub.offline = true;
    const offline = await readSaeSource(ref, flags());
    expect(offline).toMatchObject({ layout: 'gemma-scope', name: resolved });
    const loaded = loadSaeFolder(offline, { source: offline.name });
    expect(loaded.config.hookName).toBe('blocks.1.hook_resid_post');
    loaded.sae.dispose();
  });

  it('offline without an earlier answer, says that the listing is needed once', async () => {
    hub.offline = true;
    await expect(readSaeSource(`hf:${REPO}/layer_1/width_8/average_l0_closest_100`, flags())).rejects.toThrow(
      /cannot reach .*; average_l0_closest_100 is resolved by listing layer_1\/width_8 on the Hub once, and no earlier answer is in the cache/,
    );
  });

  it('tells a SAELens folder from a params.npz one when the name does not, and names a folder with neither', async () => {
    const sae = writeSaeLensFolder(
      {
        architecture: 'standard',
        dIn: D,
        dSae: M,
        applyBDecToInput: true,
        normalizeActivations: 'none',
        centerInput: false,
        hookName: 'blocks.1.hook_resid_pre',
      },
      { W_enc: arrays.W_enc, b_enc: arrays.b_enc, W_dec: arrays.W_dec, b_dec: arrays.b_dec },
    );
    hub.put('test/saes', 'blocks.1.hook_resid_pre/cfg.json', sae.cfgJson);
    hub.put('test/saes', 'blocks.1.hook_resid_pre/sae_weights.safetensors', Buffer.from(sae.weights));
    const lens = await readSaeSource('hf:test/saes/blocks.1.hook_resid_pre', flags());
    expect(lens.layout).toBeUndefined();
    expect(lens.layout !== 'gemma-scope' && lens.cfgJson).toBe(sae.cfgJson);
    // cfg.json (asked once), the weights, the optional sparsity (absent): as before Gemma Scope folders were known.
    expect(hub.log).toHaveLength(3);
    hub.put('test/npz', 'mine/layer_1/params.npz', Buffer.from(params));
    const npz = await readSaeSource('hf:test/npz/mine/layer_1', flags());
    expect(npz).toMatchObject({ layout: 'gemma-scope', path: 'hf:test/npz/mine/layer_1' });
    hub.offline = true;
    expect(await readSaeSource('hf:test/npz/mine/layer_1', flags())).toMatchObject({ layout: 'gemma-scope' });
    hub.offline = false;
    hub.put('test/npz', 'other/x.bin', 'x');
    await expect(readSaeSource('hf:test/npz/other', flags())).rejects.toThrow(
      'hf:test/npz/other: the Hub has neither cfg.json + sae_weights.safetensors (a SAELens folder) nor params.npz (a Gemma Scope folder) there',
    );
  });
});

describe('unclamp inspect with a Gemma Scope SAE from the Hub', () => {
  const root = path.resolve(import.meta.dirname, '../..');
  it('resolves the closest-L0 folder, reads the activations at blocks.1.hook_resid_post, and names the folder used', async () => {
    serve();
    const modelDir = path.join(root, 'src/model/__fixtures__/tiny-bpe');
    const out = path.join(dir, 'inspect.json');
    const args = [
      ...['inspect', '--model', modelDir, '--sae', `hf:${REPO}/layer_1/width_8/average_l0_closest_100`, '--prompt', 'When Mary and John'],
      ...['--hub-endpoint', hub.url, '--cache-dir', path.join(dir, 'cache'), '--json', out, '--quiet', '--backend', 'cpu'],
    ];
    // In this process (the fake Hub answers from here too): the command line's own entry point, output captured.
    const said: string[] = [];
    const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => said.push(String(s)) > 0);
    const std = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let code: number;
    try {
      code = await main(args);
    } finally {
      err.mockRestore();
      std.mockRestore();
    }
    expect(said).toEqual([]);
    expect(code).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.sae).toBe(`hf:${REPO}/layer_1/width_8/average_l0_90`);
    expect(report.hook).toBe('blocks.1.hook_resid_post');
    expect(
      existsSync(path.join(dir, 'cache', 'test', 'gemma-scope-tiny', 'main', 'layer_1', 'width_8', 'average_l0_closest_100.json')),
    ).toBe(true);
  });
});
