// The engine session's host on Node (tests and scripts): events to a callback, bundled assets from public/, real
// timers. The browser's host is the worker (recovery.worker.ts).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { EngineEvent } from './protocol.ts';
import type { SessionHost } from './session.ts';

/** The app's public folder: the built-in model, its SAEs, the probe example, data. */
export const PUBLIC_DIR = path.resolve(import.meta.dirname, '../../public');

export function nodeSessionHost(emit: (event: EngineEvent) => void): SessionHost {
  return {
    emit,
    fetchAsset: async (p) => {
      const b = await readFile(path.join(PUBLIC_DIR, p));
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    },
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  };
}
