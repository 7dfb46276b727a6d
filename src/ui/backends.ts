import type { BackendName } from '../engine/protocol.ts';

/** The order the worker tries backends in (WebGPU → WebGL → WASM → CPU, see src/engine/browser-backend.ts); the page only needs the names. */
export const BACKEND_ORDER_NAMES: BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];
