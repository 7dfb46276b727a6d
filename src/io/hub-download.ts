// Hub downloads in the browser. The rules are the Node downloader's (src/cli/hub-cache.ts): a complete stored file
// is used without the network; a dropped connection resumes with a Range request from the byte it reached; the file
// is checked against the size the server announced and against its SHA-256 when the ETag is one (as for the Hub's
// LFS files), and only then marked complete — a bad file is never kept. On top of that a large file comes in
// parallel ranges, because one HTTP stream from a CDN is often far slower than the link.
//
// Where the bytes go is file-store.ts: in a page with the origin-private file system (OPFS) each range is written
// to disk as it arrives (the file is never held in memory whole); the SHA-256 follows the download over the parts
// already on disk, in order, in a worker that reads them back (sha256.worker.ts; hash-wasm, incremental, with a
// state that can be saved, so a download continued on a later visit does not hash its first parts again —
// crypto.subtle cannot hash a stream); the browser is asked for the room first (navigator.storage.estimate(): a
// file that cannot fit is refused in words) and, for a large file, for persistent storage; the stored file comes
// back as a Blob (disk-backed Files, sliceable) rather than bytes.
// Without OPFS (an old browser, Node) the file is assembled in memory and kept in Cache Storage, as before; without
// either (no secure context) it is used and not kept. Node runs all of it (the unit tests, with stand-ins).
// The access token goes in the Authorization header and nowhere else: not in a URL, a message or the store.
import { createSHA256, type IHasher } from 'hash-wasm';
import {
  CacheStore,
  type FileStore,
  type FileWrite,
  NoStore,
  OpfsStore,
  type Part,
  type PartWrite,
  pageDirectory,
  pageStorage,
  STORE_NAME,
  type StorageLike,
  type StoreDir,
} from './file-store.ts';
import { InputError } from '../core/errors.ts';
import { HubInputError, type HubRef, hubFileUrl, hubStatusMessage } from './hub.ts';
import type { HashReply, HashRequest } from './sha256.worker.ts';

/** The store's name: Cache Storage's cache, and OPFS's folder, for Hub files (keyed by the resolve URL). */
export const HUB_CACHE = STORE_NAME;

/** A stored or downloaded file: a Blob (OPFS, Cache Storage; read it, or slices of it, when needed) or bytes in memory. */
export type HubBody = Blob | Uint8Array;

export interface DownloadProgress {
  /** hf:owner/name@revision/path/file */
  file: string;
  received: number;
  total: number | null;
  /** Bytes per second over the last few seconds (0 before there is a measurement). */
  rate: number;
  /** Seconds left at that rate; null when the total or the rate is unknown. */
  secondsLeft: number | null;
  /** 'cache': served from this browser's storage without the network. */
  state: 'downloading' | 'done' | 'cache' | 'failed';
  /** Something the user should know about a finished file (e.g. that it could not be kept). */
  note?: string;
}

export interface HubDownloadOptions {
  endpoint: string;
  token?: string;
  /** Defaults to the global Cache Storage (used where there is no OPFS; otherwise only read, measured and cleared). */
  caches?: CacheStorage;
  /** The origin-private file system's root; defaults to the page's (navigator.storage.getDirectory()); null: none. */
  directory?: StoreDir | null;
  /** The quota and persistence of the page's storage (navigator.storage); null: not asked. */
  storage?: StorageLike | null;
  fetch?: typeof fetch;
  /** Ranges in flight at once for a large file. */
  parallel?: number;
  /** The smallest range worth a request of its own; a file up to this size comes in one request. */
  minPartBytes?: number;
  /** The largest range: a download cut off (a closed tab) continues from its complete ranges on the next visit. */
  maxPartBytes?: number;
  /** Attempts per range after the first (a dropped connection, a short answer, a 5xx). */
  retries?: number;
  /** Wait before a retry, ms (doubles each time). */
  retryDelayMs?: number;
  onProgress?: (p: DownloadProgress) => void;
  /** Persistent storage was asked for a large file: whether the browser granted it. */
  onPersist?: (granted: boolean) => void;
  signal?: AbortSignal;
}

