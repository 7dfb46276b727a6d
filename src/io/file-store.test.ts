// The page's store of downloaded files (file-store.ts) on Node, which has no OPFS: an in-memory stand-in of the
// File System API as far as the store uses it (StoreDir), with OPFS's semantics — a writable starts empty on a swap
// copy that replaces the file only on close() and is dropped on abort(); a removed folder's handles fail — and the
// fake Hub (scripts/fixtures/fake-hub.ts) behind hub-download.ts: parts written as they arrive, a file marked
// complete only after its size and SHA-256, a stored file served as a Blob without the network, a download cut off
// continued from its complete parts, the quota asked before a download, persistence asked for a large file, the
// older Cache Storage read and cleared too. (The Cache Storage fallback itself: hub-download.test.ts.)
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeHub } from '../../scripts/fixtures/fake-hub.ts';
import { OpfsStore, STORE_NAME, type StorageLike, type StoreDir, type StoreFileHandle, type StoreWritable } from './file-store.ts';
import { parseHubRef } from './hub.ts';
import { clearHubCache, type DownloadProgress, type HubDownloadOptions, hubCached, hubFile, hubStorage } from './hub-download.ts';

const fsError = (name: string, message: string) => Object.assign(new Error(message), { name });

class MemoryFile implements StoreFileHandle {
  data = new Uint8Array(0);
  /** Writes that reached the file (each one a round trip in a browser). */
  writes = 0;
  constructor(
    private readonly parent: MemoryDir,
    readonly name: string,
  ) {}

  async getFile(): Promise<Blob> {
    this.parent.check();
    return new Blob([this.data.slice()]);
  }

  async createWritable(): Promise<StoreWritable> {
    this.parent.check();
    let swap = new Uint8Array(0);
    let open = true;
    const live = () => {
      if (!open) throw fsError('TypeError', 'the writable is closed');
    };
    return {
      write: async (chunk) => {
        live();
        this.parent.root.spend(chunk.type === 'write' ? chunk.data.length : 0);
        if (chunk.type === 'truncate') {
          const t = new Uint8Array(chunk.size);
          t.set(swap.subarray(0, chunk.size));
          swap = t;
          return;
        }
        this.writes++;
        const end = chunk.position + chunk.data.length;
        if (end > swap.length) {
          const g = new Uint8Array(end);
          g.set(swap);
          swap = g;
        }
        swap.set(chunk.data, chunk.position);
      },
      close: async () => {
        live();
        open = false;
        this.parent.check();
        this.data = swap;
      },
      abort: async () => {
        open = false;
      },
    };
  }
}

class MemoryDir implements StoreDir {
  readonly entries = new Map<string, MemoryDir | MemoryFile>();
  removed = false;
  /** Bytes written so far, and a limit after which writes fail as a full disk would. */
  written = 0;
  failAfter = Infinity;
  readonly root: MemoryDir;
  constructor(root?: MemoryDir) {
    this.root = root ?? this;
  }

  check(): void {
    if (this.removed) throw fsError('NotFoundError', 'the folder was removed');
  }

  spend(n: number): void {
    this.written += n;
    if (this.written > this.failAfter) throw fsError('QuotaExceededError', 'the disk is full');
  }

  async getDirectoryHandle(name: string, o: { create?: boolean } = {}): Promise<StoreDir> {
    this.check();
    const e = this.entries.get(name);
    if (e instanceof MemoryDir) return e;
    if (e) throw fsError('TypeMismatchError', `${name} is a file`);
    if (!o.create) throw fsError('NotFoundError', `${name} not found`);
    const d = new MemoryDir(this.root);
    this.entries.set(name, d);
    return d;
  }

  async getFileHandle(name: string, o: { create?: boolean } = {}): Promise<StoreFileHandle> {
    this.check();
    const e = this.entries.get(name);
    if (e instanceof MemoryFile) return e;
    if (e) throw fsError('TypeMismatchError', `${name} is a folder`);
    if (!o.create) throw fsError('NotFoundError', `${name} not found`);
    const f = new MemoryFile(this, name);
    this.entries.set(name, f);
    return f;
  }

