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

async function trySimple(name: 'webgl' | 'wasm' | 'cpu'): Promise<string | null> {
  try {
    if (name === 'webgl') tf.env().set('SOFTWARE_WEBGL_ENABLED', true); // headless Chromium renders WebGL in software
    if (name === 'wasm') {
      // TF.js's threaded build does not start in the built page: its pthread workers importScripts a blob: script,
      // which the Content-Security-Policy refuses, and with that allowed the minified bundle's thread set-up throws
      // a ReferenceError. The single-threaded SIMD build runs everywhere, so the page uses it.
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      // TF.js wants a path for every binary, the unused threaded one included.
      setWasmPaths({
        'tfjs-backend-wasm.wasm': wasmPlain,
        'tfjs-backend-wasm-simd.wasm': wasmSimd,
        'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
      });
    }
    if (!(await tf.setBackend(name))) return `${name}: the backend did not initialise`;
    await tf.ready();
    return null;
  } catch (e) {
    return `${name}: initialisation failed (${(e as Error).message})`;
  }
}

/** Pick the first backend in `order` that works. `order` may skip entries (e.g. after a lost device). */
export async function selectBackend(order: BackendName[] = BACKEND_ORDER): Promise<BackendInfo> {
  const reasons: string[] = [];
  for (const name of order) {
    if (name === 'webgpu') {
      const r = await tryWebGpu();
      if (r.ok) return { name, adapter: r.adapter, maxBufferBytes: r.maxBufferBytes, reasons };
      reasons.push(r.reason);
      continue;
    }
    const failure = await trySimple(name);
    if (failure === null)
      return { name, adapter: name === 'webgl' ? webglRenderer() : name === 'wasm' ? wasmThreads() : undefined, reasons };
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

/** The wasm build in use (single-threaded: see trySimple). */
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
