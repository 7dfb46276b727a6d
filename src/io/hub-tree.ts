// A Hub repository folder's listing, through the Hub API: GET {endpoint}/api/models/{repo}/tree/{revision}[/{path}]
// answers a JSON array of {type: 'file' | 'directory', path, size, oid, lfs?}: the entries directly under the path,
// or (recursive=true) everything below it. Long listings come in pages, the next one named by a Link header
// (rel="next"), which is followed. Only fetch is used (injectable), so this runs in Node, the page and its worker.
// The access token goes in the Authorization header and nowhere else: not in a URL, a message or an entry.
//
//   listHubTree(ref: HubRef, opts: HubTreeOptions): Promise<HubTreeEntry[]>
//   hubTreeUrl(endpoint: string, ref: HubRef, recursive?: boolean): string
import { z } from 'zod';
import { HubInputError, type HubRef, hubStatusMessage } from './hub.ts';

export interface HubTreeEntry {
  type: 'file' | 'directory';
  /** From the repository's root, e.g. layer_11/width_65k/average_l0_70/params.npz. */
  path: string;
  size?: number;
  oid?: string;
  /** Present for a file stored with Git LFS: its SHA-256 and size. */
  lfs?: { oid: string; size: number };
}

export interface HubTreeOptions {
  endpoint: string;
  token?: string;
  /** Everything below the path, not only the entries directly under it. */
  recursive?: boolean;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** How a missing token is asked for (the CLI names its flag and variable, the page its settings). */
  tokenHint?: string;
  /** At most this many pages are followed (a server that links pages in a circle must not keep us forever). */
  maxPages?: number;
}

const entrySchema = z.looseObject({
  type: z.string(),
  path: z.string(),
  size: z.number().optional(),
  oid: z.string().optional(),
  lfs: z.looseObject({ oid: z.string(), size: z.number() }).nullish(),
});

const encPath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

/** The listing's URL (the first page). */
export function hubTreeUrl(endpoint: string, ref: HubRef, recursive = false): string {
  const base = `${endpoint.replace(/\/+$/, '')}/api/models/${ref.repo}/tree/${encodeURIComponent(ref.revision)}`;
  return `${base}${ref.path ? `/${encPath(ref.path)}` : ''}${recursive ? '?recursive=true' : ''}`;
}

/** hf:owner/name@revision/path, for messages. */
const refName = (ref: HubRef) => `hf:${ref.repo}@${ref.revision}${ref.path ? `/${ref.path}` : ''}`;

/** The next page's URL from a Link header (`<url>; rel="next"`), resolved against the page's own URL. */
function nextLink(link: string | null, base: string): string | null {
  if (!link) return null;
  for (const part of link.split(',')) {
    const m = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (m && /\brel\s*=\s*"?next"?/i.test(m[2])) return new URL(m[1], base).href;
  }
  return null;
}

/**
 * The entries of a Hub folder (directories and files), in the order the Hub gives them. A folder or repository that
 * does not exist, one that needs a token, and an answer that is not a listing are HubInputErrors that say which.
 */
export async function listHubTree(ref: HubRef, opts: HubTreeOptions): Promise<HubTreeEntry[]> {
  const doFetch = opts.fetch ?? globalThis.fetch;
  const what = `the listing of ${refName(ref)}`;
  const first = hubTreeUrl(opts.endpoint, ref, opts.recursive);
  const origin = new URL(first).origin;
  const out: HubTreeEntry[] = [];
  const maxPages = opts.maxPages ?? 1000;
  let url: string | null = first;
  for (let page = 0; url; page++) {
    if (page >= maxPages) throw new HubInputError(`${what}: the Hub's answer ran past ${maxPages} pages; stopped`);
    const headers: Record<string, string> = { Accept: 'application/json' };
    // A next page elsewhere (a redirect to another host) gets no token: it is for the endpoint only.
    if (opts.token && new URL(url).origin === origin) headers.Authorization = `Bearer ${opts.token}`;
    let res: Response;
    try {
      res = await doFetch(url, { headers, signal: opts.signal });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      const cause = (e as Error).cause as Error | undefined;
      throw new HubInputError(`${what}: cannot reach ${origin} (${cause?.message ?? (e as Error).message})`);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new HubInputError(hubStatusMessage(res.status, what, Boolean(opts.token), opts.tokenHint));
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      const seen = text.slice(0, 60).replace(/\s+/g, ' ');
      throw new HubInputError(
        `${what}: the answer is not JSON (it begins "${seen}"); is ${opts.endpoint} the Hugging Face Hub or a mirror with its API?`,
      );
    }
    if (!Array.isArray(body)) {
      throw new HubInputError(`${what}: the answer is JSON but not a list of entries; is ${opts.endpoint} the Hub's API?`);
    }
    for (const raw of body) {
      const p = entrySchema.safeParse(raw);
      if (!p.success || (p.data.type !== 'file' && p.data.type !== 'directory')) {
        throw new HubInputError(`${what}: entry ${out.length + 1} is not a file or directory entry (type, path)`);
      }
      const { type, path, size, oid, lfs } = p.data;
      out.push({
        type: type as HubTreeEntry['type'],
        path,
        ...(size !== undefined && { size }),
        ...(oid !== undefined && { oid }),
        ...(lfs && { lfs: { oid: lfs.oid, size: lfs.size } }),
      });
    }
    url = nextLink(res.headers.get('link'), url);
  }
  return out;
}
