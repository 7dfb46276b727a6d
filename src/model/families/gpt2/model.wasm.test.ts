// The wasm backend (the CLI's default in Node) has no gradient for gather (no UnsortedSegmentSum): training
// must embed by one-hot·W_E, and recovery differentiates only w.r.t. a residual. Both must work there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor, type Tensor3D } from '../../../core/tf.ts';
import { initNodeBackend } from '../../../engine/node-backend.ts';
import { randomGpt2 } from './load.ts';
import { withTrainableWeights } from './model.ts';

describe('GPT-2 on the wasm backend', () => {
  beforeAll(async () => {
    expect((await initNodeBackend('wasm')).backend).toBe('wasm');
  });
  afterAll(async () => {
    await initNodeBackend('cpu');
  });

  it('gradients w.r.t. all weights (one-hot embedding) and w.r.t. a residual, matching the cpu backend', async () => {
    const config = { nLayer: 2, nHead: 2, dModel: 8, nCtx: 8, vocabSize: 11, lnEps: 1e-5 };
    const ids = [
      [1, 2, 3, 4],
      [5, 6, 0, 0],
    ];
    const run = () => {
      const model = withTrainableWeights(randomGpt2(config, 2, 0.3));
      const vars = model.parameters() as tf.Variable[];
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(model.forward(ids, { embedding: 'onehot' }))) as tf.Scalar, vars);
      const gW = grads[vars[0].name].dataSync().slice();
      const gResid = tf.tidy(() => {
        const h = model.runToHook(ids, 'blocks.1.hook_resid_pre');
        return tf
          .grad((d: Tensor) => tf.sum(model.forwardFrom('blocks.1.hook_resid_pre', tf.add(h, d) as Tensor3D)))(tf.zerosLike(h))
          .dataSync()
          .slice();
      });
      tf.dispose([value, ...Object.values(grads), ...vars]);
      return { gW, gResid };
    };
    const wasm = run();
    await initNodeBackend('cpu');
    const cpu = run();
    await initNodeBackend('wasm');
    for (const k of ['gW', 'gResid'] as const) {
      const scale = Math.max(...Array.from(cpu[k], Math.abs));
      expect(scale).toBeGreaterThan(0);
      expect(Math.max(...Array.from(wasm[k], (v, i) => Math.abs(v - cpu[k][i]))) / scale, k).toBeLessThan(1e-4);
    }
  });

  it('frozen weights: the cached W_Eᵀ gives the cpu logits, is made once, and goes with dispose', async () => {
    const config = { nLayer: 1, nHead: 2, dModel: 8, nCtx: 8, vocabSize: 11, lnEps: 1e-5 };
    const model = randomGpt2(config, 3, 0.3);
    const ids = [
      [1, 2, 3],
      [4, 5, 6],
    ];
    const wasm = tf.tidy(() => model.forward(ids).dataSync().slice());
    const after1 = tf.memory().numTensors;
    tf.tidy(() => void model.forward(ids));
    expect(tf.memory().numTensors).toBe(after1);
    await initNodeBackend('cpu');
    const cpu = tf.tidy(() => model.forward(ids).dataSync().slice());
    await initNodeBackend('wasm');
    expect(Math.max(...Array.from(wasm, (v, i) => Math.abs(v - cpu[i])))).toBeLessThan(1e-5);
    const before = tf.memory().numTensors;
    model.dispose();
    expect(before - tf.memory().numTensors).toBe(model.parameters().length + 1);
  });

  it('frozen weights: the gradient w.r.t. a residual (through transposed copies of the block weights) matches cpu', async () => {
    const config = { nLayer: 2, nHead: 2, dModel: 8, nCtx: 8, vocabSize: 11, lnEps: 1e-5 };
    const start = tf.memory().numTensors;
    const model = randomGpt2(config, 4, 0.3);
    const ids = [
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ];
    const hook = 'blocks.0.hook_resid_post';
    const grad = () =>
      tf.tidy(() => {
        const h = model.runToHook(ids, hook);
        const loss = (d: Tensor) => tf.sum(tf.square(model.forwardFrom(hook, tf.add(h, d) as Tensor3D)));
        return tf.grad(loss)(tf.zerosLike(h)).dataSync().slice();
      });
    const wasm = grad();
    const afterFirst = tf.memory().numTensors;
    grad();
    expect(tf.memory().numTensors, 'the copies are made once').toBe(afterFirst);
    await initNodeBackend('cpu');
    const cpu = grad();
    await initNodeBackend('wasm');
    const scale = Math.max(...Array.from(cpu, Math.abs));
    expect(scale).toBeGreaterThan(0);
    expect(Math.max(...Array.from(wasm, (v, i) => Math.abs(v - cpu[i]))) / scale).toBeLessThan(1e-4);
    // The copies (layer 1's four block weights, after the hook) and W_Eᵀ go with the model.
    expect(afterFirst - start).toBeGreaterThanOrEqual(model.parameters().length + 4);
    model.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});
