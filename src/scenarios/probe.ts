// The probe scenario: bring your own activations and linear probe (docs/method.md §7.5).
//   activations.safetensors: h [N, d] or [N, T, d], optional mask [N, T] (1 = real token); mean-pooled.
//   probe.safetensors:       w [d] with b [] or [1] (binary), or w [d, C] with b [C] and a target class.
// Behaviour B = the target logit of the probe on the mean-pooled residual. Valid flip: B > 0 before the clamp
// and B ≤ 0 after; recovered: B > 0 again under the active clamp. δ sits at every real token by default.
import { InputError } from '../core/errors.ts';
import { tf, type Tensor1D, type Tensor3D } from '../core/tf.ts';
import type { Behaviour } from '../core/site.ts';
import { firstNonFinite, parseSafetensors, requireTensor } from '../io/safetensors.ts';

export class ProbeInputError extends InputError {
  override name = 'ProbeInputError';
}

export interface Activations {
  /** Row-major [N, T, d] (T = 1 for pooled [N, d] inputs). */
  h: Float32Array;
  n: number;
  t: number;
  d: number;
  /** [N, T], 1 = real token; all ones when the file has no mask. */
  mask: Float32Array;
}

export interface LinearProbe {
  d: number;
  classes: number;
  /** [d, C] row-major (C = 1 for a binary probe). */
  w: Float32Array;
  b: Float32Array;
}

export function parseActivations(bytes: Uint8Array, source = 'activations'): Activations {
  const file = parseSafetensors(bytes, source);
  const h = requireTensor(file, 'h', source, [2, 3]);
  const [n, t, d] = h.shape.length === 2 ? [h.shape[0], 1, h.shape[1]] : h.shape;
  if (n === 0 || t === 0 || d === 0) throw new ProbeInputError(`${source}: h is empty (shape [${h.shape.join(', ')}])`);
  const bad = firstNonFinite(h.data);
  if (bad >= 0) {
    throw new ProbeInputError(
      `${source}: h has a non-finite value (${h.data[bad]}) at sample ${Math.floor(bad / (t * d))}, token ${Math.floor(bad / d) % t}`,
    );
  }
  let mask: Float32Array = new Float32Array(n * t).fill(1);
  const m = file.tensors.get('mask');
  if (m) {
    if (h.shape.length === 2) throw new ProbeInputError(`${source}: a mask only makes sense with h of shape [N, T, d]`);
    if (m.shape.length !== 2 || m.shape[0] !== n || m.shape[1] !== t) {
      throw new ProbeInputError(`${source}: mask has shape [${m.shape.join(', ')}], expected [${n}, ${t}] to match h`);
    }
    for (let i = 0; i < m.data.length; i++) {
      if (m.data[i] !== 0 && m.data[i] !== 1) throw new ProbeInputError(`${source}: mask must hold 0 or 1, found ${m.data[i]}`);
    }
    for (let i = 0; i < n; i++) {
      if (!m.data.subarray(i * t, (i + 1) * t).some((v) => v === 1))
        throw new ProbeInputError(`${source}: sample ${i} has no real token in its mask`);
    }
    mask = m.data;
  }
  return { h: h.data, n, t, d, mask };
}

export function parseProbe(bytes: Uint8Array, source = 'probe'): LinearProbe {
  const file = parseSafetensors(bytes, source);
  const w = requireTensor(file, 'w', source, [1, 2]);
  const b = requireTensor(file, 'b', source, [0, 1]);
  const d = w.shape[0];
  const classes = w.shape.length === 2 ? w.shape[1] : 1;
  const bSize = b.data.length;
  if (w.shape.length === 1 && bSize !== 1)
    throw new ProbeInputError(`${source}: a binary probe (w [d]) needs b of shape [] or [1], got [${b.shape.join(', ')}]`);
  if (w.shape.length === 2 && (b.shape.length !== 1 || bSize !== classes)) {
    throw new ProbeInputError(`${source}: w is [${d}, ${classes}] so b must be [${classes}], got [${b.shape.join(', ')}]`);
  }
  for (const [name, t] of [
    ['w', w],
    ['b', b],
  ] as const) {
    const bad = firstNonFinite(t.data);
    if (bad >= 0) throw new ProbeInputError(`${source}: ${name} has a non-finite value (${t.data[bad]}) at flat index ${bad}`);
  }
  return { d, classes, w: w.data, b: b.data };
}

/** Check that activations, probe and SAE agree, and resolve the target class. */
export function checkProbeScenario(acts: Activations, probe: LinearProbe, dSae: number, target: number | undefined): number {
  if (probe.d !== acts.d) throw new ProbeInputError(`probe has d=${probe.d} but activations have d=${acts.d}`);
  if (dSae !== acts.d) throw new ProbeInputError(`SAE has d_in=${dSae} but activations have d=${acts.d}`);
  const c = target ?? (probe.classes === 1 ? 0 : undefined);
  if (c === undefined)
    throw new ProbeInputError(`the probe has ${probe.classes} classes: choose one with --target 0..${probe.classes - 1}`);
  if (!Number.isInteger(c) || c < 0 || c >= probe.classes)
    throw new ProbeInputError(`target class ${c} is out of range 0..${probe.classes - 1}`);
  return c;
}

/** B = (masked mean over tokens of h)·w_c + b_c. The returned function owns GPU copies of w, b and the mask. */
export function probeBehaviour(
  probe: LinearProbe,
  target: number,
  acts: Pick<Activations, 'n' | 't' | 'mask'>,
): { behaviour: Behaviour; dispose: () => void } {
  const wc = new Float32Array(probe.d);
  for (let j = 0; j < probe.d; j++) wc[j] = probe.w[j * probe.classes + target];
  const w = tf.tensor2d(wc, [1, probe.d]);
  const bias = tf.scalar(probe.b[target]);
  const weights = new Float32Array(acts.n * acts.t);
  for (let i = 0; i < acts.n; i++) {
    let k = 0;
    for (let j = 0; j < acts.t; j++) k += acts.mask[i * acts.t + j];
    for (let j = 0; j < acts.t; j++) weights[i * acts.t + j] = acts.mask[i * acts.t + j] / k;
  }
  // Pooling weights [N, 1, T]: a masked mean is one batched matmul. With one token per sample it is a product by
  // a column, and the score a row-wise dot product: on wasm a batch of 1 × 1 products (and the score's gradient,
  // a product with a transposed column) costs about 0.5 ms where an elementwise product takes tens of µs.
  const pool = acts.t === 1 ? tf.tensor2d(weights, [acts.n, 1]) : tf.tensor3d(weights, [acts.n, 1, acts.t]);
  const behaviour: Behaviour = (hRec: Tensor3D) => {
    const pooled =
      acts.t === 1 ? tf.mul(tf.reshape(hRec, [acts.n, -1]), pool) : tf.reshape(tf.matMul(pool as Tensor3D, hRec), [acts.n, -1]);
    return tf.add(tf.sum(tf.mul(pooled, w), 1), bias) as Tensor1D; // [N]
  };
  return { behaviour, dispose: () => tf.dispose([w, bias, pool]) };
}

/** δ at every real token (TPP style), padded with −1 so every sample has T slots. */
export function allTokenPositions(acts: Pick<Activations, 'n' | 't' | 'mask'>): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < acts.n; i++) {
    const row: number[] = [];
    for (let j = 0; j < acts.t; j++) row.push(acts.mask[i * acts.t + j] ? j : -1);
    out.push(row);
  }
  return out;
}

export function activationsTensor(acts: Activations): Tensor3D {
  return tf.tensor3d(acts.h, [acts.n, acts.t, acts.d]);
}