type StoreOptions = Pick<HubDownloadOptions, 'caches' | 'directory' | 'storage'>;

const MiB = 2 ** 20;
/** Where the page takes a token (the CLI's own hint names its flag and variable). */
const TOKEN_HINT = 'enter a Hub access token in the settings';
const DEFAULTS = { parallel: 4, minPartBytes: 8 * MiB, maxPartBytes: 64 * MiB, retries: 4, retryDelayMs: 500 };
const PROGRESS_EVERY_MS = 100;
const RATE_WINDOW_MS = 3000;
/** A hash in this thread reads stored parts back in pieces of this size (each a short task). */
const HASH_PIECE = 2 * MiB;

export const hubFileName = (ref: HubRef, file: string) => `hf:${ref.repo}@${ref.revision}/${[ref.path, file].filter(Boolean).join('/')}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Where files go (OPFS where the page has it, else Cache Storage, else nowhere), and the store earlier versions
 * used (Cache Storage), whose files are still used, measured and cleared.
 */
async function stores(opts: StoreOptions): Promise<{ main: FileStore; older: FileStore | null }> {
  const caches = opts.caches ?? (globalThis as { caches?: CacheStorage }).caches ?? null;
  const dir = opts.directory !== undefined ? opts.directory : await pageDirectory();
  if (dir)
    return {
      main: new OpfsStore(dir, opts.storage !== undefined ? opts.storage : pageStorage()),
      older: caches ? new CacheStore(caches) : null,
    };
  return { main: caches ? new CacheStore(caches) : new NoStore(), older: null };
}

/** Is this file (or the record that it is absent) stored? No network. */
export async function hubCached(ref: HubRef, file: string, opts: Pick<HubDownloadOptions, 'endpoint'> & StoreOptions): Promise<boolean> {
  const url = hubFileUrl(opts.endpoint, ref, file);
  const { main, older } = await stores(opts);
  return (await main.has(url)) || ((await older?.has(url).catch(() => false)) ?? false);
}

/** One download per file at a time: a new one waits until a cancelled one has put its parts away. */
const jobs = new Map<string, Promise<unknown>>();
async function oneAtATime<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const run = (jobs.get(key) ?? Promise.resolve()).then(fn);
  const settled = run.catch(() => undefined);
  jobs.set(key, settled);
  try {
    return await run;
  } finally {
    if (jobs.get(key) === settled) jobs.delete(key);
  }
}

/**
 * One file of a Hub folder: from this browser's storage, else downloaded, checked and stored. An optional file the
 * Hub does not have (404), or that cannot be fetched because the Hub is unreachable, gives null. A stored file comes
 * as a Blob (read it, or slices of it, when needed); a file that could not be stored as bytes.
 */
export async function hubFile(ref: HubRef, file: string, opts: HubDownloadOptions, optional = false): Promise<HubBody | null> {
  const url = hubFileUrl(opts.endpoint, ref, file);
  const what = hubFileName(ref, file);
  const { main, older } = await stores(opts);
  return oneAtATime(url, async () => {
    const hit = (await main.get(url).catch(() => null)) ?? (await older?.get(url).catch(() => null)) ?? null;
    if (hit) {
      if (hit.absent) return null;
      opts.onProgress?.({ file: what, received: hit.size, total: hit.size, rate: 0, secondsLeft: 0, state: 'cache' });
      return hit.body;
    }
    const job = new Download(url, what, opts, main);
    try {
      const got = await job.run();
      if (got === null) {
        if (!optional) throw new HubInputError(hubStatusMessage(404, what, Boolean(opts.token), TOKEN_HINT));
        await main.markAbsent(url).catch(() => undefined);
        return null;
      }
      job.report('done', got.note);
      return got.body;
    } catch (e) {
      if (optional && job.unreachable) return null;
      job.report('failed');
      throw e;
    }
  });
}

/** hubFile's file as bytes in memory. */
export async function hubDownload(ref: HubRef, file: string, opts: HubDownloadOptions, optional = false): Promise<Uint8Array | null> {
  const body = await hubFile(ref, file, opts, optional);
  return body === null || body instanceof Uint8Array ? body : new Uint8Array(await body.arrayBuffer());
}

/** What the store holds: how many complete files and the sum of their sizes. */
export async function hubCacheSize(opts: StoreOptions = {}): Promise<{ files: number; bytes: number }> {
  const { files, bytes } = await hubStorage(opts);
  return { files, bytes };
}

export interface HubStorageState {
  /** Where downloads go: 'opfs' (the origin-private file system), 'cache' (Cache Storage), 'none' (not kept). */
  kind: FileStore['kind'];
  files: number;
  bytes: number;
  /** Bytes of unfinished downloads kept to be continued. */
  unfinished: number;
  /** Whether the browser keeps this site's storage under storage pressure (null: cannot tell). */
  persisted: boolean | null;
}

export async function hubStorage(opts: StoreOptions = {}): Promise<HubStorageState> {
  const { main, older } = await stores(opts);
  const [a, b] = await Promise.all([main.usage(), older?.usage().catch(() => null) ?? null]);
  const storage = opts.storage !== undefined ? opts.storage : pageStorage();
  const persisted = main.kind === 'none' ? null : await (storage?.persisted?.() ?? Promise.resolve(null)).catch(() => null);
  return {
    kind: main.kind,
    files: a.files + (b?.files ?? 0),
    bytes: a.bytes + (b?.bytes ?? 0),
    unfinished: a.unfinished,
    persisted,
  };
}

/** Delete every downloaded file (and unfinished download). */
export async function clearHubCache(opts: StoreOptions = {}): Promise<void> {
  const { main, older } = await stores(opts);
  await Promise.all([main.clear(), older?.clear()]);
}

/** A retryable problem: the range is tried again from the byte it reached. */
class Retry extends Error {}

/** One file's download: its ranges, the bytes so far and the progress. */
class Download {
  private readonly o: typeof DEFAULTS & HubDownloadOptions;
  private total: number | null = null;
  private etag: string | null = null;
  private received = 0;
  private samples: [number, number][] = [];
  private lastReport = 0;
  private write: FileWrite | null = null;
  private hasher: PrefixHasher | null = null;
  /** A failure that makes what was stored worthless (a wrong size or hash, a file that changed): nothing is kept. */
  private bad = false;
  /** The server answers Range requests (else the file comes in one stream). */
  private ranged = false;
  /** Every attempt failed to reach the server at all. */
  unreachable = false;
  private readonly stop = new AbortController();
  private readonly signal: AbortSignal;

  constructor(
    private readonly url: string,
    private readonly what: string,
    opts: HubDownloadOptions,
    private readonly store: FileStore,
  ) {
    this.o = { ...DEFAULTS, ...opts };
    this.signal = opts.signal ? AbortSignal.any([opts.signal, this.stop.signal]) : this.stop.signal;
  }

  private invalid(message: string): HubInputError {
    this.bad = true;
    return new HubInputError(message);
  }

  /** The parts of a file (the first is the first request's range). */
  private plan(ranged: boolean): Part[] {
    const total = this.total;
    if (!ranged || total === null) return [{ start: 0, end: total }];
    const firstEnd = Math.min(this.o.minPartBytes, total);
    const rest = total - firstEnd;
    const size = Math.min(this.o.maxPartBytes, Math.max(this.o.minPartBytes, Math.ceil(rest / (this.o.parallel * 4))));
    const parts: Part[] = [{ start: 0, end: firstEnd }];
    for (let s = firstEnd; s < total; s += size) parts.push({ start: s, end: Math.min(total, s + size) });
    return parts;
  }

  /** The file, stored and checked, or null when the Hub does not have it. */
  async run(): Promise<{ body: HubBody; note?: string } | null> {
    // The first request asks for the first part only: its answer says whether the server takes ranges (206 and
    // Content-Range with the total) and how big the file is; the rest is then split among parallel requests.
    const first = await this.request(0, this.o.minPartBytes - 1);
    if (first === null) return null;
    const cancelFirst = () => first.res.body?.cancel().catch(() => undefined);
    if (first.status === 206 && this.total === null) {
      await cancelFirst();
      throw new HubInputError(`${this.what}: the server answered a range without the file's size (Content-Range)`);
    }
    const ranged = first.status === 206;
    this.ranged = ranged;
    let write: FileWrite;
    try {
      write = await this.store.begin(this.url, { name: this.what, size: this.total, etag: this.etag, ranged }, () => this.plan(ranged));
    } catch (e) {
      await cancelFirst();
      if (e instanceof InputError) throw e; // no room for it, said in words
      throw new HubInputError(`${this.what}: this browser's storage refused the file (${(e as Error).message})`);
    }
    this.write = write;
    if (write.persisted !== undefined) this.o.onPersist?.(write.persisted);
    // A download continued from an earlier visit starts from the parts it had.
    this.received = write.done.reduce((a, p) => a + p.end - p.start, 0);
    try {
      if (this.etag && /^[0-9a-f]{64}$/.test(this.etag)) this.hasher = await PrefixHasher.start(write, this.store.kind === 'opfs');
      const stored = new Set(write.done.map((p) => p.start));
      const queue = write.plan.filter((p) => !stored.has(p.start));
      // The first answer serves the first part if that is still to do.
      const head =
        queue[0]?.start === 0 && (!ranged || queue[0].end === Math.min(this.o.minPartBytes, this.total!)) ? queue.shift()! : null;
      if (!head) await cancelFirst();
      let failure: unknown = null;
      const worker = async (opening?: Part) => {
        try {
          if (opening) await this.fetchPart(opening, first.res);
          for (let next = queue.shift(); next && failure === null; next = queue.shift()) await this.fetchPart(next);
        } catch (e) {
          // One range failed for good: the others stop too.
          failure ??= e;
          queue.length = 0;
          this.stop.abort();
        }
      };
      const others = ranged ? Math.max(0, Math.min(this.o.parallel - 1, queue.length)) : 0;
      await Promise.all([worker(head ?? undefined), ...Array.from({ length: others }, () => worker())]);
      if (failure !== null) throw failure;
      if (this.total !== null && this.received !== this.total)
        throw this.invalid(`${this.what}: the server sent ${this.received} of ${this.total} bytes; nothing was kept`);
      const size = this.total ?? this.received;
      if (this.hasher) {
        const sha = await this.hasher.finish(size);
        if (sha !== this.etag)
          throw this.invalid(
            `${this.what}: the downloaded file does not match the Hub's SHA-256 (${this.etag!.slice(0, 12)}…); it was not kept`,
          );
      }
      return await write.commit(size);
    } catch (e) {
      await this.hasher?.halt();
      // Complete parts of a download that was cut off (a cancel, a network that stayed down) are kept to be continued.
      await write.discard(!this.bad).catch(() => undefined);
      throw e;
    }
  }

  report(state: DownloadProgress['state'], note?: string): void {
    const now = performance.now();
    if (state === 'downloading' && now - this.lastReport < PROGRESS_EVERY_MS) return;
    this.lastReport = now;
    this.samples.push([now, this.received]);
    while (this.samples.length > 2 && now - this.samples[0][0] > RATE_WINDOW_MS) this.samples.shift();
    const [t0, r0] = this.samples[0];
    const rate = now > t0 ? ((this.received - r0) * 1000) / (now - t0) : 0;
    const left = this.total !== null ? this.total - this.received : null;
    this.o.onProgress?.({
      file: this.what,
      received: this.received,
      total: this.total,
      rate,
      secondsLeft: state === 'done' ? 0 : left !== null && rate > 0 ? left / rate : null,
      state,
      note,
    });
  }

  /** One part of the plan into the store, resuming after a drop; `res` is an answer already open for it. */
  private async fetchPart(p: Part, res?: Response): Promise<void> {
    let w: PartWrite;
    try {
      w = await this.write!.part(p);
    } catch (e) {
      await res?.body?.cancel().catch(() => undefined);
      throw new HubInputError(`${this.what}: this browser's storage refused the file (${(e as Error).message})`);
    }
    let closed = false;
    try {
      // A server that ignores Range sends one stream, to the end of the file.
      const end = await this.fetchRange(w, p.start, this.ranged && p.end !== null ? p.end - 1 : null, res);
      let done: { start: number; end: number };
      try {
        done = await w.close(end - p.start);
      } catch (e) {
        throw new HubInputError(`${this.what}: this browser's storage refused the file (${(e as Error).message})`);
      }
      closed = true;
      this.hasher?.add(done);
    } finally {
      if (!closed) await w.abort();
    }
  }

  /**
   * Bytes start..end (end null: to the end of the file) into the part's writer, resuming after a drop. `res` is an
   * answer already open for this range (the first request's). Returns the position reached (the range's end + 1).
   */
  private async fetchRange(w: PartWrite, start: number, end: number | null, res?: Response): Promise<number> {
    // The position reached, kept when a read fails half way.
    const at = { pos: start };
    let delay = this.o.retryDelayMs;
    let problem = '';
    for (let attempt = 0; attempt <= this.o.retries; attempt++) {
      if (!res) {
        if (attempt > 0) {
          await sleep(delay);
          delay *= 2;
        }
        try {
          const r = await this.request(at.pos, end);
          if (r === null) throw this.invalid(`${this.what}: the file disappeared from the Hub during the download`);
          if (r.status === 200 && at.pos > 0) {
            // The server stopped honouring Range: only a single-stream download can start over.
            if (end !== null) {
              await r.res.body?.cancel().catch(() => undefined);
              throw new Retry('the server ignored the Range request');
            }
            this.received -= at.pos;
            at.pos = 0;
          }
          res = r.res;
        } catch (e) {
          if (!(e instanceof Retry)) throw e;
          problem = e.message;
          continue;
        }
      }
      try {
        await this.read(w, start, res, at, end);
        if (end === null ? this.total === null || at.pos === this.total : at.pos === end + 1) return at.pos;
        problem = `the server sent ${this.received} of ${this.total ?? '?'} bytes`;
      } catch (e) {
        if (e instanceof HubInputError || (e as Error).name === 'AbortError') throw e;
        problem = `the connection dropped at ${this.received} of ${this.total ?? '?'} bytes (${(e as Error).message})`;
      }
      res = undefined;
    }
    throw new HubInputError(`${this.what}: download failed after ${this.o.retries + 1} tries: ${problem}`);
  }

  /** Stream a body into the part's writer from `at.pos`, advancing it. */
  private async read(w: PartWrite, start: number, res: Response, at: { pos: number }, end: number | null): Promise<void> {
    if (!res.body) return;
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        const { pos } = at;
        const limit = end === null ? Infinity : end + 1 - pos;
        const chunk = value.length > limit ? value.subarray(0, limit) : value;
        if (this.total !== null && pos + chunk.length > this.total)
          throw this.invalid(`${this.what}: the server sent more than the ${this.total} bytes it announced; nothing was kept`);
        try {
          await w.write(pos - start, chunk);
        } catch (e) {
          throw new HubInputError(`${this.what}: this browser's storage refused the file (${(e as Error).message})`);
        }
        at.pos += chunk.length;
        this.received += chunk.length;
        this.report('downloading');
        // Every byte asked for is in: stop here rather than wait for the end of the body (an abort arriving in
        // between can leave that wait hanging in some fetch implementations).
        if (at.pos === (end === null ? this.total : end + 1)) {
          void reader.cancel().catch(() => undefined);
          return;
        }
      }
    } finally {
      reader.releaseLock();
    }
  }

  /**
   * GET bytes start..end (end null: open-ended). Null for a 404; a HubInputError for an answer that a retry will
   * not change (401, 403, 404 mid-download, …); a Retry for the network or a 5xx.
   */
  private async request(start: number, end: number | null): Promise<{ res: Response; status: 200 | 206 } | null> {
    const headers: Record<string, string> = { Range: `bytes=${start}-${end ?? ''}` };
    if (this.o.token) headers.Authorization = `Bearer ${this.o.token}`;
    let res: Response;
    let delay = this.o.retryDelayMs;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await (this.o.fetch ?? fetch)(this.url, { headers, redirect: 'follow', signal: this.signal });
        this.unreachable = false;
        if (res.status < 500 || attempt >= this.o.retries) break;
        await res.body?.cancel();
      } catch (e) {
        if ((e as Error).name === 'AbortError') throw e;
        this.unreachable = this.received === 0;
        if (attempt >= this.o.retries)
          throw new HubInputError(`${this.what}: cannot reach ${new URL(this.url).origin} (${(e as Error).message})`);
      }
      await sleep(delay);
      delay *= 2;
    }
    if (res.status === 404) return null;
    if (res.status === 416) throw new Retry('the server refused the range');
    if (!res.ok) throw new HubInputError(hubStatusMessage(res.status, this.what, Boolean(this.o.token), TOKEN_HINT));
    const status = res.status === 206 ? 206 : 200;
    const etag = (res.headers.get('x-linked-etag') ?? res.headers.get('etag'))?.replace(/^W\//, '').replace(/"/g, '') ?? null;
    if (this.etag !== null && etag !== null && etag !== this.etag) {
      await res.body?.cancel().catch(() => undefined);
      throw this.invalid(`${this.what}: the file changed on the Hub during the download; try again`);
    }
    this.etag ??= etag;
    const total = totalSize(res, status === 206 ? start : 0);
    if (this.total === null && total !== null) this.total = total;
    else if (total !== null && total !== this.total) {
      await res.body?.cancel().catch(() => undefined);
      throw this.invalid(`${this.what}: the file changed size on the Hub during the download; try again`);
    }
    return { res, status };
  }
}

