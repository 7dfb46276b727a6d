// The gradient a recovery step takes, d(logit readout)/d(residual), through Gemma-2's pieces with written-out or
// automatic backward passes (RMSNorm's written out; the soft-caps, rotary, grouped-query attention with the window
// automatic), against finite differences of the forward, and each piece against its plain formula.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { maxRelErr } from '../../../core/compare.ts';
import { tf, type Tensor, type Tensor1D, type Tensor3D, type Tensor4D } from '../../../core/tf.ts';
import { Checkpoint } from '../../checkpoint.ts';
import { parseConfigJson } from '../../config.ts';
import { rmsNorm, rotary, softcap } from '../../layers.ts';
import { gemma2Family } from './index.ts';
import type { Gemma2 } from './model.ts';

const dir = path.resolve(import.meta.dirname, '../../__fixtures__/tiny-gemma2');
const { ids, attention_mask: mask } = JSON.parse(readFileSync(path.join(dir, 'ids.json'), 'utf8')) as {
  ids: number[][];
  attention_mask: number[][];
};
const load = (processing: 'none' | 'transformer-lens') => {
  const config = gemma2Family.parseConfig(parseConfigJson(readFileSync(path.join(dir, 'config.json'), 'utf8')), 'tiny-gemma2');
  const ckpt = new Checkpoint([{ name: 'model.safetensors', bytes: readFileSync(path.join(dir, 'model.safetensors')) }], 'tiny-gemma2');
  return gemma2Family.load(config, ckpt, processing) as Promise<Gemma2>;
};
const loaded = { none: await load('none'), 'transformer-lens': await load('transformer-lens') };

describe('Gemma-2 gradients w.r.t. the residual against finite differences (tiny-gemma2)', () => {
  const models = loaded;
  afterAll(() => Object.values(models).forEach((m) => m.dispose()));

  it.each([
    ['none', 'blocks.0.hook_resid_pre'],
    ['transformer-lens', 'blocks.0.hook_resid_pre'],
    ['none', 'blocks.1.hook_resid_mid'],
    ['none', 'blocks.2.hook_resid_post'],
  ] as const)('%s, %s: directional derivatives match Richardson-extrapolated central differences to 1e-4', (processing, hook) => {
    const model = models[processing];
    const [N, V] = [ids.length, model.config.vocabSize];
    tf.tidy(() => {
      const attentionMask = tf.tensor2d(mask);
      const h = model.runToHook(ids, hook, { attentionMask });
      // A readout at each row's last real token, as a behaviour reads one.
      const logitsAt = mask.map((row) => row.lastIndexOf(1));
      const r = tf.randomNormal([N, 1, V], 0, 1, 'float32', 1);
      const f = (x: Tensor) => tf.sum(tf.mul(model.forwardFrom(hook, x as Tensor3D, { attentionMask, logitsAt }), r));
      const g = tf.grad(f)(h);
      expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
      // Nothing reaches the positions after the read one (row 3 reads position 5).
      expect(Math.max(...Array.from(tf.slice(g, [3, 6, 0], [1, 6, 32]).dataSync(), Math.abs))).toBe(0);
      expect(Math.max(...Array.from(tf.slice(g, [3, 5, 0], [1, 1, 32]).dataSync(), Math.abs))).toBeGreaterThan(0);
      const at = (x: Tensor) => f(x).dataSync()[0];
      const gUnit = tf.div(g, tf.norm(g));
      const errs: number[] = [];
      for (let k = 0; k < 2; k++) {
        // A random unit direction plus the gradient's own (so the derivative along it is not near zero).
        const u = tf.randomNormal(h.shape, 0, 1, 'float32', 10 + k);
        const dir = tf.add(tf.div(u, tf.norm(u)), tf.mul(gUnit, k ? 0.3 : 1));
        // Richardson's extrapolation of central differences (error O(ε⁴)); a wide ε keeps float32 rounding of the
        // readout small against the difference.
        const central = (eps: number) => (at(tf.add(h, tf.mul(dir, eps))) - at(tf.sub(h, tf.mul(dir, eps)))) / (2 * eps);
        const eps = 0.2;
        const fd = (4 * central(eps / 2) - central(eps)) / 3;
        const an = tf.sum(tf.mul(g, dir)).dataSync()[0];
        expect(Math.abs(an)).toBeGreaterThan(1);
        errs.push(Math.abs(an - fd) / Math.abs(an));
      }
      expect(Math.max(...errs)).toBeLessThan(1e-4);
    });
  });
});

