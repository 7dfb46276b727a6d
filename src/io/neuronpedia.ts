// Feature labels from Neuronpedia's API when online: GET {endpoint}/api/feature/{modelId}/{source}/{index} answers
// with the feature, its explanations (each with a `description`) among activations, logits and density. Neuronpedia
// rate-limits the API and asks for its export files (labels.ts reads them) for bulk data, so this asks only for the
// indices it is given — the few a person is looking at — a few at a time, and keeps every answer in IndexedDB so a
// reload does not ask again. The optional API key is sent in the x-api-key header only: never in a URL, a cache key,
// a message or an export. What is checked of the answer is only what a label needs (zod), so a change elsewhere in
// Neuronpedia's response does not break it, and an answer without that shape is named, not guessed at.
import { type IDBPDatabase, openDB } from 'idb';
import { z } from 'zod';
import { InputError } from '../core/errors.ts';
import { previewValue } from '../core/format.ts';
import { SAE_RELEASES } from './sae-releases.ts';
import { parseHubRef } from './hub.ts';

export class NeuronpediaInputError extends InputError {
  override name = 'NeuronpediaInputError';
}

export const DEFAULT_NEURONPEDIA_ENDPOINT = 'https://www.neuronpedia.org';

/** Where a feature lives on Neuronpedia: neuronpedia.org/{modelId}/{source}/{index}, e.g. gpt2-small/4-res-jb/123. */
export interface NeuronpediaSource {
  modelId: string;
  source: string;
}

// Neuronpedia's ids are URL path parts such as gpt2-small, 4-res-jb, 6-res_scefr-ajt, 20-gemmascope-res-16k.
const ID = /^[A-Za-z0-9][\w.-]{0,127}$/;

export function checkNeuronpediaSource(s: NeuronpediaSource): NeuronpediaSource {
  const modelId = s.modelId.trim();
  const source = s.source.trim();
  if (!ID.test(modelId))
    throw new NeuronpediaInputError(
      `Neuronpedia model id ${previewValue(modelId, 40)} is not one (letters, digits, "-", "_" or ".", e.g. gpt2-small)`,
    );
  if (!ID.test(source))
    throw new NeuronpediaInputError(
      `Neuronpedia source ${previewValue(source, 40)} is not one (letters, digits, "-", "_" or ".", e.g. 4-res-jb)`,
    );
  return { modelId, source };
}

