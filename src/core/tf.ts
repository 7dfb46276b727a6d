// The single door to TensorFlow.js for everything under src/core, src/model and src/scenarios.
// Backends (and gradient registration) are set up by the host: src/engine/node-backend.ts in Node,
// src/engine/browser-backend.ts in the worker. Core code never chooses a backend itself.
export * as tf from '@tensorflow/tfjs-core';
export type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Rank, Scalar, Variable } from '@tensorflow/tfjs-core';
