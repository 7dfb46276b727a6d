// Sparse autoencoder forward, as SAELens defines it (docs/method.md §1):
//   x' = norm_in(centre?(h)) − b_dec·[apply_b_dec_to_input]
//   pre = x'·W_enc + b_enc            (affine in h: why encoder-orthogonal updates are exact)
//   z   = ReLU(pre) | ReLU(pre)·1[pre > θ] | TopK-then-ReLU
//   ĥ   = norm_out(z·W_dec + b_dec) (+ the per-token mean when the input was centred)
//   e(h) = h − ĥ
// Masks use tf.step (whose gradient is registered as zero) rather than comparisons, so every function here
// is differentiable w.r.t. h with ∂z/∂h = diag(1[active])·W_encᵀ, as SAELens' straight-through JumpReLU is.
import { InputError } from './errors.ts';
import { tf, type Tensor, type Tensor1D, type Tensor2D } from './tf.ts';

export type SaeArchitecture = 'standard' | 'jumprelu' | 'topk';
/** expected_average_only_in is folded into the weights at load (see foldNormScalingFactor), leaving 'none'. */
export type ActivationNormalization = 'none' | 'constant_norm_rescale';

export interface SaeConfig {
  architecture: SaeArchitecture;
  dIn: number;
  dSae: number;
  applyBDecToInput: boolean;
  normalizeActivations: ActivationNormalization;
  /** TopK: number of features kept per token. */
  k?: number;
  /** Remove each token's mean over d_model before encoding (SAEs trained on TransformerLens' centred stream). */
  centerInput: boolean;
  hookName?: string;
  modelName?: string;
  /** What the loader folded into the weights (expected_average_only_in), kept for display. */
  foldedNormScalingFactor?: number;
}

export interface SaeArrays {
  W_enc: Float32Array; // [dIn, dSae]
  b_enc: Float32Array; // [dSae]
  W_dec: Float32Array; // [dSae, dIn]
  b_dec: Float32Array; // [dIn]
  threshold?: Float32Array; // [dSae], JumpReLU
}

export class SaeError extends InputError {
  override name = 'SaeInputError';
}

function checkFinite(name: string, a: Float32Array): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new SaeError(`SAE weight ${name} has a non-finite value (${a[i]}) at flat index ${i}`);
  }
}

/**
 * Fold SAELens' expected_average_only_in scalar s (inputs were multiplied by s in training) into the weights,
 * so the SAE takes raw activations: W_enc·s, W_dec/s, b_dec/s.
 */
export function foldNormScalingFactor(arrays: SaeArrays, s: number): SaeArrays {
  if (!(Number.isFinite(s) && s > 0)) throw new SaeError(`norm scaling factor must be a positive number, got ${s}`);
  return {
    ...arrays,
    W_enc: arrays.W_enc.map((v) => v * s),
    W_dec: arrays.W_dec.map((v) => v / s),
    b_dec: arrays.b_dec.map((v) => v / s),
  };
}

/** The per-token input transform that has to be undone on the way out. */
interface PreparedInput {
  x: Tensor; // what W_enc sees (b_dec already subtracted when configured)
  mean?: Tensor; // [..., 1] removed by centring
  scale?: Tensor; // [..., 1] applied by constant_norm_rescale
}

export class Sae {
  readonly W_enc: Tensor2D;
  readonly b_enc: Tensor1D;
  readonly W_dec: Tensor2D;
  readonly b_dec: Tensor1D;
  readonly threshold?: Tensor1D;

  private constructor(
    readonly cfg: SaeConfig,
    arrays: SaeArrays,
  ) {
    const { dIn, dSae } = cfg;
    this.W_enc = tf.tensor2d(arrays.W_enc, [dIn, dSae]);
    this.b_enc = tf.tensor1d(arrays.b_enc);
    this.W_dec = tf.tensor2d(arrays.W_dec, [dSae, dIn]);
    this.b_dec = tf.tensor1d(arrays.b_dec);
    if (arrays.threshold) this.threshold = tf.tensor1d(arrays.threshold);
  }

  /** Validate shapes, values and config, then upload the weights. */
  static create(cfg: SaeConfig, arrays: SaeArrays): Sae {
    const { dIn, dSae } = cfg;
    if (!(Number.isInteger(dIn) && dIn > 0 && Number.isInteger(dSae) && dSae > 0)) {
      throw new SaeError(`d_in and d_sae must be positive integers, got d_in=${dIn}, d_sae=${dSae}`);
    }
    const want: [keyof SaeArrays, number, string][] = [
      ['W_enc', dIn * dSae, `[${dIn}, ${dSae}]`],
      ['b_enc', dSae, `[${dSae}]`],
      ['W_dec', dSae * dIn, `[${dSae}, ${dIn}]`],
      ['b_dec', dIn, `[${dIn}]`],
    ];
    if (cfg.architecture === 'jumprelu') want.push(['threshold', dSae, `[${dSae}]`]);
    for (const [name, size, shape] of want) {
      const a = arrays[name];
      if (!a) throw new SaeError(`SAE weight ${name} is missing (${cfg.architecture} needs it)`);
      if (a.length !== size)
        throw new SaeError(`SAE weight ${name} has ${a.length} values, expected ${shape} for d_in=${dIn}, d_sae=${dSae}`);
      checkFinite(name, a);
    }
    if (cfg.architecture === 'topk' && !(Number.isInteger(cfg.k) && cfg.k! >= 1 && cfg.k! <= dSae)) {
      throw new SaeError(`TopK SAE needs an integer k in [1, ${dSae}], got ${cfg.k}`);
    }
    return new Sae(cfg, { ...arrays, threshold: cfg.architecture === 'jumprelu' ? arrays.threshold : undefined });
  }