  async removeEntry(name: string, o: { recursive?: boolean } = {}): Promise<void> {
    this.check();
    const e = this.entries.get(name);
    if (!e) throw fsError('NotFoundError', `${name} not found`);
    if (e instanceof MemoryDir) {
      if (e.entries.size && !o.recursive) throw fsError('InvalidModificationError', `${name} is not empty`);
      e.markRemoved();
    }
    this.entries.delete(name);
  }

  private markRemoved(): void {
    this.removed = true;
    for (const e of this.entries.values()) if (e instanceof MemoryDir) e.markRemoved();
  }

  async *keys(): AsyncIterable<string> {
    this.check();
    yield* [...this.entries.keys()];
  }

  /** Every file under this folder, by path. */
  files(prefix = ''): Map<string, MemoryFile> {
    const out = new Map<string, MemoryFile>();
    for (const [name, e] of this.entries)
      if (e instanceof MemoryFile) out.set(prefix + name, e);
      else for (const [p, f] of e.files(`${prefix}${name}/`)) out.set(p, f);
    return out;
  }
}

/** navigator.storage with a fixed quota, and a persistence answer. */
function storageOf(quota: number, grant: boolean) {
  const asked: string[] = [];
  let persisted = false;
  const s: StorageLike & { asked: string[] } = {
    asked,
    estimate: async () => ({ quota, usage: 0 }),
    persisted: async () => persisted,
    persist: async () => {
      asked.push('persist');
      persisted = grant;
      return grant;
    },
  };
  return s;
}

const hub = new FakeHub();
let root: MemoryDir;
const opts = (over: Partial<HubDownloadOptions> = {}): HubDownloadOptions => ({
  endpoint: hub.url,
  directory: root,
  storage: null,
  retryDelayMs: 5,
  minPartBytes: 16_384,
  ...over,
});
const big = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7) % 251));
const bytesOf = async (b: Blob | Uint8Array | null) => Buffer.from(b instanceof Blob ? new Uint8Array(await b.arrayBuffer()) : b!);
const stored = () => [...root.files().keys()];
/** The entries' meta.json, parsed. */
const metas = () => [...root.files()].filter(([p]) => p.endsWith('meta.json')).map(([, f]) => JSON.parse(new TextDecoder().decode(f.data)));
const ranges = () =>
  hub.log.map((l) =>
    /^bytes=(\d+)-(\d*)$/
      .exec(l.range ?? '')!
      .slice(1)
      .map(Number),
  );

beforeAll(() => hub.start());
afterAll(() => hub.stop());
beforeEach(() => {
  hub.log = [];
  hub.modes.clear();
  hub.offline = false;
  hub.throttle = null;
  root = new MemoryDir();
});

