// Training SAEs on the built-in model's residual stream, in SAELens' conventions (apply_b_dec_to_input,
// normalize_activations none, unit-norm decoder rows):
//   standard  ReLU, loss = ‖x − x̂‖² + λ·Σ z_f·‖W_dec[f]‖
//   topk      keep the k largest pre-activations, ReLU; loss = ‖x − x̂‖²
//   jumprelu  z = pre·H(pre − θ); loss = ‖x − x̂‖² + λ·L0, with straight-through (rectangle-kernel)
//             pseudo-gradients for θ (Rajamanoharan et al. 2024)
// Dead features (no firing over a window) are re-initialised towards badly reconstructed inputs.
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Variable } from '../../src/core/tf.ts';
import { mulberry32, normals } from '../../src/core/rng.ts';
import type { SaeArchitecture, SaeArrays, SaeConfig } from '../../src/core/sae.ts';

export interface SaeTrainOptions {
  architecture: SaeArchitecture;
  width: number;
  k?: number;
  /** L1 (standard) or L0 (jumprelu) coefficient. */
  sparsity?: number;
  steps: number;
  batch: number;
  lr: number;
  seed: number;
  /** JumpReLU: initial threshold and the straight-through bandwidth, in units of the activation scale. */
  jumpInit?: number;
  bandwidth?: number;
  resampleEvery?: number;
}

export interface SaeQuality {
  explainedVariance: number;
  meanL0: number;
  deadShare: number;
  /** log10 firing density per feature on the evaluation tokens. */
  logDensity: Float32Array;
}

/** JumpReLU with straight-through gradients: ∂z/∂pre = H(pre − θ), ∂z/∂θ = −(θ/ε)·K((pre − θ)/ε). */
function jumpRelu(pre: Tensor, theta: Tensor, eps: number): Tensor {
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const [x0, t0, save] = args as [Tensor, Tensor, tf.GradSaveFunc];
    save([x0, t0]);
    return {
      value: tf.mul(x0, tf.step(tf.sub(x0, t0))),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [x, t] = saved;
        const gate = tf.step(tf.sub(x, t));
        const u = tf.div(tf.sub(x, t), eps);
        const kernel = tf.mul(tf.step(tf.add(u, 0.5)), tf.step(tf.sub(0.5, u))); // rectangle on (−½, ½)
        const dTheta = tf.sum(tf.mul(dy, tf.mul(tf.neg(tf.div(t, eps)), kernel)), 0);
        return [tf.mul(dy, gate), dTheta];
      },
    };
  });
  return f(pre, theta) as Tensor;
}

/** L0 with a straight-through gradient for θ: ∂H(pre − θ)/∂θ = −(1/ε)·K((pre − θ)/ε). */
function stepL0(pre: Tensor, theta: Tensor, eps: number): Tensor {
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const [x0, t0, save] = args as [Tensor, Tensor, tf.GradSaveFunc];
    save([x0, t0]);
    return {
      value: tf.step(tf.sub(x0, t0)),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [x, t] = saved;
        const u = tf.div(tf.sub(x, t), eps);
        const kernel = tf.mul(tf.step(tf.add(u, 0.5)), tf.step(tf.sub(0.5, u)));
        return [tf.zerosLike(x), tf.sum(tf.mul(dy, tf.div(tf.neg(kernel), eps)), 0)];
      },
    };
  });
  return f(pre, theta) as Tensor;
}

interface Params {
  W_enc: Variable;
  b_enc: Variable;
  W_dec: Variable;
  b_dec: Variable;
  logTheta?: Variable;
}

export class SaeTrainer {
  readonly p: Params;
  private readonly m: Map<string, Variable> = new Map();
  private readonly v: Map<string, Variable> = new Map();
  private t = 0;
  private readonly rand: () => number;
  private fired: Tensor1D;

  constructor(
    readonly d: number,
    readonly o: SaeTrainOptions,
    readonly scale: number,
    bDecInit: Float32Array,
  ) {
    this.rand = mulberry32(o.seed);
    const m = o.width;
    const dec = normals(this.rand, m * d);
    for (let f = 0; f < m; f++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += dec[f * d + j] ** 2;
      for (let j = 0; j < d; j++) dec[f * d + j] /= Math.sqrt(s);
    }
    const enc = new Float32Array(d * m);
    for (let j = 0; j < d; j++) for (let f = 0; f < m; f++) enc[j * m + f] = dec[f * d + j];
    this.p = {
      W_enc: tf.variable(tf.tensor2d(enc, [d, m])),
      b_enc: tf.variable(tf.zeros([m])),
      W_dec: tf.variable(tf.tensor2d(dec, [m, d])),
      b_dec: tf.variable(tf.tensor1d(bDecInit)),
    };
    if (o.architecture === 'jumprelu') this.p.logTheta = tf.variable(tf.fill([m], Math.log((o.jumpInit ?? 0.1) * scale)));
    for (const [k, v] of Object.entries(this.p) as [string, Variable][]) {
      this.m.set(k, tf.variable(tf.zerosLike(v), false));
      this.v.set(k, tf.variable(tf.zerosLike(v), false));
    }
    this.fired = tf.zeros([m]);
  }

