// Where the page keeps the files it downloads from the Hub (hub-download.ts decides what to fetch; this module
// only stores). Three stores behind one interface, chosen by what the page has:
//
// - OpfsStore, the origin-private file system (navigator.storage.getDirectory()): a large file streams to disk as
//   it arrives and is read back as a Blob of disk-backed Files, at disk speed and sliceable, never held in memory
//   whole by the store. What a download had finished survives a closed tab and is continued on the next visit.
// - CacheStore, Cache Storage (a browser without OPFS): the file is assembled in memory and stored whole at the
//   end, as before; a browser that refuses to keep it still gives it (with a note).
// - NoStore (a page without a secure context, where neither exists): in memory, kept nowhere.
//
// OPFS layout: a folder `unclamp-hub-v1` with, per file (keyed by its URL; the folder's name is a hash of it), a
// folder holding `meta.json` and one file per downloaded part, `p<start>`. Parts rather than one file written
// at offsets: on the main thread a file is written through createWritable(), whose writes go to a swap file that
// replaces the file only on close(), and reopening it to continue copies it whole (keepExistingData). Each part
// is closed — kept — as soon as it is complete, so nothing is copied, and a download cut off by a closed tab
// resumes from its complete parts. The parts read back are one Blob (`new Blob(files)` references the files, it
// does not copy them). Sync access handles would write in place, but only in a worker.
//
// `meta.json` records the file's URL, size, ETag, the part plan, the parts complete, how far the SHA-256 got
// (hash-wasm's saved state, so a resumed download does not hash its first parts again) and whether the file is
// complete — it is marked complete only after the downloader has checked its size and SHA-256.
import { z } from 'zod';
import { InputError } from '../core/errors.ts';

/** The OPFS folder, and the Cache Storage cache, of downloaded Hub files. */
export const STORE_NAME = 'unclamp-hub-v1';

/** Bytes start..end of a file (end exclusive; null: to the end of a file whose size is unknown). */
export interface Part {
  start: number;
  end: number | null;
}

/** A stored entry: a complete file, or the record that an optional file does not exist on the Hub. */
export type StoredFile = { absent: true } | { absent: false; body: Blob | Uint8Array; size: number };

export interface FileStore {
  /** 'opfs': the origin-private file system; 'cache': Cache Storage; 'none': nothing is kept. */
  readonly kind: 'opfs' | 'cache' | 'none';
  /** The complete file (or the absent record) under `key`, without the network; null when there is none. */
  get(key: string): Promise<StoredFile | null>;
  has(key: string): Promise<boolean>;
  /** Remember that an optional file does not exist (an offline load does not ask again). */
  markAbsent(key: string): Promise<void>;
  /**
   * Start writing the file under `key`, or continue an unfinished download of the same file (same size and
   * ETag, ranged): `plan` is asked for the parts only when nothing is continued. May refuse with an InputError
   * (no room for the file).
   */
  begin(key: string, file: FileInfo, plan: () => Part[]): Promise<FileWrite>;
  /** Complete files and their bytes; bytes of unfinished downloads kept for later. */
  usage(): Promise<{ files: number; bytes: number; unfinished: number }>;
  clear(): Promise<void>;
}

export interface FileInfo {
  /** How messages name the file (hf:owner/name@revision/path). */
  name: string;
  size: number | null;
  etag: string | null;
  /** The server answers Range requests (else: one stream, never continued on another visit). */
  ranged: boolean;
}

