// Backend selection in the browser worker: WebGPU (navigator.gpu and a non-null adapter) → WebGL → WASM →
// CPU, recording why each better one was skipped so the page can say it. By default a GPU backend whose adapter
// is a software one (SwiftShader: the GPU emulated on the CPU, as in headless Chromium without a GPU) is passed
// over for wasm: on 2 cores the built-in IOI run took 8 ms a step on wasm, 103 ms on SwiftShader's WebGL and 603 ms
// on its WebGPU (docs/performance.md). An order the page asks for (`?backend=`, the badge's WebGPU button, a
// failover) is taken as given.
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
import { softwareRenderer } from './software-adapter.ts';

export const BACKEND_ORDER: BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

interface GpuLike {
  requestAdapter(): Promise<{ info?: AdapterInfoLike; isFallbackAdapter?: boolean } | null>;
}

type Attempt<T> = ({ ok: true } & T) | { ok: false; reason: string; software?: string };

/** `passSoftware`: give up on a software adapter (naming it) before TF.js creates a device on it. */
async function tryWebGpu(passSoftware: boolean): Promise<Attempt<{ adapter: string; maxBufferBytes?: number }>> {
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
  const i = adapter.info ?? {};
  // isFallbackAdapter moved from the adapter to its info (Chromium 136); either says "emulated on the CPU".
  const software = softwareRenderer(
    [i.vendor, i.architecture, i.device, i.description],
    Boolean(i.isFallbackAdapter ?? adapter.isFallbackAdapter),
  );
  if (passSoftware && software) return { ok: false, software, reason: `software WebGPU adapter (${software}): wasm is faster here` };
  try {
    if (!(await tf.setBackend('webgpu'))) return { ok: false, reason: 'WebGPU: the TensorFlow.js webgpu backend did not initialise' };
    await tf.ready();
    patchWebGpuUploads(tf.backend());
  } catch (e) {
    return { ok: false, reason: `WebGPU: backend initialisation failed (${(e as Error).message})` };
  }
  // TF.js asks for the adapter's own buffer limits when it creates its device (above WebGPU's 128 MiB default
  // binding); what it got bounds the largest tensor, which the page checks before loading a large model.
  const limits = (tf.backend() as unknown as { device?: { limits?: Record<string, number> } }).device?.limits;
  return {
    ok: true,
    adapter: [i.architecture, i.vendor && `(${i.vendor})`].filter(Boolean).join(' ') || i.description || 'unknown adapter',
    maxBufferBytes: limits ? Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) : undefined,
  };
}

/** The renderer a WebGL context here would have, read from a throw-away context; null where none can be made. */
function probeWebglRenderer(): string | null {
  if (typeof OffscreenCanvas === 'undefined') return null;
  try {
    const canvas = new OffscreenCanvas(1, 1);
    const gl = canvas.getContext('webgl2') ?? canvas.getContext('webgl');
    if (!gl) return null;
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return renderer;
  } catch {
    return null;
  }
}

async function tryWebgl(passSoftware: boolean): Promise<Attempt<{ adapter?: string }>> {
  if (passSoftware) {
    const software = softwareRenderer([probeWebglRenderer() ?? undefined]);
    if (software) return { ok: false, software, reason: `software WebGL renderer (${software}): wasm is faster here` };
  }
  const failure = await trySimple('webgl');
  return failure === null ? { ok: true, adapter: webglRenderer() } : { ok: false, reason: failure };
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
 * Start the first backend in `order` that works, as given (e.g. `?backend=webgpu`, or the rest after a lost device).
 * Without an order, the fastest here: WebGPU → WebGL → wasm → CPU, passing over a GPU backend whose adapter is a
 * software one (recorded in `passedOver`, with the reason) unless nothing after it starts. wasmThreads: the wasm
 * backend's threads (default TF.js's, half the logical cores).
 */
export async function selectBackend(order?: BackendName[], opts: { wasmThreads?: number } = {}): Promise<BackendInfo> {
  const reasons: string[] = [];
  const passedOver: { name: BackendName; renderer: string }[] = [];
  for (const name of order ?? BACKEND_ORDER) {
    const r = await tryBackend(name, order === undefined, opts);
    if (r.ok) return { ...r.info, reasons, ...(passedOver.length ? { passedOver } : {}) };
    if (r.software) passedOver.push({ name, renderer: r.software });
    reasons.push(r.reason);
  }
  // Nothing faster started: an emulated GPU still beats failing.
  for (const { name } of passedOver) {
    const r = await tryBackend(name, false, opts);
    if (r.ok) return { ...r.info, reasons };
    reasons.push(r.reason);
  }
  throw new Error(`no TensorFlow.js backend could be initialised: ${reasons.join('; ')}`);
}

async function tryBackend(
  name: BackendName,
  passSoftware: boolean,
  opts: { wasmThreads?: number },
): Promise<{ ok: true; info: Omit<BackendInfo, 'reasons'> } | { ok: false; reason: string; software?: string }> {
  if (name === 'webgpu') {
    const r = await tryWebGpu(passSoftware);
    return r.ok ? { ok: true, info: { name, adapter: r.adapter, maxBufferBytes: r.maxBufferBytes } } : r;
  }
  if (name === 'webgl') {
    const r = await tryWebgl(passSoftware);
    return r.ok ? { ok: true, info: { name, adapter: r.adapter } } : r;
  }
  if (name === 'wasm') {
    const r = await tryWasm(opts.wasmThreads ?? defaultPageWasmThreads());
    return r.ok ? { ok: true, info: { name, adapter: `${wasmThreads()}${r.note ? ` (${r.note})` : ''}` } } : r;
  }
  const failure = await trySimple(name);
  return failure === null ? { ok: true, info: { name } } : { ok: false, reason: failure };
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
