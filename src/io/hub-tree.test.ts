// The Hub API's folder listing against the fake Hub (scripts/fixtures/fake-hub.ts, in-process) and against hand-made
// answers (an injected fetch): entries, recursion, pages, the token in the Authorization header only, and errors
// that say what went wrong.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeHub } from '../../scripts/fixtures/fake-hub.ts';
import { parseHubRef } from './hub.ts';
import { hubTreeUrl, listHubTree } from './hub-tree.ts';

const hub = new FakeHub();
const opts = (over = {}) => ({ endpoint: hub.url, ...over });
const big = Buffer.alloc(2000, 7);

beforeAll(async () => {
  await hub.start();
  hub.lfsThreshold = 1000; // the Hub's is 10 MiB: a small file stands for a large one here
});
afterAll(async () => {
  await hub.stop();
});
beforeEach(() => {
  hub.files.clear();
  hub.modes.clear();
  hub.log = [];
  hub.offline = false;
  hub.put('g/scope', 'layer_3/width_16k/average_l0_59/params.npz', 'abc');
  hub.put('g/scope', 'layer_3/width_16k/average_l0_142/params.npz', 'abcdef');
  hub.put('g/scope', 'layer_3/width_65k/average_l0_89/params.npz', big);
  hub.put('g/scope', 'README.md', '# hi');
  hub.put('g/scope', 'layer_3/width_16k/notes.txt', 'n', 'dev');
});

describe('listHubTree', () => {
  it('lists the directories and files directly under a folder, with sizes and ids, as the Hub API does', async () => {
    const ref = parseHubRef('hf:g/scope/layer_3');
    expect(hubTreeUrl(hub.url, ref)).toBe(`${hub.url}/api/models/g/scope/tree/main/layer_3`);
    expect(await listHubTree(ref, opts())).toEqual([
      { type: 'directory', path: 'layer_3/width_16k', size: 0, oid: expect.stringMatching(/^[0-9a-f]{40}$/) },
      { type: 'directory', path: 'layer_3/width_65k', size: 0, oid: expect.stringMatching(/^[0-9a-f]{40}$/) },
    ]);
    const root = await listHubTree(parseHubRef('hf:g/scope'), opts());
    expect(root.map((e) => [e.type, e.path])).toEqual([
      ['file', 'README.md'],
      ['directory', 'layer_3'],
    ]);
    // A git blob id, as the Hub gives a small file's oid: sha1("blob 4\0# hi").
    expect(root[0]).toEqual({ type: 'file', path: 'README.md', size: 4, oid: 'ac3e6daf176fafe73609fd000cd188e4472010fb' });
  });

  it('lists everything below a folder with recursive, a large file with its LFS id', async () => {
    const ref = parseHubRef('hf:g/scope/layer_3');
    expect(hubTreeUrl(hub.url, ref, true)).toBe(`${hub.url}/api/models/g/scope/tree/main/layer_3?recursive=true`);
    const all = await listHubTree(ref, opts({ recursive: true }));
    expect(all.map((e) => `${e.type} ${e.path}`)).toEqual([
      'directory layer_3/width_16k',
      'directory layer_3/width_16k/average_l0_142',
      'file layer_3/width_16k/average_l0_142/params.npz',
      'directory layer_3/width_16k/average_l0_59',
      'file layer_3/width_16k/average_l0_59/params.npz',
      'directory layer_3/width_65k',
      'directory layer_3/width_65k/average_l0_89',
      'file layer_3/width_65k/average_l0_89/params.npz',
    ]);
    expect(all.at(-1)?.lfs).toEqual({ oid: expect.stringMatching(/^[0-9a-f]{64}$/), size: big.length });
    expect(all[2].lfs).toBeUndefined();
  });

  it('lists another revision, encoded as one path part', async () => {
    expect(hubTreeUrl('https://hf.example/', { repo: 'g/scope', revision: 'refs/pr/1', path: '' })).toBe(
      'https://hf.example/api/models/g/scope/tree/refs%2Fpr%2F1',
    );
    const dev = await listHubTree(parseHubRef('hf:g/scope@dev/layer_3/width_16k'), opts());
    expect(dev.map((e) => e.path)).toEqual(['layer_3/width_16k/notes.txt']);
    hub.put('g/scope', 'x/y.bin', 'y', 'refs/pr/1');
    expect((await listHubTree({ repo: 'g/scope', revision: 'refs/pr/1', path: 'x' }, opts())).map((e) => e.path)).toEqual(['x/y.bin']);
  });

  it('names a folder, repository or revision that is not there', async () => {
    for (const ref of ['hf:g/scope/layer_4', 'hf:g/nothing', 'hf:g/scope@v9/layer_3']) {
      await expect(listHubTree(parseHubRef(ref), opts()), ref).rejects.toThrow(
        /the listing of hf:g\/\w+@\w+(\/layer_\d)? was not found on the Hub \(check the repository id, the folder and the revision\)/,
      );
    }
  });

  it('asks for a token on a gated repository, and sends it in the Authorization header only', async () => {
    const p = hub.put('gated/m', 'sae/params.npz', 'x');
    hub.modes.set(p, 'status-401');
    const ref = parseHubRef('hf:gated/m/sae');
    await expect(listHubTree(ref, opts())).rejects.toThrow(
      'the listing of hf:gated/m@main/sae needs an access token (a gated or private repository): set HF_TOKEN or pass --hub-token',
    );
    await expect(listHubTree(ref, opts({ tokenHint: 'enter a Hub access token in the settings' }))).rejects.toThrow(
      /needs an access token \(a gated or private repository\): enter a Hub access token in the settings$/,
    );
    expect(await listHubTree(ref, opts({ token: 'tok-secret' }))).toEqual([
      expect.objectContaining({ type: 'file', path: 'sae/params.npz' }),
    ]);
    const last = hub.log.at(-1)!;
    expect(last.auth).toBe('Bearer tok-secret');
    expect(last.path).not.toContain('tok-secret');
  });

  it('says when the Hub cannot be reached', async () => {
    hub.offline = true;
    await expect(listHubTree(parseHubRef('hf:g/scope'), opts())).rejects.toThrow(
      new RegExp(`the listing of hf:g/scope@main: cannot reach ${hub.url.replace(/\./g, '\\.')} \\(`),
    );
  });
});