/** The endpoint as requests use it (no trailing slash); a key or a query in it is refused: the key has its own field. */
export function normaliseNeuronpediaEndpoint(endpoint: string): string {
  let u: URL;
  try {
    u = new URL(endpoint.trim());
  } catch {
    throw new NeuronpediaInputError(
      `the Neuronpedia endpoint ${previewValue(endpoint, 60)} is not a URL (e.g. ${DEFAULT_NEURONPEDIA_ENDPOINT})`,
    );
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    throw new NeuronpediaInputError(`the Neuronpedia endpoint must be an http(s) URL (e.g. ${DEFAULT_NEURONPEDIA_ENDPOINT})`);
  if (u.username || u.password || u.search || u.hash)
    throw new NeuronpediaInputError(
      'the Neuronpedia endpoint may not hold a user, a query or a fragment: give an API key in the key field',
    );
  return u.href.replace(/\/+$/, '');
}

/**
 * The Neuronpedia (model, source) of a loaded SAE, from its name as the loader gives it (hf:repo[@revision]/folder),
 * when it is a release Neuronpedia hosts (sae-releases.ts); null otherwise (the person may type them).
 */
export function neuronpediaSourceOf(saeName: string): NeuronpediaSource | null {
  let ref: ReturnType<typeof parseHubRef>;
  try {
    ref = parseHubRef(saeName);
  } catch {
    return null;
  }
  // Another revision may hold other weights than the ones Neuronpedia's dashboards were made from.
  if (ref.revision !== 'main') return null;
  for (const r of SAE_RELEASES) {
    if (!r.neuronpedia || r.repo !== ref.repo) continue;
    for (const width of r.widths?.map((w) => w.name) ?? [undefined]) {
      const layer = r.layers.find((l) => r.folder(l, width) === ref.path);
      if (layer !== undefined) return r.neuronpedia(layer, width);
    }
  }
  return null;
}

export function neuronpediaFeatureUrl(endpoint: string, src: NeuronpediaSource, index: number): string {
  return `${endpoint}/api/feature/${encodeURIComponent(src.modelId)}/${encodeURIComponent(src.source)}/${index}`;
}

// The part of the documented answer a label needs. Explanations come best-scored first.
const featureSchema = z.object({
  index: z.union([z.string(), z.number()]).optional(),
  explanations: z
    .array(z.object({ description: z.string().nullish() }))
    .nullish()
    .transform((e) => e ?? []),
});

/** A label from a feature's explanations: the distinct descriptions, best first, joined as labels.ts joins an export's. */
function labelOf(feature: z.infer<typeof featureSchema>): string {
  const seen = new Set<string>();
  for (const e of feature.explanations) {
    const d = e.description?.trim();
    if (d) seen.add(d);
  }
  return [...seen].join('; ');
}

/** Labels by (endpoint, model, source, index). The key holds no API key. */
export interface LabelCache {
  get(keys: string[]): Promise<Map<string, string>>;
  put(key: string, label: string): Promise<void>;
}

export const labelCacheKey = (endpoint: string, src: NeuronpediaSource, index: number) =>
  `${endpoint} ${src.modelId}/${src.source}/${index}`;

let db: Promise<IDBPDatabase> | null = null;

/** The page's cache (its own IndexedDB database, apart from the runs'); null where there is no IndexedDB. */
export function indexedDbLabelCache(): LabelCache | null {
  if (typeof indexedDB === 'undefined') return null;
  const open = () => {
    db ??= openDB('unclamp-neuronpedia', 1, { upgrade: (d) => void d.createObjectStore('labels') });
    return db;
  };
  return {
    async get(keys) {
      const tx = (await open()).transaction('labels');
      const values = await Promise.all(keys.map((k) => tx.store.get(k) as Promise<string | undefined>));
      return new Map(keys.flatMap((k, i) => (typeof values[i] === 'string' ? [[k, values[i]] as const] : [])));
    },
    async put(key, label) {
      await (await open()).put('labels', label, key);
    },
  };
}

export interface NeuronpediaProgress {
  /** Features answered (from the cache or the API) of those asked for. */
  done: number;
  total: number;
}

export interface NeuronpediaOptions {
  endpoint: string;
  /** Sent as the x-api-key header, only. */
  key?: string;
  signal?: AbortSignal;
  /** Requests in flight at once. */
  concurrency?: number;
  /** Per request (each try). */
  timeoutMs?: number;
  /** Further tries after a 429, a 5xx, a timeout or a failed connection. */
  retries?: number;
  /** Backoff: retryDelayMs · 2^try, or the answer's Retry-After, at most maxDelayMs. */
  retryDelayMs?: number;
  maxDelayMs?: number;
  /** undefined: IndexedDB where there is one; null: no cache. */
  cache?: LabelCache | null;
  onProgress?: (p: NeuronpediaProgress) => void;
  /** Each label as it comes (so a cancel or a later failure keeps the ones that came). */
  onLabel?: (index: number, label: string) => void;
  fetch?: typeof fetch;
}

export interface NeuronpediaLabels {
  /** Index → label, for the features that have an explanation. */
  labels: Map<number, string>;
  /** Features Neuronpedia has but without an explanation. */
  unlabelled: number[];
  /** Features Neuronpedia does not have (404) while others of the same source were found. */
  notFound: number[];
  /** Answers from the cache, and requests made (one per feature not in the cache; retries not counted). */
  fromCache: number;
  requested: number;
}

const feature = (src: NeuronpediaSource, index: number) => `${src.modelId}/${src.source}/${index}`;

function statusError(status: number, what: string, hasKey: boolean, tries: number): NeuronpediaInputError {
  const after = tries > 1 ? `, after ${tries} tries` : '';
  if (status === 404)
    return new NeuronpediaInputError(
      `Neuronpedia has no feature ${what} (status 404): check the model id and the source (as in neuronpedia.org/{model}/{source}/{index})`,
    );
  if (status === 401 || status === 403)
    return new NeuronpediaInputError(
      hasKey
        ? `Neuronpedia refused the API key (status ${status}); check it at neuronpedia.org/account`
        : `Neuronpedia asks for an API key for ${what} (status ${status}): give one in the key field`,
    );
  if (status === 429)
    return new NeuronpediaInputError(
      `Neuronpedia is rate-limiting requests (status 429${after}); wait a while, or load a Neuronpedia export file (no rate limit)`,
    );
  return new NeuronpediaInputError(
    `Neuronpedia answered status ${status} for ${what}${after}; try again later, or load a Neuronpedia export file`,
  );
}

/** Retry-After in seconds (the form rate limiters send), or null. */
function retryAfterMs(res: Response): number | null {
  const v = res.headers.get('retry-after');
  return v && /^\d+(\.\d+)?$/.test(v.trim()) ? 1000 * Number(v) : null;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const done = () => {
      signal.removeEventListener('abort', stop);
      resolve();
    };
    const t = setTimeout(done, ms);
    const stop = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', stop, { once: true });
  });
}