/** An incremental SHA-256 whose state can be saved and loaded. */
interface StreamHash {
  load(state: Uint8Array): Promise<void>;
  /** Bytes, or a Blob (a stored part) that the hash reads itself. */
  update(piece: Uint8Array | Blob): Promise<void>;
  save(): Promise<Uint8Array>;
  digest(): Promise<string>;
  close(): void;
}

/** hash-wasm in this thread (Node, a file assembled in memory, or a page where the worker does not start). */
class ThreadHash implements StreamHash {
  private constructor(private readonly h: IHasher) {}
  static async create(): Promise<ThreadHash> {
    return new ThreadHash((await createSHA256()).init());
  }
  async load(state: Uint8Array): Promise<void> {
    this.h.load(state);
  }
  async update(piece: Uint8Array | Blob): Promise<void> {
    if (piece instanceof Uint8Array) {
      for (let at = 0; at < piece.length; at += HASH_PIECE) this.h.update(piece.subarray(at, at + HASH_PIECE));
      return;
    }
    for (let at = 0; at < piece.size; at += HASH_PIECE) this.h.update(new Uint8Array(await piece.slice(at, at + HASH_PIECE).arrayBuffer()));
  }
  async save(): Promise<Uint8Array> {
    return this.h.save();
  }
  async digest(): Promise<string> {
    return this.h.digest('hex');
  }
  close(): void {}
}

