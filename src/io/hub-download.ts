// Hub downloads in the browser, into Cache Storage. The rules are the Node downloader's (src/cli/hub-cache.ts): a
// complete cached file is used without the network; a dropped connection resumes with a Range request from the
// byte it reached; the file is checked against the size the server announced and against its SHA-256 when the
// ETag is one (as for the Hub's LFS files), and only then stored — a bad file is never cached. On top of that a
// large file comes in parallel ranges, because one HTTP stream from a CDN is often far slower than the link.
// Only fetch, Cache Storage and crypto.subtle are used, so Node runs it too (the unit tests, with a stand-in cache).
// The access token goes in the Authorization header and nowhere else: not in a URL, a message or the cache.
import { HubInputError, type HubRef, hubFileUrl, hubStatusMessage } from './hub.ts';

/** Cache Storage's cache for Hub files, keyed by the resolve URL (so by endpoint, repository, revision and path). */
export const HUB_CACHE = 'unclamp-hub-v1';

/** Marks a cached answer that records an optional file the Hub does not have (an offline load does not ask again). */
const ABSENT_HEADER = 'X-Unclamp-Absent';
const SIZE_HEADER = 'X-Unclamp-Size';

export interface DownloadProgress {
  /** hf:owner/name@revision/path/file */
  file: string;
  received: number;
  total: number | null;
  /** Bytes per second over the last few seconds (0 before there is a measurement). */
  rate: number;
  /** Seconds left at that rate; null when the total or the rate is unknown. */
  secondsLeft: number | null;
  /** 'cache': served from Cache Storage without the network. */
  state: 'downloading' | 'done' | 'cache' | 'failed';
  /** Something the user should know about a finished file (e.g. that it could not be kept). */
  note?: string;
}

export interface HubDownloadOptions {
  endpoint: string;
  token?: string;
  /** Defaults to the global Cache Storage. */
  caches?: CacheStorage;
  fetch?: typeof fetch;
  /** Ranges in flight at once for a large file. */
  parallel?: number;
  /** The smallest range worth a request of its own; a file up to this size comes in one request. */
  minPartBytes?: number;
  /** Attempts per range after the first (a dropped connection, a short answer, a 5xx). */
  retries?: number;
  /** Wait before a retry, ms (doubles each time). */
  retryDelayMs?: number;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
}

const MiB = 2 ** 20;
/** Where the page takes a token (the CLI's own hint names its flag and variable). */
const TOKEN_HINT = 'enter a Hub access token in the settings';
const DEFAULTS = { parallel: 4, minPartBytes: 8 * MiB, retries: 4, retryDelayMs: 500 };
const PROGRESS_EVERY_MS = 100;
const RATE_WINDOW_MS = 3000;