  private encode(x: Tensor2D, train: boolean): { z: Tensor2D; l0Term?: Tensor } {
    const { p, o } = this;
    const pre = tf.add(tf.matMul(tf.sub(x, p.b_dec), p.W_enc), p.b_enc) as Tensor2D;
    if (o.architecture === 'standard') return { z: tf.relu(pre) as Tensor2D };
    if (o.architecture === 'topk') {
      const k = o.k!;
      const kth = tf.slice(tf.topk(pre, k).values, [0, k - 1], [-1, 1]);
      const mask = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
        const xx = args[0] as Tensor;
        const shape = xx.shape;
        return { value: tf.sub(1, tf.step(tf.sub(kth, xx))), gradFunc: () => tf.zeros(shape) };
      })(pre);
      return { z: tf.mul(tf.relu(pre), mask) as Tensor2D };
    }
    const theta = tf.exp(p.logTheta!);
    const eps = (o.bandwidth ?? 0.05) * this.scale;
    const z = jumpRelu(pre, theta, eps) as Tensor2D;
    return { z, l0Term: train ? tf.mean(tf.sum(stepL0(pre, theta, eps), 1)) : undefined };
  }

  private loss(x: Tensor2D): tf.Scalar {
    const { z, l0Term } = this.encode(x, true);
    const recon = tf.add(tf.matMul(z, this.p.W_dec), this.p.b_dec);
    const mse = tf.div(tf.mean(tf.sum(tf.square(tf.sub(recon, x)), 1)), this.scale ** 2);
    this.fired = tf.keep(tf.add(this.fired, tf.sum(tf.step(z), 0))) as Tensor1D;
    if (this.o.architecture === 'standard') {
      const l1 = tf.mean(tf.sum(tf.mul(z, tf.norm(this.p.W_dec, 'euclidean', 1)), 1));
      return tf.add(mse, tf.mul(this.o.sparsity ?? 1e-3, tf.div(l1, this.scale))) as tf.Scalar;
    }
    if (l0Term) return tf.add(mse, tf.mul(this.o.sparsity ?? 1e-3, l0Term)) as tf.Scalar;
    return mse as tf.Scalar;
  }

  /** One Adam step on a batch of rows x [B, d]; returns the loss. */
  step(x: Tensor2D): number {
    this.t++;
    const oldFired = this.fired;
    const vars = Object.values(this.p) as Variable[];
    const { value, grads } = tf.variableGrads(() => this.loss(x), vars);
    if (oldFired !== this.fired) oldFired.dispose();
    const lr =
      this.o.lr *
      Math.min(1, this.t / 100) *
      (this.t > 0.8 * this.o.steps ? Math.max(0.05, (this.o.steps - this.t) / (0.2 * this.o.steps)) : 1);
    tf.tidy(() => {
      for (const [name, p] of Object.entries(this.p) as [string, Variable][]) {
        const g = grads[p.name];
        const m = tf.add(tf.mul(this.m.get(name)!, 0.9), tf.mul(g, 0.1));
        const v = tf.add(tf.mul(this.v.get(name)!, 0.999), tf.mul(tf.square(g), 0.001));
        const upd = tf.div(tf.div(m, 1 - 0.9 ** this.t), tf.add(tf.sqrt(tf.div(v, 1 - 0.999 ** this.t)), 1e-8));
        p.assign(tf.sub(p, tf.mul(upd, lr)));
        this.m.get(name)!.assign(m);
        this.v.get(name)!.assign(v);
      }
      // Unit-norm decoder rows (the scale lives in the encoder), as SAELens trains them.
      this.p.W_dec.assign(tf.div(this.p.W_dec, tf.add(tf.norm(this.p.W_dec, 'euclidean', 1, true), 1e-8)));
    });
    const loss = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return loss;
  }

  /** Re-initialise features that never fired since the last call, towards the worst-reconstructed rows of x. */
  resampleDead(x: Tensor2D): number {
    const fired = this.fired.dataSync();
    const dead = Array.from(fired.keys()).filter((f) => fired[f] === 0);
    this.fired.dispose();
    this.fired = tf.zeros([this.o.width]);
    if (!dead.length) return 0;
    const errs = tf.tidy(() => {
      const { z } = this.encode(x, false);
      const recon = tf.add(tf.matMul(z, this.p.W_dec), this.p.b_dec);
      return tf.sub(x, recon);
    });
    const e = errs.arraySync() as number[][];
    errs.dispose();
    const order = e.map((r, i) => [r.reduce((s, v) => s + v * v, 0), i]).sort((p, q) => q[0] - p[0]);
    const W_enc = this.p.W_enc.arraySync() as number[][];
    const W_dec = this.p.W_dec.arraySync() as number[][];
    const b_enc = Array.from(this.p.b_enc.dataSync());
    // The new encoder column gets the alive columns' mean norm: for TopK a resampled feature must be able to win
    // a top-k slot at once, or it dies again before it learns (0.2 of that norm for ReLU and JumpReLU).
    const isDead = new Set(dead);
    let alive = 0;
    let norm = 0;
    for (let f = 0; f < this.o.width; f++) {
      if (isDead.has(f)) continue;
      alive++;
      let s = 0;
      for (let i = 0; i < this.d; i++) s += W_enc[i][f] ** 2;
      norm += Math.sqrt(s);
    }
    const encNorm = (alive ? norm / alive : 1) * (this.o.architecture === 'topk' ? 1 : 0.2);
    dead.forEach((f, j) => {
      const row = e[order[j % order.length][1]];
      const n = Math.sqrt(row.reduce((s, v) => s + v * v, 0)) || 1;
      const dir = row.map((v) => v / n);
      W_dec[f] = dir;
      for (let i = 0; i < this.d; i++) W_enc[i][f] = encNorm * dir[i];
      b_enc[f] = 0;
    });
    this.p.W_enc.assign(tf.tensor2d(W_enc));
    this.p.W_dec.assign(tf.tensor2d(W_dec));
    this.p.b_enc.assign(tf.tensor1d(b_enc));
    return dead.length;
  }

  /** Explained variance, mean L0 and dead share on evaluation rows [n, d]. */
  async evaluate(x: Tensor2D): Promise<SaeQuality> {
    const [ev, l0, dens] = tf.tidy(() => {
      const { z } = this.encode(x, false);
      const recon = tf.add(tf.matMul(z, this.p.W_dec), this.p.b_dec);
      const resid = tf.sum(tf.square(tf.sub(x, recon)));
      const total = tf.sum(tf.square(tf.sub(x, tf.mean(x, 0, true))));
      const active = tf.step(z);
      return [tf.sub(1, tf.div(resid, total)), tf.mean(tf.sum(active, 1)), tf.mean(active, 0)];
    });
    const [e, l, d] = await Promise.all([ev.data(), l0.data(), dens.data()]);
    tf.dispose([ev, l0, dens]);
    return {
      explainedVariance: e[0],
      meanL0: l[0],
      deadShare: Array.from(d as Float32Array).filter((v) => v === 0).length / d.length,
      logDensity: Float32Array.from(d as Float32Array, (v) => Math.log10(Math.max(v, 1e-10))),
    };
  }

  async export(meta: { hookName: string; modelName: string }): Promise<{ config: SaeConfig; arrays: SaeArrays }> {
    const { o } = this;
    const arrays: SaeArrays = {
      W_enc: (await this.p.W_enc.data()) as Float32Array,
      b_enc: (await this.p.b_enc.data()) as Float32Array,
      W_dec: (await this.p.W_dec.data()) as Float32Array,
      b_dec: (await this.p.b_dec.data()) as Float32Array,
    };
    if (this.p.logTheta) arrays.threshold = Float32Array.from((await this.p.logTheta.data()) as Float32Array, (v) => Math.exp(v));
    const config: SaeConfig = {
      architecture: o.architecture,
      dIn: this.d,
      dSae: o.width,
      applyBDecToInput: true,
      normalizeActivations: 'none',
      centerInput: false,
      k: o.architecture === 'topk' ? o.k : undefined,
      hookName: meta.hookName,
      modelName: meta.modelName,
    };
    return { config, arrays };
  }

  dispose(): void {
    tf.dispose([...Object.values(this.p), ...this.m.values(), ...this.v.values(), this.fired]);
  }
}
