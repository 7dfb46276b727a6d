// Backend selection in the browser worker: WebGPU (navigator.gpu and a non-null adapter) → WebGL → WASM →
// CPU, recording why each better one was skipped so the page can say it.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { tf } from '../core/tf.ts';
import type { BackendInfo, BackendName } from './protocol.ts';
import { withBrowserWasmThreads } from './browser-wasm-threads.ts';
import { startThreadedWasm } from './wasm-threads.ts';
import { guardWasmMalloc } from './wasm-malloc-guard.ts';
import './wasm-kernels.ts';
import './kernels16.ts';
import './webgpu-matmul16.ts';
import { MAX_WASM_THREADS } from './wasm-threads-config.ts';
import { patchWebGpuUploads } from './webgpu-uploads.ts';

export const BACKEND_ORDER: BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

interface GpuLike {
  requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string; description?: string } } | null>;
}

async function tryWebGpu(): Promise<{ ok: true; adapter: string; maxBufferBytes?: number } | { ok: false; reason: string }> {
  const gpu = (globalThis.navigator as Navigator & { gpu?: GpuLike }).gpu;
  if (!gpu) return { ok: false, reason: 'WebGPU: navigator.gpu is not available in this browser' };
  let adapter: Awaited<ReturnType<GpuLike['requestAdapter']>>;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { ok: false, reason: `WebGPU: requesting an adapter failed (${(e as Error).message})` };
  }
  if (!adapter)
    return { ok: false, reason: 'WebGPU: no adapter (navigator.gpu.requestAdapter() returned null: no usable GPU, or WebGPU is disabled)' };
  try {
    if (!(await tf.setBackend('webgpu'))) return { ok: false, reason: 'WebGPU: the TensorFlow.js webgpu backend did not initialise' };
    await tf.ready();
    patchWebGpuUploads(tf.backend());
  } catch (e) {
    return { ok: false, reason: `WebGPU: backend initialisation failed (${(e as Error).message})` };
  }
  const i = adapter.info ?? {};
  // TF.js asks for the adapter's own buffer limits when it creates its device (above WebGPU's 128 MiB default
  // binding); what it got bounds the largest tensor, which the page checks before loading a large model.
  const limits = (tf.backend() as unknown as { device?: { limits?: Record<string, number> } }).device?.limits;
  return {
    ok: true,
    adapter: [i.architecture, i.vendor && `(${i.vendor})`].filter(Boolean).join(' ') || i.description || 'unknown adapter',
    maxBufferBytes: limits ? Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) : undefined,
  };
}

async function trySimple(name: 'webgl' | 'cpu'): Promise<string | null> {
  try {
    if (name === 'webgl') tf.env().set('SOFTWARE_WEBGL_ENABLED', true); // headless Chromium renders WebGL in software
    if (!(await tf.setBackend(name))) return `${name}: the backend did not initialise`;
    await tf.ready();
    return null;
  } catch (e) {
    return `${name}: initialisation failed (${(e as Error).message})`;
  }
}

/** TF.js's own count for a page: half the logical cores (it assumes two hardware threads per core), 1..8. */
function defaultPageWasmThreads(): number {
  return Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor((globalThis.navigator?.hardwareConcurrency || 1) / 2)));
}

/**
 * The wasm backend on `threads` threads: TF.js's threaded build (browser-wasm-threads.ts) where the page is
 * cross-origin isolated and more than one thread is asked for, else — or when that does not start — its
 * single-threaded SIMD build, with the reason.
 */
async function tryWasm(threads: number): Promise<{ ok: true; note?: string } | { ok: false; reason: string }> {
  // TF.js wants a path for every binary, whichever it loads.
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmPlain,
    'tfjs-backend-wasm-simd.wasm': wasmSimd,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
  });
  let note: string | undefined;
  if (threads > 1 && !globalThis.crossOriginIsolated) note = 'threads need a cross-origin isolated page (COOP and COEP headers)';
  else if (threads > 1) {
    try {
      if (await startThreadedWasm(threads, withBrowserWasmThreads)) {
        await tf.ready();
        guardWasmMalloc();
        return { ok: true };
      }
      note = 'the threaded build did not start';
    } catch (e) {
      note = `the threaded build failed to start: ${(e as Error).message}`;
    }
  }
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  try {
    if (!(await tf.setBackend('wasm'))) return { ok: false, reason: 'wasm: the backend did not initialise' };
    await tf.ready();
    guardWasmMalloc();
    return { ok: true, ...(note ? { note } : {}) };
  } catch (e) {
    return { ok: false, reason: `wasm: initialisation failed (${(e as Error).message})` };
  }
}

/**
 * Pick the first backend in `order` that works. `order` may skip entries (e.g. after a lost device). wasmThreads:
 * the wasm backend's threads (default TF.js's, half the logical cores).
 */
export async function selectBackend(order: BackendName[] = BACKEND_ORDER, opts: { wasmThreads?: number } = {}): Promise<BackendInfo> {
  const reasons: string[] = [];
  for (const name of order) {
    if (name === 'webgpu') {
      const r = await tryWebGpu();
      if (r.ok) return { name, adapter: r.adapter, maxBufferBytes: r.maxBufferBytes, reasons };
      reasons.push(r.reason);
      continue;
    }
    if (name === 'wasm') {
      const r = await tryWasm(opts.wasmThreads ?? defaultPageWasmThreads());
      if (r.ok) return { name, adapter: `${wasmThreads()}${r.note ? ` (${r.note})` : ''}`, reasons };
      reasons.push(r.reason);
      continue;
    }
    const failure = await trySimple(name);
    if (failure === null) return { name, adapter: name === 'webgl' ? webglRenderer() : undefined, reasons };
    reasons.push(failure);
  }
  throw new Error(`no TensorFlow.js backend could be initialised: ${reasons.join('; ')}`);
}

/** The part of a GPUDevice the worker uses: to learn that it was lost, and (for the fault test) to destroy it. */
export interface GpuDeviceHandle {
  lost: Promise<{ reason?: string; message?: string }>;
  destroy(): void;
}

/** The WebGPU backend's device, or null on any other backend. */
export function gpuDevice(): GpuDeviceHandle | null {
  if (tf.getBackend() !== 'webgpu') return null;
  return (tf.backend() as unknown as { device?: GpuDeviceHandle }).device ?? null;
}

/** The wasm build in use: its thread count. */
function wasmThreads(): string {
  const threads = getThreadsCount();
  return `${threads} thread${threads > 1 ? 's' : ''}, SIMD`;
}

function webglRenderer(): string | undefined {
  try {
    const backend = tf.backend() as unknown as { gpgpu?: { gl?: WebGLRenderingContext } };
    const gl = backend.gpgpu?.gl;
    if (!gl) return undefined;
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  } catch {
    return undefined;
  }
}