export interface FileWrite {
  /** The parts to download, in order. */
  readonly plan: Part[];
  /** Parts already stored by an earlier download of the same file (continued), in order. */
  readonly done: { start: number; end: number }[];
  /** How far the SHA-256 of the stored prefix got, with the hasher's saved state (continued downloads). */
  readonly hash: { at: number; state: Uint8Array } | null;
  /** Persistent storage asked for this (large) file: whether the browser granted it; undefined: not asked. */
  readonly persisted?: boolean;
  /** Open one part of the plan for writing (bytes at offsets from the part's start). */
  part(p: Part): Promise<PartWrite>;
  /**
   * Bytes from..to (offsets in the file) of a part that is complete, for the hash: a Blob over the stored part (read
   * by whoever hashes it, in pieces) or, for a file assembled in memory, a view of its bytes.
   */
  read(p: { start: number; end: number }, from: number, to: number): Promise<Blob | Uint8Array>;
  /** Record the hash's progress (at: bytes hashed; state: the hasher's saved state). */
  saveHash(at: number, state: Uint8Array): Promise<void>;
  /** Every part is stored and the file checked: mark it complete; its body, and a note for the user if any. */
  commit(size: number): Promise<{ body: Blob | Uint8Array; note?: string }>;
  /** Give up (open parts already aborted): keep the complete parts to continue later, or remove everything. */
  discard(keepParts: boolean): Promise<void>;
}

export interface PartWrite {
  write(offset: number, bytes: Uint8Array): Promise<void>;
  /** The part is complete at `length` bytes: keep it. */
  close(length: number): Promise<{ start: number; end: number }>;
  abort(): Promise<void>;
}

// --- The File System API, as far as OpfsStore uses it (the in-memory stand-in of the tests implements the same) ---

export interface StoreDir {
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<StoreDir>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<StoreFileHandle>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
  keys(): AsyncIterable<string>;
}

export interface StoreFileHandle {
  /** A snapshot of the file (a disk-backed File in browsers). */
  getFile(): Promise<Blob>;
  /** A writer on a swap copy that starts empty and replaces the file on close() (abort() discards it). */
  createWritable(): Promise<StoreWritable>;
}