describe('answers that are not a listing, and pages', () => {
  const answer =
    (pages: Record<string, { body: string; link?: string; status?: number }>, seen: { url: string; auth?: string }[] = []) =>
    async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = String(input);
      seen.push({ url, auth: (init?.headers as Record<string, string>)?.Authorization });
      const page = pages[url];
      if (!page) return new Response('nope', { status: 404 });
      return new Response(page.body, { status: page.status ?? 200, headers: page.link ? { Link: page.link } : {} });
    };
  const ref = parseHubRef('hf:o/m/f');
  const first = 'https://mirror.example/api/models/o/m/tree/main/f';

  it('an HTML page, JSON that is not a list, an entry that is not one', async () => {
    const endpoint = 'https://mirror.example';
    const html = answer({ [first]: { body: '<!doctype html>\n<html><body>Sign in</body></html>' } });
    await expect(listHubTree(ref, { endpoint, fetch: html })).rejects.toThrow(
      'the listing of hf:o/m@main/f: the answer is not JSON (it begins "<!doctype html> <html><body>Sign in</body></html>"); is https://mirror.example the Hugging Face Hub or a mirror with its API?',
    );
    const obj = answer({ [first]: { body: '{"error":"x"}' } });
    await expect(listHubTree(ref, { endpoint, fetch: obj })).rejects.toThrow(/the answer is JSON but not a list of entries/);
    const odd = answer({ [first]: { body: '[{"type":"file","path":"f/a"},{"type":"submodule","path":"f/b"}]' } });
    await expect(listHubTree(ref, { endpoint, fetch: odd })).rejects.toThrow(/entry 2 is not a file or directory entry/);
  });

  it('follows Link rel="next" pages, with the token only on the endpoint’s own origin', async () => {
    const endpoint = 'https://mirror.example';
    const seen: { url: string; auth?: string }[] = [];
    const second = 'https://mirror.example/api/models/o/m/tree/main/f?cursor=abc';
    const third = 'https://cdn.example/page3';
    const f = answer(
      {
        [first]: { body: '[{"type":"file","path":"f/a","size":1}]', link: `<${second}>; rel="next"` },
        [second]: { body: '[{"type":"directory","path":"f/b"}]', link: `<${third}>; rel="next", <${first}>; rel="first"` },
        [third]: { body: '[{"type":"file","path":"f/c","lfs":{"oid":"ab","size":9,"pointerSize":130}}]' },
      },
      seen,
    );
    expect(await listHubTree(ref, { endpoint, fetch: f, token: 't' })).toEqual([
      { type: 'file', path: 'f/a', size: 1 },
      { type: 'directory', path: 'f/b' },
      { type: 'file', path: 'f/c', lfs: { oid: 'ab', size: 9 } },
    ]);
    expect(seen.map((s) => s.auth)).toEqual(['Bearer t', 'Bearer t', undefined]);
    const loop = answer({ [first]: { body: '[]', link: `<${first}>; rel="next"` } });
    await expect(listHubTree(ref, { endpoint, fetch: loop, maxPages: 3 })).rejects.toThrow(/ran past 3 pages/);
  });
});
