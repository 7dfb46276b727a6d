import type { BackendName } from '../engine/protocol.ts';

/** The order the worker tries backends in (DESIGN §5); the page only needs the names. */
export const BACKEND_ORDER_NAMES: BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];
