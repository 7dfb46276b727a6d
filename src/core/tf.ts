// The single door to TensorFlow.js for everything under src/core, src/model and src/scenarios.
// Backends (and gradient registration) are set up by the host: src/engine/node-backend.ts in Node,
// src/engine/browser-backend.ts in the worker. Core code never chooses a backend itself.
import * as tf from '@tensorflow/tfjs-core';

export { tf };
export type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Rank, Scalar, Variable } from '@tensorflow/tfjs-core';

/**
 * Whether products with a fixed right operand should multiply by a kept transposed copy rather than pass transposeB:
 * TF.js's wasm backend runs a transposeB product about 10× slower than a plain one (XNNPACK's fast path takes only
 * an untransposed right operand: 150 rows by GPT-2 small's SAE decoder, 6.5 s against 0.5 s). Other backends
 * transpose for free, so they keep no copy.
 */
export const keepTransposes = (): boolean => tf.getBackend() === 'wasm';
