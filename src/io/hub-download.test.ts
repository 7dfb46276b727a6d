// The browser's Hub downloader (hub-download.ts) on Node, against the fake Hub (scripts/fixtures/fake-hub.ts) and a
// Cache Storage stand-in: parallel ranges, resume after a drop, size and SHA-256 checks before anything is cached,
// errors in the Hub's words, and the token in the Authorization header only.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeHub } from '../../scripts/fixtures/fake-hub.ts';
import { parseHubRef } from './hub.ts';
import {
  clearHubCache,
  type DownloadProgress,
  HUB_CACHE,
  type HubDownloadOptions,
  hubCached,
  hubCacheSize,
  hubDownload,
} from './hub-download.ts';

/** Cache Storage as far as the downloader uses it: named caches of URL → stored Response. */
class MemoryCaches {
  stores = new Map<string, Map<string, { body: ArrayBuffer; headers: [string, string][] }>>();
  async open(name: string) {
    const store = this.stores.get(name) ?? new Map();
    this.stores.set(name, store);
    const key = (r: RequestInfo | URL) => (typeof r === 'string' ? r : r instanceof URL ? r.href : r.url);
    return {
      async match(r: RequestInfo | URL) {
        const e = store.get(key(r));
        return e ? new Response(e.body.byteLength ? e.body : null, { headers: e.headers }) : undefined;
      },
      async put(r: RequestInfo | URL, res: Response) {
        store.set(key(r), { body: await res.arrayBuffer(), headers: [...res.headers] });
      },
      async keys() {
        return [...store.keys()].map((u) => new Request(u));
      },
    };
  }
  async has(name: string) {
    return this.stores.has(name);
  }
  async delete(name: string) {
    return this.stores.delete(name);
  }
}

const hub = new FakeHub();
let caches: MemoryCaches;
const opts = (over: Partial<HubDownloadOptions> = {}): HubDownloadOptions => ({
  endpoint: hub.url,
  caches: caches as unknown as CacheStorage,
  retryDelayMs: 5,
  minPartBytes: 16_384,
  ...over,
});
const big = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7) % 251));
const cached = () => [...(caches.stores.get(HUB_CACHE)?.keys() ?? [])];

beforeAll(() => hub.start());
afterAll(() => hub.stop());
beforeEach(() => {
  hub.log = [];
  hub.modes.clear();
  hub.offline = false;
  caches = new MemoryCaches();
});