describe('the pieces against their plain formulas', () => {
  const x = tf.randomNormal([3, 5, 16], 0, 2, 'float32', 7);
  const r = tf.randomNormal([3, 5, 16], 0, 1, 'float32', 8);
  const scale = tf.add(1, tf.randomNormal([16], 0, 0.5, 'float32', 9)) as Tensor1D;
  afterAll(() => tf.dispose([x, r, scale]));
  const close = (a: Tensor, b: Tensor) => maxRelErr(a.dataSync(), b.dataSync());

  it.each([
    ['with a scale', true],
    ['folded (no scale)', false],
  ])('rmsNorm %s: value and written-out gradient equal automatic differentiation of x / √(mean(x²) + ε) · scale', (_, scaled) => {
    tf.tidy(() => {
      const s = scaled ? scale : null;
      const plain = (v: Tensor) => {
        const n = tf.div(v, tf.sqrt(tf.add(tf.mean(tf.square(v), -1, true), 1e-6)));
        return s ? tf.mul(n, s) : n;
      };
      expect(close(rmsNorm(x, s, 1e-6), plain(x))).toBeLessThan(1e-6);
      const mine = tf.grad((v: Tensor) => tf.sum(tf.mul(rmsNorm(v, s, 1e-6), r)))(x);
      const auto = tf.grad((v: Tensor) => tf.sum(tf.mul(plain(v), r)))(x);
      expect(close(mine, auto)).toBeLessThan(1e-5);
    });
  });

  it('softcap: cap · tanh(x / cap) and its gradient, through the caps and well past them', () => {
    tf.tidy(() => {
      const big = tf.mul(x, 4);
      const plain = (v: Tensor) => tf.mul(3, tf.tanh(tf.div(v, 3)));
      expect(close(softcap(big, 3), plain(big))).toBeLessThan(1e-6);
      const mine = tf.grad((v: Tensor) => tf.sum(tf.mul(softcap(v, 3), r)))(big);
      const auto = tf.grad((v: Tensor) => tf.sum(tf.mul(plain(v), r)))(big);
      expect(maxRelErr(mine.dataSync(), auto.dataSync())).toBeLessThan(1e-5);
    });
  });

  it('rotary over the whole head (rotate-half, Hugging Face’s angles) matches a float64 rotation; its gradient is the inverse rotation', () => {
    const [Bq, Tq, H, dh, base, offset] = [2, 5, 3, 8, 10000, 7];
    const q = tf.randomNormal([Bq, Tq, H, dh], 0, 1, 'float32', 11) as Tensor4D;
    const qa = q.arraySync() as number[][][][];
    const want = qa.map((row) =>
      row.map((pos, t) =>
        pos.map((head) =>
          head.map((_, j) => {
            const i = j % (dh / 2);
            const angle = (offset + t) * base ** (-(2 * i) / dh);
            const [c, s] = [Math.cos(angle), Math.sin(angle)];
            return j < dh / 2 ? head[j] * c - head[j + dh / 2] * s : head[j] * c + head[j - dh / 2] * s;
          }),
        ),
      ),
    );
    const got = tf.tidy(() => rotary(q, dh, base, offset).arraySync() as number[][][][]);
    expect(maxRelErr(got.flat(3), want.flat(3))).toBeLessThan(1e-5);
    tf.tidy(() => {
      // d/dq Σ r ⊙ R q = Rᵀ r; and Rᵀ R = 1, so rotating the gradient back gives r.
      const rr = tf.randomNormal([Bq, Tq, H, dh], 0, 1, 'float32', 12) as Tensor4D;
      const g = tf.grad((v: Tensor) => tf.sum(tf.mul(rotary(v as Tensor4D, dh, base, offset), rr)))(q) as Tensor4D;
      expect(close(rotary(g, dh, base, offset), rr)).toBeLessThan(1e-5);
    });
    q.dispose();
  });
});
