// The engine worker: owns TensorFlow.js and the session; the page only renders what it sends.
import { selectBackend, gpuDevice } from './browser-backend.ts';
import { DeviceLostError, EngineSession, EngineInputError } from './session.ts';
import { isInputError } from '../core/errors.ts';
import type { BackendInfo, ErrorCode, RequestMessage, WorkerMessage } from './protocol.ts';

const scope = self as unknown as {
  postMessage(m: WorkerMessage): void;
  addEventListener(t: 'message', l: (e: MessageEvent) => void): void;
};
const post = (m: WorkerMessage) => scope.postMessage(m);

const session = new EngineSession({
  emit: (event) => post({ kind: 'event', event }),
  fetchAsset: async (path) => {
    const res = await fetch(new URL(path, new URL(import.meta.env.BASE_URL, self.location.origin)));
    if (!res.ok) throw new Error(`could not load ${path} (HTTP ${res.status})`);
    return res.arrayBuffer();
  },
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  fail: (e) => post({ kind: 'error', id: null, message: (e as Error)?.message ?? String(e), code: classify(e) }),
  deviceLost: () => lostReason,
  destroyDevice: () => {
    const device = gpuDevice();
    device?.destroy();
    return device !== null;
  },
  // Thrown from a timer, the error escapes every handler: the page sees the worker's `error` event, as after a real crash.
  crash: (e) =>
    setTimeout(() => {
      throw e;
    }),
  heapBytes: () => (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? null,
  limits: () =>
    backend && {
      backend: backend.name,
      label: backend.name === 'webgpu' ? `WebGPU here (${backend.adapter ?? 'this adapter'})` : `this page's ${backend.name} backend`,
      maxBufferSize: backend.maxBufferBytes,
      maxStorageBufferBindingSize: backend.maxBufferBytes,
      deviceMemoryGiB: (navigator as Navigator & { deviceMemory?: number }).deviceMemory,
    },
});

let backend: BackendInfo | null = null;
/** Set when WebGPU reports its device lost (a driver reset, the browser reclaiming it, or `destroy()`). */
let lostReason: string | null = null;

function classify(e: unknown): ErrorCode {
  if (isInputError(e)) return 'input';
  if (e instanceof DeviceLostError || lostReason) return 'device';
  if (/device (was )?lost|out of memory|OOM|GPUDevice/i.test((e as Error)?.message ?? '')) return 'device';
  return 'internal';
}

// Requests are handled one at a time, in order, so a pause never overtakes the start before it.
let queue: Promise<void> = Promise.resolve();

scope.addEventListener('message', (ev: MessageEvent) => {
  const req = ev.data as RequestMessage;
  // A matrix holds the queue until it is done: its cancel is answered beside it, at once (the matrix stops at its next stage).
  if (req.type === 'matrixCancel') {
    session.handle(req).then(
      (payload) => post({ kind: 'reply', id: req.id, payload }),
      (e) => post({ kind: 'error', id: req.id, message: (e as Error)?.message ?? String(e), code: classify(e) }),
    );
    return;
  }
  queue = queue.then(async () => {
    try {
      let payload: unknown;
      if (req.type === 'init') {
        // No order from the page: the fastest backend here (a software GPU adapter is passed over for wasm).
        backend = await selectBackend(req.prefer, { wasmThreads: req.wasmThreads });
        void gpuDevice()?.lost.then((info) => {
          lostReason = `the WebGPU device was lost (${info.reason ?? 'unknown'}${info.message ? `: ${info.message}` : ''})`;
        });
        post({ kind: 'event', event: { type: 'backend', backend } });
        payload = backend;
      } else {
        if (!backend) throw new EngineInputError('the engine is not initialised');
        payload = await session.handle(req);
      }
      post({ kind: 'reply', id: req.id, payload });
    } catch (e) {
      post({ kind: 'error', id: req.id, message: (e as Error)?.message ?? String(e), code: classify(e) });
    }
  });
});