export interface StoreWritable {
  write(chunk: { type: 'write'; position: number; data: Uint8Array<ArrayBuffer> } | { type: 'truncate'; size: number }): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** navigator.storage, as far as the store uses it. */
export interface StorageLike {
  estimate(): Promise<{ quota?: number; usage?: number }>;
  persist?(): Promise<boolean>;
  persisted?(): Promise<boolean>;
}

/** A file at least this large asks for persistent storage (navigator.storage.persist()) before it is written. */
export const PERSIST_FROM_BYTES = 100e6;
/** Writes to OPFS go in pieces of up to this much (network chunks are ~64 kB; each write is a round trip). */
const STAGE_BYTES = 4 * 2 ** 20;

/** "548.1 MB": the page's way of writing sizes (DownloadProgress.tsx's formatBytes). */
export const formatSize = (n: number) =>
  n < 1e3 ? `${n} B` : n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : n < 1e9 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e9).toFixed(2)} GB`;

const isNotFound = (e: unknown) => (e as DOMException)?.name === 'NotFoundError' || (e as DOMException)?.name === 'TypeMismatchError';
const bytesOf = (parts: { start: number; end: number }[]) => parts.reduce((a, p) => a + p.end - p.start, 0);
const partName = (p: Part) => `p${p.start}`;

const partSchema = z.object({ start: z.number().int().min(0), end: z.number().int().min(0).nullable() });
const donePartSchema = z.object({ start: z.number().int().min(0), end: z.number().int().min(0) });
const metaSchema = z.object({
  v: z.literal(1),
  url: z.string(),
  absent: z.boolean().default(false),
  size: z.number().int().min(0).nullable().default(null),
  etag: z.string().nullable().default(null),
  ranged: z.boolean().default(false),
  complete: z.boolean().default(false),
  plan: z.array(partSchema).default([]),
  done: z.array(donePartSchema).default([]),
  hash: z
    .object({ at: z.number().int().min(0), state: z.string() })
    .nullable()
    .default(null),
});
type Meta = z.infer<typeof metaSchema>;

const toBase64 = (b: Uint8Array) => {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
};
const fromBase64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** The store's folder name for a URL: a hash (names are short and have no slashes), the URL itself is in meta.json. */
async function entryName(key: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key)));
  return `f-${Array.from(d.subarray(0, 20), (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** Ask for persistent storage (once granted, the browser does not evict the files under storage pressure). */
async function askPersist(storage: StorageLike | null): Promise<boolean | undefined> {
  if (!storage?.persist) return undefined;
  try {
    if (await storage.persisted?.()) return true;
    return await storage.persist();
  } catch {
    return false;
  }
}

/** The origin-private file system. */
export class OpfsStore implements FileStore {
  readonly kind = 'opfs';

  constructor(
    private readonly root: StoreDir,
    private readonly storage: StorageLike | null = null,
  ) {}

  private async folder(create: boolean): Promise<StoreDir | null> {
    try {
      return await this.root.getDirectoryHandle(STORE_NAME, { create });
    } catch (e) {
      if (!create && isNotFound(e)) return null;
      throw e;
    }
  }

  private async entry(key: string, create: boolean): Promise<StoreDir | null> {
    const dir = await this.folder(create);
    if (!dir) return null;
    try {
      return await dir.getDirectoryHandle(await entryName(key), { create });
    } catch (e) {
      if (!create && isNotFound(e)) return null;
      throw e;
    }
  }

  private async meta(entry: StoreDir): Promise<Meta | null> {
    try {
      const text = await (await (await entry.getFileHandle('meta.json')).getFile()).text();
      const r = metaSchema.safeParse(JSON.parse(text));
      return r.success ? r.data : null;
    } catch {
      return null; // missing or unreadable: as if there were nothing
    }
  }

  async get(key: string): Promise<StoredFile | null> {
    const entry = await this.entry(key, false);
    const meta = entry && (await this.meta(entry));
    if (!entry || !meta || meta.url !== key) return null;
    if (meta.absent) return { absent: true };
    if (!meta.complete || meta.size === null) return null;
    try {
      const files = await Promise.all(meta.done.map(async (p) => (await entry.getFileHandle(partName(p))).getFile()));
      if (files.reduce((a, f) => a + f.size, 0) !== meta.size) return null;
      // One part: the File itself; several: one Blob over them (no copy).
      return { absent: false, body: files.length === 1 ? files[0] : new Blob(files), size: meta.size };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async has(key: string): Promise<boolean> {
    return (await this.get(key)) !== null;
  }

  async markAbsent(key: string): Promise<void> {
    const entry = (await this.entry(key, true))!;
    await writeMeta(entry, metaSchema.parse({ v: 1, url: key, absent: true }));
  }

  async begin(key: string, file: FileInfo, plan: () => Part[]): Promise<FileWrite> {
    const folder = (await this.folder(true))!;
    const name = await entryName(key);
    let entry = await folder.getDirectoryHandle(name, { create: true });
    const old = await this.meta(entry);
    const continued =
      old &&
      old.url === key &&
      !old.absent &&
      !old.complete &&
      old.ranged &&
      file.ranged &&
      file.etag !== null &&
      old.etag === file.etag &&
      old.size === file.size;
    let meta: Meta;
    if (continued) {
      // Keep the parts whose files are there, whole.
      const done: Meta['done'] = [];
      for (const p of old.done) {
        const f = await entry
          .getFileHandle(partName(p))
          .then((h) => h.getFile())
          .catch(() => null);
        if (f?.size === p.end - p.start) done.push(p);
      }
      const prefix = contiguousPrefix(done);
      meta = { ...old, done, hash: old.hash && old.hash.at <= prefix ? old.hash : null };
    } else {
      // Anything else under this key (an older version, a broken download) goes.
      await folder.removeEntry(name, { recursive: true }).catch(() => undefined);
      entry = await folder.getDirectoryHandle(name, { create: true });
      meta = metaSchema.parse({ v: 1, url: key, size: file.size, etag: file.etag, ranged: file.ranged, plan: plan() });
    }
    await this.checkRoom(file, bytesOf(meta.done));
    const persisted = file.size !== null && file.size >= PERSIST_FROM_BYTES ? await askPersist(this.storage) : undefined;
    await writeMeta(entry, meta);
    return new OpfsWrite(entry, meta, folder, name, persisted);
  }

  /** Refuse a file that cannot fit before anything is written: its size and the room left, in words. */
  private async checkRoom(file: FileInfo, stored: number): Promise<void> {
    if (file.size === null || !this.storage) return;
    let est: { quota?: number; usage?: number };
    try {
      est = await this.storage.estimate();
    } catch {
      return;
    }
    if (est.quota === undefined || est.usage === undefined) return;
    const needed = file.size - stored;
    const room = Math.max(0, est.quota - est.usage);
    if (needed > room)
      throw new InputError(
        `${file.name} is ${formatSize(file.size)}${stored ? ` (${formatSize(needed)} of it still to download)` : ''}, but this browser lets the page store only ${formatSize(room)} more (${formatSize(est.usage)} used of ${formatSize(est.quota)}): free disk space or clear the downloaded files, or give the files from disk (“Local files”)`,
      );
  }

  async usage(): Promise<{ files: number; bytes: number; unfinished: number }> {
    const out = { files: 0, bytes: 0, unfinished: 0 };
    const folder = await this.folder(false);
    if (!folder) return out;
    for await (const name of folder.keys()) {
      const entry = await folder.getDirectoryHandle(name).catch(() => null);
      const meta = entry && (await this.meta(entry));
      if (!meta || meta.absent) continue;
      if (meta.complete) {
        out.files++;
        out.bytes += meta.size ?? 0;
      } else out.unfinished += bytesOf(meta.done);
    }
    return out;
  }

  async clear(): Promise<void> {
    await this.root.removeEntry(STORE_NAME, { recursive: true }).catch((e) => {
      if (!isNotFound(e)) throw e;
    });
  }
}

async function writeMeta(entry: StoreDir, meta: Meta): Promise<void> {
  const w = await (await entry.getFileHandle('meta.json', { create: true })).createWritable();
  try {
    await w.write({ type: 'write', position: 0, data: new TextEncoder().encode(JSON.stringify(meta)) });
    await w.close();
  } catch (e) {
    await w.abort().catch(() => undefined);
    throw e;
  }
}

/** End of the run of parts from byte 0 with no gap. */
function contiguousPrefix(done: { start: number; end: number }[]): number {
  let at = 0;
  for (const p of [...done].sort((a, b) => a.start - b.start)) {
    if (p.start !== at) break;
    at = p.end;
  }
  return at;
}

class OpfsWrite implements FileWrite {
  readonly plan: Part[];
  readonly done: { start: number; end: number }[];
  readonly hash: { at: number; state: Uint8Array } | null;
  /** meta.json is rewritten one change at a time. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly entry: StoreDir,
    private readonly meta: Meta,
    private readonly folder: StoreDir,
    private readonly name: string,
    readonly persisted: boolean | undefined,
  ) {
    this.plan = meta.plan;
    this.done = [...meta.done].sort((a, b) => a.start - b.start);
    this.hash = meta.hash ? { at: meta.hash.at, state: fromBase64(meta.hash.state) } : null;
  }

  private update(change: (m: Meta) => void): Promise<void> {
    const next = this.chain.then(() => {
      change(this.meta);
      return writeMeta(this.entry, this.meta);
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  async part(p: Part): Promise<PartWrite> {
    const w = await (await this.entry.getFileHandle(partName(p), { create: true })).createWritable();
    return new OpfsPart(w, p.start, (done) => this.update((m) => void m.done.push(done)));
  }

  async read(p: { start: number; end: number }, from: number, to: number): Promise<Blob> {
    const f = await (await this.entry.getFileHandle(partName(p))).getFile();
    return f.slice(from - p.start, to - p.start);
  }

  saveHash(at: number, state: Uint8Array): Promise<void> {
    return this.update((m) => {
      m.hash = { at, state: toBase64(state) };
    });
  }

  async commit(size: number): Promise<{ body: Blob | Uint8Array }> {
    await this.chain;
    if (contiguousPrefix(this.meta.done) !== size) throw new Error(`the stored parts do not make up the file's ${size} bytes`);
    await this.update((m) => {
      m.done.sort((a, b) => a.start - b.start);
      m.size = size;
      m.complete = true;
      m.hash = null;
    });
    const files = await Promise.all(this.meta.done.map(async (p) => (await this.entry.getFileHandle(partName(p))).getFile()));
    return { body: files.length === 1 ? files[0] : new Blob(files) };
  }

  async discard(keepParts: boolean): Promise<void> {
    await this.chain;
    if (keepParts && this.meta.ranged && this.meta.etag !== null && this.meta.done.length) return;
    await this.folder.removeEntry(this.name, { recursive: true }).catch(() => undefined);
  }
}

/** One part's writer: network chunks gathered into pieces of STAGE_BYTES, each written at its offset. */
class OpfsPart implements PartWrite {
  private stage: Uint8Array<ArrayBuffer> | null = null;
  private staged = 0;
  private stageAt = 0;

  constructor(
    private readonly w: StoreWritable,
    private readonly start: number,
    private readonly onDone: (p: { start: number; end: number }) => Promise<void>,
  ) {}

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (this.staged && offset !== this.stageAt + this.staged) await this.flush();
    if (!this.staged) this.stageAt = offset;
    for (let i = 0; i < bytes.length; ) {
      this.stage ??= new Uint8Array(STAGE_BYTES);
      const n = Math.min(bytes.length - i, STAGE_BYTES - this.staged);
      this.stage.set(bytes.subarray(i, i + n), this.staged);
      this.staged += n;
      i += n;
      if (this.staged === STAGE_BYTES) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    if (!this.staged) return;
    // The write has copied the bytes when it resolves, so the stage is reused.
    await this.w.write({ type: 'write', position: this.stageAt, data: this.stage!.subarray(0, this.staged) });
    this.stageAt += this.staged;
    this.staged = 0;
  }

  async close(length: number): Promise<{ start: number; end: number }> {
    await this.flush();
    await this.w.write({ type: 'truncate', size: length });
    await this.w.close();
    this.stage = null;
    const done = { start: this.start, end: this.start + length };
    await this.onDone(done);
    return done;
  }

  async abort(): Promise<void> {
    this.stage = null;
    await this.w.abort().catch(() => undefined);
  }
}

// --- Memory: the file assembled in one buffer (Cache Storage's way, and a page that keeps nothing) ---

/** Cache Storage's record of an optional file the Hub does not have. */
const ABSENT_HEADER = 'X-Unclamp-Absent';
const SIZE_HEADER = 'X-Unclamp-Size';

class MemoryWrite implements FileWrite {
  readonly done = [];
  readonly hash = null;
  private out: Uint8Array;

  constructor(
    readonly plan: Part[],
    size: number | null,
    private readonly keep: (bytes: Uint8Array) => Promise<string | undefined>,
  ) {
    this.out = new Uint8Array(size ?? 0);
  }

  async part(p: Part): Promise<PartWrite> {
    return {
      write: async (offset, bytes) => {
        const pos = p.start + offset;
        if (pos + bytes.length > this.out.length) {
          // Unknown size: grow geometrically.
          const grown = new Uint8Array(Math.max(pos + bytes.length, this.out.length * 2, 2 ** 20));
          grown.set(this.out.subarray(0, pos));
          this.out = grown;
        }
        this.out.set(bytes, pos);
      },
      close: async (length) => ({ start: p.start, end: p.start + length }),
      abort: async () => undefined,
    };
  }

  async read(_p: { start: number; end: number }, from: number, to: number): Promise<Uint8Array> {
    return this.out.subarray(from, to);
  }

  async saveHash(): Promise<void> {}

  async commit(size: number): Promise<{ body: Uint8Array; note?: string }> {
    const body = size === this.out.length ? this.out : this.out.subarray(0, size);
    return { body, note: await this.keep(body) };
  }

  async discard(): Promise<void> {
    this.out = new Uint8Array(0);
  }
}

/** Cache Storage: a file is stored whole once complete (a browser without OPFS). */
export class CacheStore implements FileStore {
  readonly kind = 'cache';

  constructor(private readonly caches: CacheStorage) {}

  private open(): Promise<Cache> {
    return this.caches.open(STORE_NAME);
  }

  async get(key: string): Promise<StoredFile | null> {
    // has() first: open() would create the cache (this store is also read where OPFS took over from it).
    if (!(await this.caches.has(STORE_NAME))) return null;
    const hit = await (await this.open()).match(key);
    if (!hit) return null;
    if (hit.headers.get(ABSENT_HEADER)) return { absent: true };
    const body = await hit.blob();
    return { absent: false, body, size: body.size };
  }

  async has(key: string): Promise<boolean> {
    return (await this.caches.has(STORE_NAME)) && (await (await this.open()).match(key)) !== undefined;
  }

  async markAbsent(key: string): Promise<void> {
    await (await this.open()).put(key, new Response(null, { headers: { [ABSENT_HEADER]: '1' } })).catch(() => undefined);
  }

  async begin(key: string, file: FileInfo, plan: () => Part[]): Promise<FileWrite> {
    const cache = await this.open();
    return new MemoryWrite(plan(), file.size, async (bytes) => {
      try {
        await cache.put(
          key,
          new Response(bytes as Uint8Array<ArrayBuffer>, {
            headers: { 'Content-Type': 'application/octet-stream', [SIZE_HEADER]: String(bytes.length) },
          }),
        );
        return undefined;
      } catch (e) {
        // Storage full or blocked: the file is good, only not kept for next time.
        return `not kept for next time: the browser refused to store it (${(e as Error).message})`;
      }
    });
  }

  async usage(): Promise<{ files: number; bytes: number; unfinished: number }> {
    const out = { files: 0, bytes: 0, unfinished: 0 };
    if (!(await this.caches.has(STORE_NAME))) return out;
    const cache = await this.open();
    for (const req of await cache.keys()) {
      const res = await cache.match(req);
      if (!res || res.headers.get(ABSENT_HEADER)) continue;
      out.files++;
      const size = res.headers.get(SIZE_HEADER);
      out.bytes += size !== null ? Number(size) : (await res.arrayBuffer()).byteLength;
    }
    return out;
  }

  async clear(): Promise<void> {
    await this.caches.delete(STORE_NAME);
  }
}

/** A page with no storage (no secure context): files are downloaded every time. */
export class NoStore implements FileStore {
  readonly kind = 'none';
  async get(): Promise<null> {
    return null;
  }
  async has(): Promise<boolean> {
    return false;
  }
  async markAbsent(): Promise<void> {}
  async begin(_key: string, file: FileInfo, plan: () => Part[]): Promise<FileWrite> {
    return new MemoryWrite(plan(), file.size, async () => 'not kept: this page has no storage for downloads (it needs https or localhost)');
  }
  async usage() {
    return { files: 0, bytes: 0, unfinished: 0 };
  }
  async clear(): Promise<void> {}
}

/** The page's OPFS root, or null where there is none (no secure context, an old browser, Node, a refusal). */
let pageRoot: Promise<StoreDir | null> | null = null;
export function pageDirectory(): Promise<StoreDir | null> {
  pageRoot ??= (async () => {
    const storage = (globalThis as { navigator?: { storage?: { getDirectory?: () => Promise<unknown> } } }).navigator?.storage;
    if (typeof storage?.getDirectory !== 'function') return null;
    try {
      return (await storage.getDirectory()) as StoreDir;
    } catch {
      return null; // e.g. a private window that refuses it
    }
  })();
  return pageRoot;
}

export function pageStorage(): StorageLike | null {
  const s = (globalThis as { navigator?: { storage?: StorageLike } }).navigator?.storage;
  return s && typeof s.estimate === 'function' ? s : null;
}
