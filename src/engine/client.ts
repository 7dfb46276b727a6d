// The page's handle on the engine worker: typed requests that resolve with their reply, and a stream of
// events. The main thread never touches TensorFlow.js.
import type { EngineEvent, ErrorCode, ReplyPayload, Request, WorkerMessage } from './protocol.ts';

export class EngineError extends Error {
  override name = 'EngineError';
  constructor(
    message: string,
    readonly code: ErrorCode,
  ) {
    super(message);
  }
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

/** Anything with the Worker messaging surface (a real Worker, or an in-process port in tests). */
export interface WorkerLike {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (ev: MessageEvent) => void): void;
  addEventListener(type: 'error', listener: (ev: ErrorEvent) => void): void;
  terminate(): void;
}

export function createEngineWorker(): Worker {
  return new Worker(new URL('./recovery.worker.ts', import.meta.url), { type: 'module', name: 'unclamp-engine' });
}

export class EngineClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(e: EngineEvent) => void>();
  private readonly errorListeners = new Set<(e: EngineError) => void>();

  constructor(private readonly worker: WorkerLike = createEngineWorker()) {
    worker.addEventListener('message', (ev: MessageEvent) => this.receive(ev.data as WorkerMessage));
    worker.addEventListener('error', (ev: ErrorEvent) => {
      // An uncaught error ends the worker's usefulness (its state is unknown): the page restarts it.
      const err = new EngineError(`the engine worker failed: ${ev.message || 'unknown error'}`, 'crash');
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      for (const l of this.errorListeners) l(err);
    });
  }

  request<T extends Request['type']>(req: Extract<Request, { type: T }>, transfer: Transferable[] = []): Promise<ReplyPayload[T]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  /** Subscribe to engine events; returns the unsubscribe function. */
  on(listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Errors not tied to a request (e.g. a device lost mid-run). */
  onError(listener: (e: EngineError) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  terminate(): void {
    this.worker.terminate();
    const err = new EngineError('the engine was stopped', 'internal');
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private receive(msg: WorkerMessage): void {
    if (msg.kind === 'event') {
      for (const l of this.listeners) l(msg.event);
      return;
    }
    if (msg.kind === 'error' && msg.id === null) {
      const err = new EngineError(msg.message, msg.code);
      for (const l of this.errorListeners) l(err);
      return;
    }
    const p = this.pending.get(msg.id!);
    if (!p) return;
    this.pending.delete(msg.id!);
    if (msg.kind === 'reply') p.resolve(msg.payload);
    else p.reject(new EngineError(msg.message, msg.code));
  }
}
