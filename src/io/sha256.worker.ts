// The SHA-256 of a download, off the page's thread (hub-download.ts's WorkerHash): hash-wasm's incremental hasher,
// fed with Blobs (parts of a file in the browser's storage, posted without their contents and read here in pieces)
// or bytes; its state can be saved and loaded, so that a download continued on a later visit goes on from there.
import { createSHA256 } from 'hash-wasm';

export type HashRequest = { id: number } & (
  | { op: 'load'; state: Uint8Array }
  | { op: 'update'; blob: Blob }
  | { op: 'save' }
  | { op: 'digest' }
);
export type HashReply = { id: number; ok: true; value?: Uint8Array | string } | { id: number; ok: false; message: string };

const PIECE = 4 * 2 ** 20;
const scope = self as unknown as { onmessage: (e: MessageEvent<HashRequest>) => void; postMessage(m: HashReply): void };
const ready = createSHA256().then((h) => h.init());
// One request at a time, in order (a Blob's pieces are read asynchronously).
let queue: Promise<void> = Promise.resolve();

async function handle(req: HashRequest): Promise<Uint8Array | string | undefined> {
  const h = await ready;
  switch (req.op) {
    case 'load':
      h.load(req.state);
      return undefined;
    case 'update':
      for (let at = 0; at < req.blob.size; at += PIECE) h.update(new Uint8Array(await req.blob.slice(at, at + PIECE).arrayBuffer()));
      return undefined;
    case 'save':
      return h.save();
    case 'digest':
      return h.digest('hex');
  }
}

scope.onmessage = (e) => {
  const req = e.data;
  queue = queue.then(async () => {
    try {
      scope.postMessage({ id: req.id, ok: true, value: await handle(req) });
    } catch (err) {
      scope.postMessage({ id: req.id, ok: false, message: (err as Error).message });
    }
  });
};
