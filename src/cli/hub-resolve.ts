// An SAE reference made concrete on Node, remembered in the download cache: an hf: folder ending in
// average_l0_closest_N is resolved once through the Hub's listing (src/io/sae-ref.ts: the paper's closest-L0 rule) and
// the answer is kept as a record beside the files, <cache>/<owner>/<name>/<revision>/<folder>/average_l0_closest_N.json
// (as hub-cache.ts keeps a record beside each file), so a rerun — offline too — uses the same folder without asking.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HubInputError, type HubRef } from '../io/hub.ts';
import { hubTreeUrl } from '../io/hub-tree.ts';
import { type ClosestL0Choice, parseClosestL0, resolveSaeRef } from '../io/sae-ref.ts';
import { cachePath, type HubOptions } from './hub-cache.ts';

interface ResolutionRecord {
  /** The listing the choice came from. */
  url: string;
  choice: ClosestL0Choice;
}

/** Where the resolution of a closest-L0 reference is kept. */
export const resolutionRecordPath = (opts: HubOptions, ref: HubRef) => `${cachePath(opts, ref, '')}.json`;

function readRecord(file: string, folder: string): ClosestL0Choice | null {
  if (!existsSync(file)) return null;
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as ResolutionRecord;
    const c = r.choice;
    // A record that does not name a folder under the one listed is ignored (and replaced), never followed.
    const ok =
      typeof c?.path === 'string' &&
      c.path.startsWith(`${folder}/`) &&
      !c.path.split('/').includes('..') &&
      Number.isFinite(c.averageL0) &&
      Array.isArray(c.candidates);
    return ok ? c : null;
  } catch {
    return null;
  }
}

/**
 * The concrete folder of an SAE reference: a closest-L0 one from the cache's record, else from the Hub's listing (then
 * recorded); any other reference as it is. `cached` says the answer came from the record.
 */
export async function resolveHubSaeRef(ref: HubRef, opts: HubOptions): Promise<{ ref: HubRef; choice?: ClosestL0Choice; cached: boolean }> {
  const want = parseClosestL0(ref.path);
  if (!want) return { ref, cached: false };
  const record = resolutionRecordPath(opts, ref);
  const known = readRecord(record, want.folder);
  if (known) return { ref: { ...ref, path: known.path }, choice: known, cached: true };
  let resolved: Awaited<ReturnType<typeof resolveSaeRef>>;
  try {
    resolved = await resolveSaeRef(ref, { endpoint: opts.endpoint, token: opts.token });
  } catch (e) {
    if (e instanceof HubInputError && /cannot reach/.test(e.message)) {
      throw new HubInputError(
        `${e.message}; average_l0_closest_${want.target} is resolved by listing ${want.folder} on the Hub once, and no earlier answer is in the cache (${opts.cacheDir})`,
      );
    }
    throw e;
  }
  mkdirSync(path.dirname(record), { recursive: true });
  const url = hubTreeUrl(opts.endpoint, { ...ref, path: want.folder }, true);
  writeFileSync(record, `${JSON.stringify({ url, choice: resolved.choice! } satisfies ResolutionRecord, null, 2)}\n`);
  return { ...resolved, cached: false };
}