/**
 * Labels for `indices` of one Neuronpedia source: from the cache, else one GET each, `concurrency` at a time. A 429, a
 * 5xx, a timeout or a failed connection is tried again with backoff; a refused key, a source Neuronpedia does not
 * have, an answer that is not a feature, or tries run out stop every request and throw (NeuronpediaInputError, in
 * words); a cancel (the signal) throws the signal's reason. Labels that came before either are kept (onLabel, cache).
 */
export async function fetchNeuronpediaLabels(
  src: NeuronpediaSource,
  indices: readonly number[],
  opts: NeuronpediaOptions,
): Promise<NeuronpediaLabels> {
  const endpoint = normaliseNeuronpediaEndpoint(opts.endpoint);
  const source = checkNeuronpediaSource(src);
  const wanted = [...new Set(indices)];
  for (const i of wanted)
    if (!Number.isSafeInteger(i) || i < 0) throw new NeuronpediaInputError(`${previewValue(i)} is not a feature index`);
  const key = opts.key?.trim() || undefined;
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const retries = Math.max(0, opts.retries ?? 3);
  const retryDelayMs = opts.retryDelayMs ?? 500;
  const maxDelayMs = opts.maxDelayMs ?? 10_000;
  const cache = opts.cache === undefined ? indexedDbLabelCache() : opts.cache;
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);

  const out: NeuronpediaLabels = { labels: new Map(), unlabelled: [], notFound: [], fromCache: 0, requested: 0 };
  const total = wanted.length;
  let done = 0;
  const answered = (index: number, label: string) => {
    if (label) {
      out.labels.set(index, label);
      opts.onLabel?.(index, label);
    } else out.unlabelled.push(index);
    done++;
    opts.onProgress?.({ done, total });
  };

  // A blocked or broken store costs only the cache: the labels still come from the API.
  const hits = cache
    ? await cache.get(wanted.map((i) => labelCacheKey(endpoint, source, i))).catch(() => new Map<string, string>())
    : new Map();
  const queue: number[] = [];
  for (const i of wanted) {
    const hit = hits.get(labelCacheKey(endpoint, source, i));
    if (hit === undefined) queue.push(i);
    else {
      out.fromCache++;
      answered(i, hit);
    }
  }
  opts.onProgress?.({ done, total });
  opts.signal?.throwIfAborted();

  // One controller for the batch: the caller's cancel and the first fatal error both stop every request in flight.
  const batch = new AbortController();
  const cancel = () => batch.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', cancel, { once: true });
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (key) headers['x-api-key'] = key;
  const toAsk = queue.length;
  let found = 0;

  /** The feature's label ('' without explanations), or null when Neuronpedia does not have it (404). */
  const ask = async (index: number): Promise<string | null> => {
    const what = feature(source, index);
    for (let attempt = 0; ; attempt++) {
      const tries = attempt + 1;
      const perTry = new AbortController();
      const stop = () => perTry.abort();
      batch.signal.addEventListener('abort', stop, { once: true });
      const timer = setTimeout(stop, timeoutMs);
      let res: Response;
      let text: string;
      try {
        // No cookies and no referrer: what Neuronpedia learns is the feature asked for (and the key, when given).
        res = await doFetch(neuronpediaFeatureUrl(endpoint, source, index), {
          headers,
          signal: perTry.signal,
          credentials: 'omit',
          referrerPolicy: 'no-referrer',
        });
        text = await res.text();
      } catch (e) {
        if (batch.signal.aborted) throw batch.signal.reason;
        if (attempt < retries) {
          await sleep(Math.min(maxDelayMs, retryDelayMs * 2 ** attempt), batch.signal);
          continue;
        }
        if (perTry.signal.aborted)
          throw new NeuronpediaInputError(
            `Neuronpedia did not answer for ${what} within ${timeoutMs / 1000} s (${tries} tries); try again later, or load a Neuronpedia export file`,
          );
        throw new NeuronpediaInputError(
          `offline: could not reach Neuronpedia at ${endpoint} (${(e as Error).message}; a network that is down, or a server that does not allow this page's origin); use a Neuronpedia export file instead`,
        );
      } finally {
        clearTimeout(timer);
        batch.signal.removeEventListener('abort', stop);
      }
      if ((res.status === 429 || res.status >= 500) && attempt < retries) {
        await sleep(Math.min(maxDelayMs, retryAfterMs(res) ?? retryDelayMs * 2 ** attempt), batch.signal);
        continue;
      }
      if (res.status === 404) return null;
      if (!res.ok) throw statusError(res.status, what, Boolean(key), tries);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new NeuronpediaInputError(
          `Neuronpedia's answer for ${what} is not JSON (${previewValue(text.slice(0, 60))}): check the endpoint (e.g. ${DEFAULT_NEURONPEDIA_ENDPOINT})`,
        );
      }
      // Older servers answered a missing feature with 200 and a null body.
      if (body === null) return null;
      const parsed = featureSchema.safeParse(body);
      if (!parsed.success || (parsed.data.index !== undefined && String(parsed.data.index) !== String(index)))
        throw new NeuronpediaInputError(
          `Neuronpedia's answer for ${what} is not a feature with explanations (${previewValue(body, 80)}): check the endpoint`,
        );
      return labelOf(parsed.data);
    }
  };

  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (queue.length && !failure) {
      const index = queue.shift()!;
      out.requested++;
      try {
        const label = await ask(index);
        if (label === null) {
          out.notFound.push(index);
          // A source Neuronpedia does not have answers 404 for every feature: stop once a first round found none.
          if (!found && out.notFound.length >= Math.min(concurrency, toAsk))
            throw statusError(404, feature(source, index), Boolean(key), 1);
          done++;
          opts.onProgress?.({ done, total });
          continue;
        }
        found++;
        answered(index, label);
        await cache?.put(labelCacheKey(endpoint, source, index), label).catch(() => undefined);
      } catch (error) {
        failure ??= { error };
        batch.abort(error);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
  } finally {
    opts.signal?.removeEventListener('abort', cancel);
  }
  opts.signal?.throwIfAborted();
  if (failure) throw (failure as { error: unknown }).error;
  return out;
}
