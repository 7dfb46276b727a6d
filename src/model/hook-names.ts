// Hook names as TransformerLens writes them, read without TensorFlow.js (the page's main thread plans runs by them).
import { ModelInputError } from './errors.ts';
import type { ResidPoint } from './types.ts';

/**
 * "blocks.3.hook_resid_pre" → {layer 3, point hook_resid_pre}. `points`: the residual points the family has (a
 * parallel-attention model has no hook_resid_mid).
 */
export function parseResidHook(
  name: string,
  nLayer: number,
  points: readonly ResidPoint[] = ['hook_resid_pre', 'hook_resid_mid', 'hook_resid_post'],
): { layer: number; point: ResidPoint } {
  const m = /^blocks\.(\d+)\.(hook_resid_pre|hook_resid_mid|hook_resid_post)$/.exec(name);
  if (!m || !points.includes(m[2] as ResidPoint))
    throw new ModelInputError(`"${name}" is not a residual hook of this model (blocks.{i}.${points.join('|')})`);
  const layer = Number(m[1]);
  if (layer >= nLayer) throw new ModelInputError(`${name}: the model has layers 0..${nLayer - 1}`);
  return { layer, point: m[2] as ResidPoint };
}

/** Every hook name of an n-layer model: `outer` before the blocks, `block` per block, `after` at the end. */
/**
 * A rotary attention sublayer's hooks in forward order, from the block's input to its output (Gemma-2, GPT-NeoX;
 * TransformerLens's names: q and k before and after rotary, the scores, the pattern, z).
 */
export const ROTARY_ATTENTION_HOOKS = [
  'hook_resid_pre',
  'ln1.hook_normalized',
  'attn.hook_q',
  'attn.hook_k',
  'attn.hook_v',
  'attn.hook_rot_q',
  'attn.hook_rot_k',
  'attn.hook_attn_scores',
  'attn.hook_pattern',
  'attn.hook_z',
  'hook_attn_out',
] as const;

export function allHookNames(nLayer: number, outer: string[], block: string[], after: string[]): string[] {
  const names = [...outer];
  for (let i = 0; i < nLayer; i++) names.push(...block.map((h) => `blocks.${i}.${h}`));
  return [...names, ...after];
}