describe('OPFS store', () => {
  it('writes the parts as they arrive, marks the file complete after its checks, and serves it as a Blob without the network', async () => {
    hub.put('o/m', 'sub/w.bin', big);
    const ref = parseHubRef('hf:o/m/sub');
    const progress: DownloadProgress[] = [];
    const body = await hubFile(ref, 'w.bin', opts({ onProgress: (p) => progress.push(p) }));
    expect(body).toBeInstanceOf(Blob);
    expect((await bytesOf(body)).equals(big)).toBe(true);
    expect(progress.at(-1)).toMatchObject({ received: big.length, total: big.length, state: 'done' });
    // One file per range (16 kB parts), each written in one piece; meta.json says complete, with the ETag.
    const parts = stored().filter((p) => /\/p\d+$/.test(p));
    expect(parts).toHaveLength(hub.log.length);
    expect([...root.files().values()].filter((f) => /^p\d+$/.test(f.name)).every((f) => f.writes === 1)).toBe(true);
    const [meta] = metas();
    expect(meta).toMatchObject({ url: `${hub.url}/o/m/resolve/main/sub/w.bin`, size: big.length, complete: true, hash: null });
    expect(meta.etag).toMatch(/^[0-9a-f]{64}$/);
    expect(await hubCached(ref, 'w.bin', opts())).toBe(true);
    expect(await hubStorage(opts())).toEqual({ kind: 'opfs', files: 1, bytes: big.length, unfinished: 0, persisted: null });

    hub.log = [];
    hub.offline = true;
    const again: DownloadProgress[] = [];
    const fromStore = await hubFile(ref, 'w.bin', opts({ onProgress: (p) => again.push(p) }));
    expect(fromStore).toBeInstanceOf(Blob);
    expect((await bytesOf(fromStore)).equals(big)).toBe(true);
    // Slices read the stored parts across their boundaries.
    expect(Buffer.from(await (fromStore as Blob).slice(16_000, 40_000).arrayBuffer()).equals(big.subarray(16_000, 40_000))).toBe(true);
    expect(hub.log).toHaveLength(0);
    expect(again.map((p) => p.state)).toEqual(['cache']);
    await clearHubCache(opts());
    expect(stored()).toEqual([]);
    expect(await hubStorage(opts())).toMatchObject({ files: 0, bytes: 0 });
  });

  it('gathers network chunks into large writes, one file when the server ignores Range', async () => {
    const large = Buffer.alloc(9 * 2 ** 20, 3);
    hub.put('o/m', 'large.bin', large);
    hub.throttle = { chunk: 65_536, delayMs: 0 };
    const noRange: typeof fetch = (url, init) => {
      const headers = { ...(init?.headers as Record<string, string>) };
      delete headers.Range;
      return fetch(url, { ...init, headers });
    };
    const body = await hubFile(parseHubRef('hf:o/m'), 'large.bin', opts({ fetch: noRange }));
    expect((await bytesOf(body)).equals(large)).toBe(true);
    const [part] = [...root.files().values()].filter((f) => /^p\d+$/.test(f.name));
    // 144 network chunks of 64 kB, written in 4 MiB pieces.
    expect(part.writes).toBe(3);
    expect(body).toBeInstanceOf(Blob);
  });

  it('continues a download cut off (a closed tab, a cancel) from its complete parts, with the hash state it had', async () => {
    const url = hub.put('o/m', 'slow.bin', big);
    hub.throttle = { chunk: 4096, delayMs: 10 };
    const ctl = new AbortController();
    const cut = hubFile(
      parseHubRef('hf:o/m'),
      'slow.bin',
      opts({ signal: ctl.signal, parallel: 2, onProgress: (p) => p.received > 110_000 && ctl.abort() }),
    );
    await expect(cut).rejects.toThrow(/abort/i);
    hub.throttle = null;
    const [meta] = metas();
    expect(meta.complete).toBe(false);
    expect(meta.done.length).toBeGreaterThan(2);
    expect(meta.hash.at).toBeGreaterThan(0);
    expect(await hubCached(parseHubRef('hf:o/m'), 'slow.bin', opts())).toBe(false);
    const { unfinished } = await hubStorage(opts());
    expect(unfinished).toBe(meta.done.reduce((a: number, p: { start: number; end: number }) => a + p.end - p.start, 0));

    hub.log = [];
    const progress: DownloadProgress[] = [];
    const body = await hubFile(parseHubRef('hf:o/m'), 'slow.bin', opts({ onProgress: (p) => progress.push(p) }));
    expect((await bytesOf(body)).equals(big)).toBe(true);
    // The first request (size and ETag) is the only one that touches a stored part.
    const requested = ranges().slice(1);
    for (const p of meta.done) expect(requested.some(([s]) => s >= p.start && s < p.end)).toBe(false);
    expect(progress[0].received).toBeGreaterThanOrEqual(unfinished);
    expect(metas()[0]).toMatchObject({ complete: true, size: big.length });
    expect(hub.log.every((l) => l.path === url)).toBe(true);
  });

  it('a new download of the same file waits for the cancelled one to put its parts away', async () => {
    hub.put('o/m', 'slow.bin', big);
    // 4 ranges of 4 kB every 20 ms: the file takes ≥ 250 ms; the first progress report (at 100 ms) cancels it.
    hub.throttle = { chunk: 4096, delayMs: 20 };
    const ctl = new AbortController();
    const first = hubFile(
      parseHubRef('hf:o/m'),
      'slow.bin',
      opts({ signal: ctl.signal, onProgress: (p) => p.received > 30_000 && ctl.abort() }),
    );
    const firstDone = first.catch((e) => e);
    await new Promise((r) => setTimeout(r, 5));
    const second = hubFile(parseHubRef('hf:o/m'), 'slow.bin', opts());
    expect(await firstDone).toMatchObject({ name: 'AbortError' });
    hub.throttle = null;
    expect((await bytesOf(await second)).equals(big)).toBe(true);
    expect(metas()[0]).toMatchObject({ complete: true });
  });

  it('keeps nothing of a file whose SHA-256 differs, or that changed on the Hub since the parts were stored', async () => {
    const w = hub.put('o/m', 'bad.bin', big);
    hub.modes.set(w, 'wrong-sha');
    await expect(hubFile(parseHubRef('hf:o/m'), 'bad.bin', opts())).rejects.toThrow(
      "bad.bin: the downloaded file does not match the Hub's SHA-256",
    );
    expect(stored()).toEqual([]);

    // Cut off, then the Hub has a new version (another ETag): the old parts go, all of it is fetched again.
    hub.modes.clear();
    hub.put('o/m', 'v.bin', big);
    hub.throttle = { chunk: 4096, delayMs: 20 };
    const ctl = new AbortController();
    await expect(
      hubFile(parseHubRef('hf:o/m'), 'v.bin', opts({ signal: ctl.signal, onProgress: (p) => p.received > 80_000 && ctl.abort() })),
    ).rejects.toThrow(/abort/i);
    hub.throttle = null;
    const changed = Buffer.from(big.map((b) => b ^ 1));
    hub.put('o/m', 'v.bin', changed);
    hub.log = [];
    expect((await bytesOf(await hubFile(parseHubRef('hf:o/m'), 'v.bin', opts()))).equals(changed)).toBe(true);
    // Every byte asked again (distinct ranges: a client may repeat a request on a reused connection).
    const distinct = [...new Set(hub.log.map((l) => l.range))].map((r) => /^bytes=(\d+)-(\d+)$/.exec(r!)!.slice(1).map(Number));
    expect(distinct.reduce((a, [s, e]) => a + e + 1 - s, 0)).toBe(big.length);
  });

  it('refuses a file that cannot fit, naming its size and the room left; asks for persistent storage for a large one', async () => {
    hub.put('o/m', 'w.bin', big);
    const tight = storageOf(150_000, true);
    await expect(hubFile(parseHubRef('hf:o/m'), 'w.bin', opts({ storage: tight }))).rejects.toThrow(
      'hf:o/m@main/w.bin is 200.0 kB, but this browser lets the page store only 150.0 kB more (0 B used of 150.0 kB)',
    );
    // Only the first range was asked (it told the size); nothing was written.
    expect(hub.log.filter((l) => l.path.endsWith('/w.bin'))).toHaveLength(1);
    expect(stored().filter((p) => /\/p\d+$/.test(p))).toEqual([]);
    expect(tight.asked).toEqual([]);

    // The store's own interface: a 200 MB file asks for persistence (granted here, refused there).
    const plan = () => [{ start: 0, end: 200e6 }];
    const info = { name: 'big.safetensors', size: 200e6, etag: 'e'.repeat(64), ranged: true };
    const granted = storageOf(1e12, true);
    const w = await new OpfsStore(root, granted).begin('https://hub/big', info, plan);
    expect(w.persisted).toBe(true);
    expect(granted.asked).toEqual(['persist']);
    const refused = await new OpfsStore(new MemoryDir(), storageOf(1e12, false)).begin('https://hub/big', info, plan);
    expect(refused.persisted).toBe(false);
    // A small file does not ask.
    expect((await new OpfsStore(new MemoryDir(), granted).begin('https://hub/s', { ...info, size: 1000 }, plan)).persisted).toBeUndefined();
    // And the page learns the answer through the download.
    const answers: boolean[] = [];
    const small = storageOf(1e12, true);
    await hubFile(parseHubRef('hf:o/m'), 'w.bin', opts({ storage: small, onPersist: (g) => answers.push(g) }));
    expect(answers).toEqual([]);
    expect((await hubStorage(opts({ storage: granted }))).persisted).toBe(true);
  });

  it('says so when the disk fills during a download, and keeps no broken file', async () => {
    hub.put('o/m', 'w.bin', big);
    root.failAfter = 50_000;
    await expect(hubFile(parseHubRef('hf:o/m'), 'w.bin', opts())).rejects.toThrow(
      "hf:o/m@main/w.bin: this browser's storage refused the file (the disk is full)",
    );
    expect(await hubCached(parseHubRef('hf:o/m'), 'w.bin', opts())).toBe(false);
    expect(metas().every((m) => !m.complete)).toBe(true);
  });

  it('remembers an absent optional file; keeps the token out of the store; reads, measures and clears the older Cache Storage', async () => {
    expect(await hubFile(parseHubRef('hf:o/m'), 'sparsity.safetensors', opts(), true)).toBeNull();
    expect(await hubFile(parseHubRef('hf:o/m'), 'sparsity.safetensors', opts(), true)).toBeNull();
    // (By path: a request of the test before, aborted in flight, may reach the server late.)
    expect(hub.log.filter((l) => l.path.endsWith('/sparsity.safetensors'))).toHaveLength(1);
    expect(await hubStorage(opts())).toMatchObject({ files: 0, bytes: 0 });

    const g = hub.put('gated/m', 'cfg.json', '{"a":1}');
    hub.modes.set(g, 'status-401');
    expect(await bytesOf(await hubFile(parseHubRef('hf:gated/m'), 'cfg.json', opts({ token: 'secret-token' })))).toEqual(
      Buffer.from('{"a":1}'),
    );
    for (const [p, f] of root.files()) expect(p + new TextDecoder().decode(f.data)).not.toContain('secret');

    // A file an earlier version kept in Cache Storage is used from there, offline.
    const older = new Map<string, Response>();
    const cacheUrl = `${hub.url}/o/m/resolve/main/old.json`;
    const caches = {
      open: async () => ({
        match: async (u: string | Request) => older.get(typeof u === 'string' ? u : u.url)?.clone(),
        put: async (u: string, r: Response) => void older.set(u, r),
        keys: async () => [...older.keys()].map((u) => new Request(u)),
      }),
      has: async () => older.size > 0,
      delete: async () => older.clear() === undefined,
    } as unknown as CacheStorage;
    older.set(cacheUrl, new Response('{"old":1}', { headers: { 'X-Unclamp-Size': '9' } }));
    hub.offline = true;
    expect(new TextDecoder().decode(await bytesOf(await hubFile(parseHubRef('hf:o/m'), 'old.json', opts({ caches }))))).toBe('{"old":1}');
    expect(await hubStorage(opts({ caches }))).toMatchObject({ kind: 'opfs', files: 2, bytes: 7 + 9 });
    await clearHubCache(opts({ caches }));
    expect(older.size).toBe(0);
    expect(root.entries.has(STORE_NAME)).toBe(false);
  });
});