  get dIn(): number {
    return this.cfg.dIn;
  }
  get dSae(): number {
    return this.cfg.dSae;
  }

  private prepare(h: Tensor): PreparedInput {
    let x = h;
    let mean: Tensor | undefined;
    let scale: Tensor | undefined;
    if (this.cfg.centerInput) {
      mean = tf.mean(x, -1, true);
      x = tf.sub(x, mean);
    }
    if (this.cfg.normalizeActivations === 'constant_norm_rescale') {
      // x · √d / ‖x‖, per token; the decoder divides by the same factor.
      scale = tf.div(Math.sqrt(this.cfg.dIn), tf.add(tf.norm(x, 'euclidean', -1, true), 1e-8));
      x = tf.mul(x, scale);
    }
    if (this.cfg.applyBDecToInput) x = tf.sub(x, this.b_dec);
    return { x, mean, scale };
  }

  private finish(recon: Tensor, p: PreparedInput): Tensor {
    let out = recon;
    if (p.scale) out = tf.div(out, p.scale);
    if (p.mean) out = tf.add(out, p.mean);
    return out;
  }

  /** pre = x'·W_enc + b_enc for every feature, shape [..., d_sae]. */
  preActivations(h: Tensor): Tensor {
    return affine(this.prepare(h).x, this.W_enc, this.b_enc);
  }

  /** Feature activations z = E(h), shape [..., d_sae]. */
  encode(h: Tensor): Tensor {
    return this.activate(this.preActivations(h));
  }

  /** The nonlinearity alone (pre → z), for all d_sae features. */
  activate(pre: Tensor): Tensor {
    switch (this.cfg.architecture) {
      case 'standard':
        return tf.relu(pre);
      case 'jumprelu':
        // SAELens: ReLU(pre)·1[pre > θ]; the ReLU matters where a threshold is negative.
        return tf.mul(tf.relu(pre), tf.step(tf.sub(pre, this.threshold!)));
      case 'topk':
        return tf.mul(tf.relu(pre), topkMembership(pre, this.cfg.k!));
    }
  }

  /** ĥ = D(z) for activations z of an input h (h supplies the centring mean / norm scale, if any). */
  decodeFor(z: Tensor, h: Tensor): Tensor {
    return this.finish(affine(z, this.W_dec, this.b_dec), this.prepare(h));
  }

  /** D(E(h)). */
  reconstruct(h: Tensor): Tensor {
    const p = this.prepare(h);
    const z = this.activate(affine(p.x, this.W_enc, this.b_enc));
    return this.finish(affine(z, this.W_dec, this.b_dec), p);
  }

  /** The error term e(h) = h − D(E(h)): what the SAE does not explain. */
  error(h: Tensor): Tensor {
    return tf.sub(h, this.reconstruct(h));
  }

  /**
   * Decoder output for a change of activations Δz: norm_out(Δz·W_dec) without b_dec, i.e. D(z+Δz) − D(z).
   * `h` supplies the per-token scale under constant_norm_rescale.
   */
  decodeDelta(dz: Tensor, W_decRows: Tensor2D, h?: Tensor): Tensor {
    let out = matmulLast(dz, W_decRows);
    if (this.cfg.normalizeActivations === 'constant_norm_rescale') {
      if (!h) throw new Error('decodeDelta needs h under constant_norm_rescale');
      out = tf.div(out, this.prepare(h).scale!);
    }
    return out;
  }

  /** The input transform alone: x' (what W_enc sees), for feature subsets computed elsewhere. */
  encoderInput(h: Tensor): Tensor {
    return this.prepare(h).x;
  }

  dispose(): void {
    tf.dispose([this.W_enc, this.b_enc, this.W_dec, this.b_dec]);
    this.threshold?.dispose();
  }
}

/** x·W + b over the last axis of an arbitrary-rank x. */
export function affine(x: Tensor, W: Tensor2D, b: Tensor1D): Tensor {
  return tf.add(matmulLast(x, W), b);
}

/** x·W over the last axis of an arbitrary-rank x. */
export function matmulLast(x: Tensor, W: Tensor2D): Tensor {
  if (x.rank === 2) return tf.matMul(x as Tensor2D, W);
  const lead = x.shape.slice(0, -1);
  const flat = tf.reshape(x, [-1, x.shape[x.rank - 1]]) as Tensor2D;
  return tf.reshape(tf.matMul(flat, W), [...lead, W.shape[1]]);
}

/**
 * 1 for the k largest pre-activations of each row, else 0, treated as a constant in differentiation:
 * TopK's membership is a selection, and TF.js has no gradient for the TopK kernel, so the mask is
 * computed inside a custom-gradient op whose forward pass is not taped.
 */
export function topkMembership(pre: Tensor, k: number): Tensor {
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as Tensor;
    const value = tf.tidy(() => {
      // The k-th largest value per row; ties at that value are kept too (rare with real-valued data).
      const lead = x.shape.slice(0, -1);
      const kth = tf.slice(tf.topk(x, k, true).values, [...lead.map(() => 0), k - 1], [...lead, 1]);
      return tf.sub(1, tf.step(tf.sub(kth, x)));
    });
    return { value, gradFunc: (dy: Tensor) => tf.zerosLike(dy) };
  });
  return f(pre) as Tensor;
}