/**
 * hash-wasm in a worker (sha256.worker.ts), for files in the browser's storage: the page's thread only fetches and
 * writes, the worker reads each stored part back (a Blob is posted without its contents) and hashes it, on another
 * core where there is one. Null where workers cannot start (Node; a page that refuses it).
 */
class WorkerHash implements StreamHash {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly worker: Worker) {
    worker.addEventListener('message', (e: MessageEvent<HashReply>) => {
      const p = this.pending.get(e.data.id);
      this.pending.delete(e.data.id);
      if (e.data.ok) p?.resolve(e.data.value);
      else p?.reject(new Error(e.data.message));
    });
    worker.addEventListener('error', (e) => {
      for (const p of this.pending.values()) p.reject(new Error(`the hash worker failed (${e.message || 'it did not start'})`));
      this.pending.clear();
    });
  }

  static async create(): Promise<WorkerHash | null> {
    if (typeof Worker !== 'function') return null;
    let w: Worker | null = null;
    try {
      w = new Worker(new URL('./sha256.worker.ts', import.meta.url), { type: 'module', name: 'unclamp-sha256' });
      const h = new WorkerHash(w);
      await h.save(); // it answers: it started
      return h;
    } catch {
      w?.terminate();
      return null;
    }
  }

  private call(req: DistributiveOmit<HashRequest, 'id'>): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id });
    });
  }

  async load(state: Uint8Array): Promise<void> {
    await this.call({ op: 'load', state });
  }
  async update(piece: Uint8Array | Blob): Promise<void> {
    await this.call({ op: 'update', blob: piece instanceof Blob ? piece : new Blob([piece as Uint8Array<ArrayBuffer>]) });
  }
  async save(): Promise<Uint8Array> {
    return (await this.call({ op: 'save' })) as Uint8Array;
  }
  async digest(): Promise<string> {
    return (await this.call({ op: 'digest' })) as string;
  }
  close(): void {
    this.worker.terminate();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * The SHA-256 of a file whose parts arrive out of order: it follows the download, hashing each part once every part
 * before it is in, read back from the store (so no part waits in memory), and saves its state after each part.
 */
class PrefixHasher {
  private ready: { start: number; end: number }[] = [];
  private running: Promise<void> = Promise.resolve();
  private error: unknown = null;
  private halted = false;

  private constructor(
    private readonly h: StreamHash,
    private readonly write: FileWrite,
    private at: number,
  ) {}

  /** `stored`: the parts are in the browser's storage, read back by a worker where one starts. */
  static async start(write: FileWrite, stored: boolean): Promise<PrefixHasher> {
    const make = async () => (stored ? await WorkerHash.create() : null) ?? (await ThreadHash.create());
    let h = await make();
    let at = 0;
    if (write.hash)
      try {
        await h.load(write.hash.state);
        at = write.hash.at;
      } catch {
        // A state from another build of hash-wasm: hash from the start.
        h.close();
        h = await make();
      }
    const ph = new PrefixHasher(h, write, at);
    for (const p of write.done) if (p.end > at) ph.add(p);
    return ph;
  }

  add(p: { start: number; end: number }): void {
    this.ready.push(p);
    this.running = this.running
      .then(() => this.pump())
      .catch((e) => {
        this.error ??= e;
      });
  }

  private async pump(): Promise<void> {
    for (;;) {
      const i = this.ready.findIndex((p) => p.start <= this.at && p.end > this.at);
      if (i < 0 || this.halted) return;
      const [p] = this.ready.splice(i, 1);
      await this.h.update(await this.write.read(p, this.at, p.end));
      this.at = p.end;
      await this.write.saveHash(this.at, await this.h.save());
    }
  }

  /** The hex digest once the whole file (`size` bytes) is hashed. */
  async finish(size: number): Promise<string> {
    await this.running;
    try {
      if (this.error) throw this.error;
      if (this.at !== size) throw new Error(`the SHA-256 covered ${this.at} of ${size} bytes`);
      return await this.h.digest();
    } finally {
      this.h.close();
    }
  }

  /** Stop after the part in hand (the download failed). */
  async halt(): Promise<void> {
    this.halted = true;
    await this.running;
    this.h.close();
  }
}

/** The whole file's size from Content-Range ("bytes a-b/total") or Content-Length (plus what a resume skipped). */
function totalSize(res: Response, start: number): number | null {
  const range = res.headers.get('content-range');
  const m = range ? /\/(\d+)$/.exec(range) : null;
  if (m) return Number(m[1]);
  const len = res.headers.get('content-length');
  return len !== null && res.status === 200 ? start + Number(len) : null;
}