export const hubFileName = (ref: HubRef, file: string) => `hf:${ref.repo}@${ref.revision}/${[ref.path, file].filter(Boolean).join('/')}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Cache Storage exists only in secure contexts (https, localhost): elsewhere files are downloaded but not kept. */
function storage(opts: Pick<HubDownloadOptions, 'caches'>): CacheStorage | null {
  return opts.caches ?? (globalThis as { caches?: CacheStorage }).caches ?? null;
}

/** Is this file (or the record that it is absent) in the cache? No network. */
export async function hubCached(ref: HubRef, file: string, opts: Pick<HubDownloadOptions, 'endpoint' | 'caches'>): Promise<boolean> {
  const c = storage(opts);
  if (!c) return false;
  return (await (await c.open(HUB_CACHE)).match(hubFileUrl(opts.endpoint, ref, file))) !== undefined;
}

/**
 * One file of a Hub folder: from the cache, else downloaded, checked and cached. An optional file the Hub does not
 * have (404), or that cannot be fetched because the Hub is unreachable, gives null.
 */
export async function hubDownload(ref: HubRef, file: string, opts: HubDownloadOptions, optional = false): Promise<Uint8Array | null> {
  const url = hubFileUrl(opts.endpoint, ref, file);
  const what = hubFileName(ref, file);
  const c = storage(opts);
  const cache = c ? await c.open(HUB_CACHE) : null;
  const hit = await cache?.match(url);
  if (hit) {
    if (hit.headers.get(ABSENT_HEADER)) return null;
    const bytes = new Uint8Array(await hit.arrayBuffer());
    opts.onProgress?.({ file: what, received: bytes.length, total: bytes.length, rate: 0, secondsLeft: 0, state: 'cache' });
    return bytes;
  }
  const job = new Download(url, what, opts);
  try {
    const bytes = await job.run();
    if (bytes === null) {
      if (!optional) throw new HubInputError(hubStatusMessage(404, what, Boolean(opts.token), TOKEN_HINT));
      await cache?.put(url, new Response(null, { headers: { [ABSENT_HEADER]: '1' } })).catch(() => undefined);
      return null;
    }
    let note: string | undefined;
    if (!cache) note = 'not kept: this page has no Cache Storage (it needs https or localhost)';
    else
      try {
        await cache.put(
          url,
          new Response(bytes as Uint8Array<ArrayBuffer>, {
            headers: { 'Content-Type': 'application/octet-stream', [SIZE_HEADER]: String(bytes.length) },
          }),
        );
      } catch (e) {
        // Storage full or blocked: the file is good, only not kept for next time.
        note = `not kept for next time: the browser refused to store it (${(e as Error).message})`;
      }
    job.report('done', note);
    return bytes;
  } catch (e) {
    if (optional && job.unreachable) return null;
    job.report('failed');
    throw e;
  }
}

/** What the cache holds: how many files and the sum of their bodies. */
export async function hubCacheSize(opts: Pick<HubDownloadOptions, 'caches'> = {}): Promise<{ files: number; bytes: number }> {
  const c = storage(opts);
  if (!c || !(await c.has(HUB_CACHE))) return { files: 0, bytes: 0 };
  const cache = await c.open(HUB_CACHE);
  let files = 0;
  let bytes = 0;
  for (const req of await cache.keys()) {
    const res = await cache.match(req);
    if (!res || res.headers.get(ABSENT_HEADER)) continue;
    files++;
    const size = res.headers.get(SIZE_HEADER);
    bytes += size !== null ? Number(size) : (await res.arrayBuffer()).byteLength;
  }
  return { files, bytes };
}

/** Delete every downloaded file. */
export async function clearHubCache(opts: Pick<HubDownloadOptions, 'caches'> = {}): Promise<void> {
  await storage(opts)?.delete(HUB_CACHE);
}

/** A retryable problem: the range is tried again from the byte it reached. */
class Retry extends Error {}

/** One file's download: its ranges, the bytes so far and the progress. */
class Download {
  private readonly o: Required<Pick<HubDownloadOptions, 'parallel' | 'minPartBytes' | 'retries' | 'retryDelayMs'>> & HubDownloadOptions;
  private out: Uint8Array = new Uint8Array(0);
  private total: number | null = null;
  private etag: string | null = null;
  private received = 0;
  private samples: [number, number][] = [];
  private lastReport = 0;
  /** Every attempt failed to reach the server at all. */
  unreachable = false;
  private readonly stop = new AbortController();
  private readonly signal: AbortSignal;

  constructor(
    private readonly url: string,
    private readonly what: string,
    opts: HubDownloadOptions,
  ) {
    this.o = { ...DEFAULTS, ...opts };
    this.signal = opts.signal ? AbortSignal.any([opts.signal, this.stop.signal]) : this.stop.signal;
  }

  /** The file's bytes, or null when the Hub does not have it. */
  async run(): Promise<Uint8Array | null> {
    // The first request asks for the first part only: its answer says whether the server takes ranges (206 and
    // Content-Range with the total) and how big the file is; the rest is then split among parallel requests.
    const first = await this.request(0, this.o.minPartBytes - 1);
    if (first === null) return null;
    if (first.status === 206 && this.total === null)
      throw new HubInputError(`${this.what}: the server answered a range without the file's size (Content-Range)`);
    if (first.status === 200) {
      // The server ignores Range: one stream for the whole file, resumed from where it stopped.
      await this.fetchRange(0, null, first.res);
    } else {
      const total = this.total!;
      const firstEnd = Math.min(this.o.minPartBytes, total);
      const rest = total - firstEnd;
      const size = Math.max(this.o.minPartBytes, Math.ceil(rest / (this.o.parallel * 4)));
      const queue: [number, number][] = [];
      for (let s = firstEnd; s < total; s += size) queue.push([s, Math.min(total, s + size) - 1]);
      const worker = async () => {
        for (let next = queue.shift(); next; next = queue.shift()) await this.fetchRange(next[0], next[1]);
      };
      try {
        await Promise.all([
          this.fetchRange(0, firstEnd - 1, first.res).then(worker),
          ...Array.from({ length: Math.min(this.o.parallel - 1, queue.length) }, worker),
        ]);
      } catch (e) {
        // One range failed for good: the others stop too.
        queue.length = 0;
        this.stop.abort();
        throw e;
      }
    }
    if (this.total !== null && this.received !== this.total)
      throw new HubInputError(`${this.what}: the server sent ${this.received} of ${this.total} bytes; nothing was kept`);
    const bytes = this.total === null ? this.out.subarray(0, this.received) : this.out;
    if (this.etag && /^[0-9a-f]{64}$/.test(this.etag)) {
      const sha = hex(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
      if (sha !== this.etag)
        throw new HubInputError(
          `${this.what}: the downloaded file does not match the Hub's SHA-256 (${this.etag.slice(0, 12)}…); it was not kept`,
        );
    }
    return bytes;
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

  /**
   * Bytes start..end (end null: to the end of the file) into `out`, resuming after a drop. `res` is an answer
   * already open for this range (the first request's).
   */
  private async fetchRange(start: number, end: number | null, res?: Response): Promise<void> {
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
          if (r === null) throw new HubInputError(`${this.what}: the file disappeared from the Hub during the download`);
          if (r.status === 200 && at.pos > 0) {
            // The server stopped honouring Range: only a single-stream download can start over.
            if (end !== null) throw new Retry('the server ignored the Range request');
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
        await this.read(res, at, end);
        if (end === null ? this.total === null || at.pos === this.total : at.pos === end + 1) return;
        problem = `the server sent ${this.received} of ${this.total ?? '?'} bytes`;
      } catch (e) {
        if (e instanceof HubInputError || (e as Error).name === 'AbortError') throw e;
        problem = `the connection dropped at ${this.received} of ${this.total ?? '?'} bytes (${(e as Error).message})`;
      }
      res = undefined;
    }
    throw new HubInputError(`${this.what}: download failed after ${this.o.retries + 1} tries: ${problem}`);
  }

  /** Stream a body into `out` from `at.pos`, advancing it. */
  private async read(res: Response, at: { pos: number }, end: number | null): Promise<void> {
    if (!res.body) return;
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        const { pos } = at;
        const limit = end === null ? Infinity : end + 1 - pos;
        const chunk = value.length > limit ? value.subarray(0, limit) : value;
        if (this.total === null && pos + chunk.length > this.out.length) {
          // Unknown size: grow geometrically.
          const grown = new Uint8Array(Math.max(pos + chunk.length, this.out.length * 2, MiB));
          grown.set(this.out.subarray(0, pos));
          this.out = grown;
        }
        if (this.total !== null && pos + chunk.length > this.total)
          throw new HubInputError(`${this.what}: the server sent more than the ${this.total} bytes it announced; nothing was kept`);
        this.out.set(chunk, pos);
        at.pos += chunk.length;
        this.received += chunk.length;
        this.report('downloading');
        if (chunk.length < value.length) return;
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
    if (this.etag !== null && etag !== null && etag !== this.etag)
      throw new HubInputError(`${this.what}: the file changed on the Hub during the download; try again`);
    this.etag ??= etag;
    const total = totalSize(res, status === 206 ? start : 0);
    if (this.total === null && total !== null) {
      this.total = total;
      this.out = new Uint8Array(total);
    } else if (total !== null && total !== this.total)
      throw new HubInputError(`${this.what}: the file changed size on the Hub during the download; try again`);
    return { res, status };
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

const hex = (buf: ArrayBuffer) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
