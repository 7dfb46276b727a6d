// Hook points as TransformerLens names them, and what every family does at one: apply the hook, check its shape,
// record it in the cache.
import { tf, type Tensor, type Tensor3D } from '../core/tf.ts';
import { ModelInputError } from './errors.ts';
import type { RunOptions } from './types.ts';

export { allHookNames, parseResidHook } from './hook-names.ts';

/** A misspelt hook name would otherwise silently do nothing. */
export function checkHookNames(opts: RunOptions, valid: () => Set<string>, nLayer: number): void {
  const names = [...Object.keys(opts.hooks ?? {}), ...(opts.cache?.keys() ?? [])];
  if (!names.length) return;
  const known = valid();
  for (const n of names) {
    if (!known.has(n))
      throw new ModelInputError(
        `unknown hook point "${n}" (e.g. blocks.0.hook_resid_pre, blocks.0.attn.hook_pattern; the model has layers 0..${nLayer - 1})`,
      );
  }
}

/** The activation at hook point `name` after its hook (if any), recorded when the cache asks for it. */
export function applyHook(name: string, x: Tensor, opts: RunOptions): Tensor {
  const fn = opts.hooks?.[name];
  if (fn) {
    const out = fn(x, name);
    if (out) {
      if (!tf.util.arraysEqual(out.shape, x.shape))
        throw new ModelInputError(`hook ${name} returned shape [${out.shape.join(', ')}], expected [${x.shape.join(', ')}]`);
      x = out;
    }
  }
  if (opts.cache?.has(name)) opts.cache.set(name, tf.keep(x));
  return x;
}

/** The checks on token ids every family makes before embedding them: rectangular, in the vocabulary, in context. */
export function checkIds(ids: number[][], vocabSize: number, nCtx: number): { B: number; T: number } {
  const B = ids.length;
  const T = ids[0]?.length ?? 0;
  if (!B || !T) throw new ModelInputError('no tokens to run');
  if (T > nCtx) throw new ModelInputError(`sequence of ${T} tokens exceeds the context of ${nCtx}`);
  for (const row of ids) {
    if (row.length !== T) throw new ModelInputError('token batches must be rectangular (pad them)');
    for (const id of row)
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
        throw new ModelInputError(`token id ${id} is outside the vocabulary 0..${vocabSize - 1}`);
  }
  return { B, T };
}

/** The checks on a residual given at a hook: [batch, pos, d_model] within the context. */
export function checkResidual(hook: string, resid: Tensor3D, dModel: number, nCtx: number): void {
  if (resid.rank !== 3 || resid.shape[2] !== dModel)
    throw new ModelInputError(`residual for ${hook} must be [batch, pos, ${dModel}], got [${resid.shape.join(', ')}]`);
  if (resid.shape[1] > nCtx) throw new ModelInputError(`sequence of ${resid.shape[1]} tokens exceeds the context of ${nCtx}`);
}

/**
 * Logits-at rows: the rows of x [B, T, d] at one position per batch row → [B, 1, d], as a one-hot matmul
 * (differentiable on every backend; gather's gradient is not on wasm).
 */
export function rowsAt(x: Tensor, at: readonly number[]): Tensor {
  const [B, T] = x.shape as [number, number];
  if (at.length !== B || at.some((t) => !Number.isInteger(t) || t < 0 || t >= T)) {
    throw new ModelInputError(`logitsAt must hold one position in 0..${T - 1} per batch row (${B}), got [${at.join(', ')}]`);
  }
  return tf.matMul(tf.reshape(tf.oneHot(tf.tensor1d([...at], 'int32'), T), [B, 1, T]), x);
}