describe('hubDownload', () => {
  it('fetches a large file in parallel ranges, reports progress, caches it, then serves it without the network', async () => {
    hub.put('o/m', 'sub/w.bin', big);
    const ref = parseHubRef('hf:o/m/sub');
    const progress: DownloadProgress[] = [];
    const bytes = await hubDownload(ref, 'w.bin', opts({ onProgress: (p) => progress.push(p), parallel: 4 }));
    expect(Buffer.from(bytes!).equals(big)).toBe(true);
    // The first 16 kB tell the size; the other 183,616 bytes come in ranges of ≥ 16 kB, four in flight.
    const ranges = hub.log.map((l) => l.range);
    expect(ranges[0]).toBe('bytes=0-16383');
    expect(ranges.length).toBeGreaterThan(4);
    const covered = ranges.map((r) => /^bytes=(\d+)-(\d+)$/.exec(r!)!.slice(1).map(Number));
    expect(covered.reduce((a, [s, e]) => a + e + 1 - s, 0)).toBe(big.length);
    expect(progress.at(-1)).toMatchObject({ file: 'hf:o/m@main/sub/w.bin', received: big.length, total: big.length, state: 'done' });
    expect(progress.every((p) => p.rate >= 0)).toBe(true);
    expect(await hubCached(ref, 'w.bin', opts())).toBe(true);
    expect(await hubCacheSize(opts())).toEqual({ files: 1, bytes: big.length });

    hub.log = [];
    hub.offline = true;
    const again: DownloadProgress[] = [];
    const fromCache = await hubDownload(ref, 'w.bin', opts({ onProgress: (p) => again.push(p) }));
    expect(Buffer.from(fromCache!).equals(big)).toBe(true);
    expect(hub.log).toHaveLength(0);
    expect(again.map((p) => p.state)).toEqual(['cache']);
    await clearHubCache(opts());
    expect(await hubCacheSize(opts())).toEqual({ files: 0, bytes: 0 });
  });

  it('resumes a dropped range from the byte it reached', async () => {
    const url = hub.put('o/m', 'drop.bin', big);
    hub.modes.set(url, 'drop-once');
    const bytes = await hubDownload(parseHubRef('hf:o/m'), 'drop.bin', opts({ minPartBytes: 1 << 20 }));
    expect(Buffer.from(bytes!).equals(big)).toBe(true);
    // One range for the whole (small) file, dropped half way; the retry asks for the rest.
    expect(hub.log.map((l) => l.range)).toEqual([`bytes=0-${(1 << 20) - 1}`, `bytes=${big.length / 2}-${big.length - 1}`]);
  });

  it('downloads from a server that ignores Range in one stream', async () => {
    hub.put('o/m', 'plain.bin', big);
    const noRange: typeof fetch = (url, init) => {
      const headers = { ...(init?.headers as Record<string, string>) };
      delete headers.Range;
      return fetch(url, { ...init, headers });
    };
    const bytes = await hubDownload(parseHubRef('hf:o/m'), 'plain.bin', opts({ fetch: noRange }));
    expect(Buffer.from(bytes!).equals(big)).toBe(true);
    expect(hub.log).toHaveLength(1);
  });

  it('retries a 500; names a missing file, and remembers that an optional one is absent', async () => {
    const url = hub.put('o/m', 'flaky.json', '{}');
    hub.modes.set(url, 'status-500-once');
    expect(new TextDecoder().decode((await hubDownload(parseHubRef('hf:o/m'), 'flaky.json', opts()))!)).toBe('{}');
    await expect(hubDownload(parseHubRef('hf:o/m@dev/x'), 'cfg.json', opts())).rejects.toThrow(
      'hf:o/m@dev/x/cfg.json was not found on the Hub (check the repository id, the folder and the revision)',
    );
    hub.log = [];
    expect(await hubDownload(parseHubRef('hf:o/m'), 'sparsity.safetensors', opts(), true)).toBeNull();
    expect(await hubDownload(parseHubRef('hf:o/m'), 'sparsity.safetensors', opts(), true)).toBeNull();
    expect(hub.log).toHaveLength(1);
    // The record of an absent file is not a download.
    expect(await hubCacheSize(opts())).toEqual({ files: 1, bytes: 2 });
  });

  it('asks for a token on a gated repository and sends it in the Authorization header only', async () => {
    const url = hub.put('gated/m', 'cfg.json', '{"a":1}');
    hub.modes.set(url, 'status-401');
    await expect(hubDownload(parseHubRef('hf:gated/m'), 'cfg.json', opts())).rejects.toThrow(
      'hf:gated/m@main/cfg.json needs an access token (a gated or private repository): enter a Hub access token in the settings',
    );
    const bytes = await hubDownload(parseHubRef('hf:gated/m'), 'cfg.json', opts({ token: 'secret-token' }));
    expect(new TextDecoder().decode(bytes!)).toBe('{"a":1}');
    expect(hub.log.at(-1)?.auth).toBe('Bearer secret-token');
    expect(hub.log.every((l) => !l.path.includes('secret'))).toBe(true);
    expect(cached().join(' ')).not.toContain('secret');
  });

  it('never caches a truncated file or one whose SHA-256 differs from the ETag', async () => {
    const t = hub.put('o/m', 'short.bin', big);
    hub.modes.set(t, 'truncate');
    const ref = parseHubRef('hf:o/m');
    const progress: DownloadProgress[] = [];
    await expect(hubDownload(ref, 'short.bin', opts({ retries: 2, onProgress: (p) => progress.push(p) }))).rejects.toThrow(
      /short\.bin: download failed after 3 tries: the (server sent \d+|connection dropped at \d+) of 200000 bytes/,
    );
    expect(progress.at(-1)?.state).toBe('failed');
    const w = hub.put('o/m', 'bad.bin', big);
    hub.modes.set(w, 'wrong-sha');
    await expect(hubDownload(ref, 'bad.bin', opts())).rejects.toThrow("bad.bin: the downloaded file does not match the Hub's SHA-256");
    expect(cached()).toEqual([]);
  });

  it('stops at once when aborted, and keeps nothing', async () => {
    hub.put('o/m', 'slow.bin', big);
    hub.throttle = { chunk: 4096, delayMs: 20 };
    const ctl = new AbortController();
    const job = hubDownload(
      parseHubRef('hf:o/m'),
      'slow.bin',
      opts({ signal: ctl.signal, onProgress: (p) => p.received > 20_000 && ctl.abort() }),
    );
    try {
      await expect(job).rejects.toThrow(/abort/i);
    } finally {
      hub.throttle = null;
    }
    expect(cached()).toEqual([]);
  });

  it('still gives the file when the browser will not store it, and says so', async () => {
    hub.put('o/m', 'w.bin', big);
    const full = new MemoryCaches();
    const open = full.open.bind(full);
    full.open = async (name: string) => ({
      ...(await open(name)),
      put: async () => {
        throw new Error('QuotaExceededError');
      },
    });
    const progress: DownloadProgress[] = [];
    const bytes = await hubDownload(
      parseHubRef('hf:o/m'),
      'w.bin',
      opts({ caches: full as unknown as CacheStorage, onProgress: (p) => progress.push(p) }),
    );
    expect(Buffer.from(bytes!).equals(big)).toBe(true);
    expect(progress.at(-1)).toMatchObject({
      state: 'done',
      note: 'not kept for next time: the browser refused to store it (QuotaExceededError)',
    });
    // Without Cache Storage at all (plain http): downloaded every time, nothing to measure or clear.
    const none = { endpoint: hub.url, retryDelayMs: 5 };
    expect(Buffer.from((await hubDownload(parseHubRef('hf:o/m'), 'w.bin', none))!).equals(big)).toBe(true);
    expect(await hubCacheSize({})).toEqual({ files: 0, bytes: 0 });
  });

  it('says when the Hub cannot be reached; an optional file is then simply absent', async () => {
    hub.put('o/m', 'cfg.json', '{}');
    hub.offline = true;
    await expect(hubDownload(parseHubRef('hf:o/m'), 'cfg.json', opts({ retries: 1 }))).rejects.toThrow(
      `hf:o/m@main/cfg.json: cannot reach ${hub.url}`,
    );
    expect(await hubDownload(parseHubRef('hf:o/m'), 'sparsity.safetensors', opts({ retries: 1 }), true)).toBeNull();
    expect(cached()).toEqual([]);
  });
});
