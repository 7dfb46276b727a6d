// Hub downloads on Node into a cache folder: a file is fetched into `<name>.part`, resumed with a Range request
// after a dropped connection, checked against the size the server announced (and against its SHA-256 when the
// ETag is one, as for the Hub's LFS files), and only then renamed into place with a small record beside it. A
// complete cached file is used without the network. The access token goes in a header, never in a path,
// message or result.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { DEFAULT_HUB_ENDPOINT, HubInputError, type HubRef, hubFileUrl, hubStatusMessage } from '../io/hub.ts';

export interface HubOptions {
  endpoint: string;
  cacheDir: string;
  token?: string;
  /** Attempts per file after the first (a dropped connection or a 5xx answer). */
  retries?: number;
  /** Wait before a retry, ms (doubles each time). */
  retryDelayMs?: number;
  onProgress?: (p: { file: string; received: number; total: number | null }) => void;
}

/** Flag defaults: --hub-endpoint / HF_ENDPOINT, --hub-token / HF_TOKEN, --cache-dir / UNCLAMP_CACHE. */
export function hubOptionsFrom(flags: { hubEndpoint?: string; hubToken?: string; cacheDir?: string }): HubOptions {
  return {
    endpoint: flags.hubEndpoint ?? process.env.HF_ENDPOINT ?? DEFAULT_HUB_ENDPOINT,
    token: flags.hubToken ?? process.env.HF_TOKEN ?? undefined,
    cacheDir: flags.cacheDir ?? process.env.UNCLAMP_CACHE ?? path.join(homedir(), '.cache', 'unclamp', 'hub'),
  };
}

interface CacheRecord {
  url: string;
  /** An optional file the Hub does not have: remembered, so an offline run does not ask again. */
  absent?: true;
  size?: number;
  etag?: string | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256Of = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The cache's path for a file of a reference: <cache>/<owner>/<name>/<revision>/<path>/<file>. */
export function cachePath(opts: HubOptions, ref: HubRef, file: string): string {
  return path.join(opts.cacheDir, ...ref.repo.split('/'), ref.revision, ...ref.path.split('/').filter(Boolean), file);
}

/**
 * The local path of one file of a Hub folder, downloaded unless the cache holds it whole. An optional file that
 * the Hub does not have gives null.
 */
export async function hubFile(ref: HubRef, file: string, opts: HubOptions, optional = false): Promise<string | null> {
  const target = cachePath(opts, ref, file);
  const record = `${target}.json`;
  if (existsSync(record)) {
    const r = JSON.parse(readFileSync(record, 'utf8')) as CacheRecord;
    if (r.absent && optional) return null;
    if (!r.absent && existsSync(target)) return target;
  }
  const what = `hf:${ref.repo}@${ref.revision}/${[ref.path, file].filter(Boolean).join('/')}`;
  const url = hubFileUrl(opts.endpoint, ref, file);
  const part = `${target}.part`;
  mkdirSync(path.dirname(target), { recursive: true });
  const retries = opts.retries ?? 4;
  let delay = opts.retryDelayMs ?? 500;
  let lastProblem = '';
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) {
      await sleep(delay);
      delay *= 2;
    }
    const have = existsSync(part) ? statSync(part).size : 0;
    const headers: Record<string, string> = {};
    if (have > 0) headers.Range = `bytes=${have}-`;
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    let res: Response;
    try {
      res = await fetch(url, { headers, redirect: 'follow' });
    } catch (e) {
      lastProblem = `cannot reach ${new URL(url).origin} (${(e as Error).cause ?? (e as Error).message})`;
      // An optional file is not worth waiting for when the Hub cannot be reached.
      if (optional) return null;
      continue;
    }
    if (res.status === 404 && optional) {
      writeFileSync(record, `${JSON.stringify({ url, absent: true } satisfies CacheRecord)}\n`);
      return null;
    }
    if (res.status === 416 && have > 0) {
      // The part file is at least as long as the file: start over.
      rmSync(part, { force: true });
      lastProblem = 'the partial download was longer than the file';
      continue;
    }
    if (!res.ok) {
      lastProblem = hubStatusMessage(res.status, what, Boolean(opts.token));
      if (res.status >= 500) continue;
      throw new HubInputError(lastProblem);
    }
    const resumed = res.status === 206;
    const start = resumed ? have : 0;
    const total = totalSize(res, start);
    const etag = (res.headers.get('x-linked-etag') ?? res.headers.get('etag'))?.replace(/^W\//, '').replace(/"/g, '') ?? null;
    const fh = await open(part, resumed ? 'a' : 'w');
    let received = start;
    try {
      if (res.body) {
        for await (const chunk of res.body) {
          await fh.write(chunk);
          received += chunk.length;
          opts.onProgress?.({ file, received, total });
        }
      }
    } catch (e) {
      lastProblem = `the connection dropped at ${received} of ${total ?? '?'} bytes (${(e as Error).message})`;
      continue;
    } finally {
      await fh.close();
    }
    if (total !== null && received !== total) {
      lastProblem = `the server sent ${received} of ${total} bytes`;
      if (received > total) rmSync(part, { force: true });
      continue;
    }
    if (etag && /^[0-9a-f]{64}$/.test(etag) && sha256Of(part) !== etag) {
      rmSync(part, { force: true });
      throw new HubInputError(`${what}: the downloaded file does not match the Hub's SHA-256 (${etag.slice(0, 12)}…); it was not kept`);
    }
    renameSync(part, target);
    writeFileSync(record, `${JSON.stringify({ url, size: received, etag } satisfies CacheRecord)}\n`);
    return target;
  }
  throw new HubInputError(`${what}: download failed after ${retries + 1} tries: ${lastProblem}`);
}

/** The whole file's size from Content-Range ("bytes a-b/total") or Content-Length (plus what a resume skipped). */
function totalSize(res: Response, start: number): number | null {
  const range = res.headers.get('content-range');
  const m = range ? /\/(\d+)$/.exec(range) : null;
  if (m) return Number(m[1]);
  const len = res.headers.get('content-length');
  return len !== null ? start + Number(len) : null;
}

/** A Hub folder's files into the cache; returns the local folder (every file of one folder lands in one place). */
export async function hubFolder(ref: HubRef, files: { required: string[]; optional?: string[] }, opts: HubOptions): Promise<string> {
  for (const f of files.required) await hubFile(ref, f, opts);
  for (const f of files.optional ?? []) await hubFile(ref, f, opts, true);
  return path.dirname(cachePath(opts, ref, files.required[0]));
}
