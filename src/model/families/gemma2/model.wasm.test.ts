// Gemma-2 on the wasm backend (the CLI's default in Node): every kernel it uses exists there (rsqrt, sigmoid, split,
// gather, the grouped-query reshapes), the tied unembedding multiplies by a kept W_Eᵀ, and the gradient w.r.t. a
// residual, from the hook onward too, matches the cpu backend's.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxRelErr } from '../../../core/compare.ts';
import { tf, type Tensor, type Tensor3D } from '../../../core/tf.ts';
import { initNodeBackend } from '../../../engine/node-backend.ts';
import { Checkpoint } from '../../checkpoint.ts';
import { parseConfigJson } from '../../config.ts';
import { HookOnward } from '../../hook-onward.ts';
import { gemma2Family } from './index.ts';
import type { Gemma2 } from './model.ts';

const dir = path.resolve(import.meta.dirname, '../../__fixtures__/tiny-gemma2');
const { ids, attention_mask: mask } = JSON.parse(readFileSync(path.join(dir, 'ids.json'), 'utf8')) as {
  ids: number[][];
  attention_mask: number[][];
};
const load = () => {
  const config = gemma2Family.parseConfig(parseConfigJson(readFileSync(path.join(dir, 'config.json'), 'utf8')), 'tiny-gemma2');
  const ckpt = new Checkpoint([{ name: 'model.safetensors', bytes: readFileSync(path.join(dir, 'model.safetensors')) }], 'tiny-gemma2');
  return gemma2Family.load(config, ckpt, 'transformer-lens') as Promise<Gemma2>;
};

describe('Gemma-2 on the wasm backend', () => {
  beforeAll(async () => {
    expect((await initNodeBackend('wasm')).backend).toBe('wasm');
  });
  afterAll(async () => {
    await initNodeBackend('cpu');
  });

  it('logits, the gradient w.r.t. a residual and the onward path equal the cpu backend’s; W_Eᵀ is kept once and freed', async () => {
    const hook = 'blocks.0.hook_resid_post';
    const run = async () => {
      const model = await load();
      const out = tf.tidy(() => {
        const attentionMask = tf.tensor2d(mask);
        const logits = model.forward(ids, { attentionMask }).dataSync().slice();
        const h = model.runToHook(ids, hook);
        const r = tf.randomNormal([4, 12, 603], 0, 1, 'float32', 2);
        const grad = tf.grad((d: Tensor) => tf.sum(tf.mul(model.forwardFrom(hook, tf.add(h, d) as Tensor3D), r)))(tf.zerosLike(h));
        const rest = HookOnward.create(model, hook, tf.slice(h, [0, 0, 0], [4, 7, 32]));
        const onward = rest
          .residual(tf.slice(h, [0, 7, 0], [4, 5, 32]) as Tensor3D)
          .dataSync()
          .slice();
        rest.dispose();
        return { logits, grad: grad.dataSync().slice(), onward };
      });
      const held = tf.memory().numTensors;
      model.dispose();
      return { ...out, freed: held - tf.memory().numTensors, params: model.parameters().length };
    };
    const wasm = await run();
    // The cached W_Eᵀ and the transposed block weights the backward pass used go with the model.
    expect(wasm.freed).toBeGreaterThan(wasm.params);
    await initNodeBackend('cpu');
    const cpu = await run();
    expect(cpu.freed).toBe(cpu.params);
    await initNodeBackend('wasm');
    expect(maxRelErr(wasm.logits, cpu.logits)).toBeLessThan(1e-5);
    expect(maxRelErr(wasm.grad, cpu.grad)).toBeLessThan(1e-4);
    expect(maxRelErr(wasm.onward, cpu.onward)).toBeLessThan(1e-5);
    expect(Math.max(...Array.from(cpu.grad, Math.abs))).toBeGreaterThan(1e-3);
  });
});
