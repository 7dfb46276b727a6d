// Hugging Face Gemma-2 checkpoints (model_type "gemma2"): config.json's fields, and the weights of
// Gemma2ForCausalLM (Linear weights stored [out, in] as torch keeps them, transposed here once into the [in, out]
// that x · W reads; each RMSNorm weight w stored as the offset from one, applied as 1 + w).
import { tf, type Tensor1D, type Tensor2D } from '../../../core/tf.ts';
import type { Checkpoint } from '../../checkpoint.ts';
import { ModelInputError } from '../../errors.ts';
import { TokenTable } from '../../token-table.ts';
import { dtype16Of, Weight16 } from '../../weights16.ts';
export { gemma2Config, gemma2ConfigJson } from './config.ts';
import { disposeBlock, Gemma2, type Gemma2BlockWeights, type Gemma2Config, type Gemma2Weights, type Matrix } from './model.ts';

/**
 * dst[i, col0 + o] = src[o, i] for src [out, in] (torch's Linear layout), dst with `dstCols` columns: x · W's
 * [in, out], written into a column block of a fused weight. In 64 × 64 tiles, each destination row's run written in
 * order (about twice as fast as the plain double loop on a 9216 × 2304 matrix).
 */
function transposeInto(dst: Float32Array, dstCols: number, col0: number, src: Float32Array, out: number, inn: number): void {
  const B = 64;
  for (let i0 = 0; i0 < inn; i0 += B) {
    const i1 = Math.min(inn, i0 + B);
    for (let o0 = 0; o0 < out; o0 += B) {
      const o1 = Math.min(out, o0 + B);
      for (let i = i0; i < i1; i++) {
        const base = i * dstCols + col0;
        for (let o = o0; o < o1; o++) dst[base + o] = src[o * inn + i];
      }
    }
  }
}

/** What a load keeps (family.ts LoadPlan, with its defaults filled in). */
export interface Gemma2Keep {
  /** Keep 16-bit weights in 16 bits (the backend multiplies them natively). */
  weights16: boolean;
  firstLayer: number;
  /** The tokens whose embedding and unembedding rows are kept; null: all. */
  tokens: readonly number[] | null;
}

const LINEAR = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.o_proj',
  'mlp.gate_proj',
  'mlp.up_proj',
  'mlp.down_proj',
];
const NORMS = ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm'];

/** Refuse a checkpoint that is not Gemma-2's, or whose tensors the config does not account for. */
export function checkGemma2Checkpoint(ckpt: Checkpoint, c: Gemma2Config): void {
  if (!ckpt.has('model.embed_tokens.weight'))
    throw new ModelInputError(`${ckpt.source}: no model.embed_tokens.weight (is this a Gemma-2 checkpoint?)`);
  const known = new Set(['model.embed_tokens.weight', 'model.norm.weight']);
  if (!c.tieWordEmbeddings) known.add('lm_head.weight');
  for (let i = 0; i < c.nLayer; i++) for (const n of [...LINEAR, ...NORMS]) known.add(`model.layers.${i}.${n}.weight`);
  // Rotary tables some exports keep, and a tied head's copy of the embedding, are not parameters.
  const ignored = c.tieWordEmbeddings
    ? /^lm_head\.weight$|^model\.(layers\.\d+\.self_attn\.)?rotary_emb\.inv_freq$/
    : /^model\.(layers\.\d+\.self_attn\.)?rotary_emb\.inv_freq$/;
  ckpt.checkNoneUnexpected(known, ignored, `num_hidden_layers=${c.nLayer}, tie_word_embeddings=${c.tieWordEmbeddings}`);
}

/**
 * Linear weights [out_k, in] as one projection: float32 side by side [in, Σ out_k] for x · W, or — 16-bit kept, all
 * parts stored in one 16-bit dtype — their stored rows stacked [Σ out_k, in] for x · Wᵀ.
 */
async function fused(ckpt: Checkpoint, names: string[], outs: number[], inn: number, keep16: boolean): Promise<Matrix> {
  const dtype = dtype16Of(ckpt.dtype(names[0]));
  if (keep16 && dtype && names.every((n) => ckpt.dtype(n) === ckpt.dtype(names[0]))) {
    const rows = outs.reduce((a, b) => a + b, 0);
    const bits = new Uint16Array(rows * inn);
    let row0 = 0;
    for (const [k, n] of names.entries()) {
      bits.set((await ckpt.half(n, [outs[k], inn])).data, row0 * inn);
      row0 += outs[k];
    }
    return Weight16.fromBits(bits, dtype, [rows, inn]);
  }
  const cols = outs.reduce((a, b) => a + b, 0);
  const W = new Float32Array(inn * cols);
  let col0 = 0;
  for (const [k, n] of names.entries()) {
    transposeInto(W, cols, col0, await ckpt.read(n, [outs[k], inn]), outs[k], inn);
    col0 += outs[k];
  }
  return tf.tensor2d(W, [inn, cols]) as Tensor2D;
}

/** The scale 1 + w of an RMSNorm weight, in a new array (the checkpoint's own is left as read). */
async function norm(ckpt: Checkpoint, name: string, d: number): Promise<Tensor1D> {
  return tf.tensor1d(Float32Array.from(await ckpt.read(name, [d]), (w) => w + 1)) as Tensor1D;
}

/** Layer i's weights from a checkpoint in the Hugging Face layout (Gemma2ForCausalLM: "model." prefix). */
export async function gemma2Block(ckpt: Checkpoint, c: Gemma2Config, i: number, keep16: boolean): Promise<Gemma2BlockWeights> {
  const { dModel: d, dMlp, nHead: H, nKvHead: Hkv, headDim: dh } = c;
  const p = `model.layers.${i}.`;
  const made: (Tensor1D | Matrix)[] = [];
  const track = <T extends Tensor1D | Matrix>(t: T) => {
    made.push(t);
    return t;
  };
  try {
    return {
      ln1: track(await norm(ckpt, `${p}input_layernorm.weight`, d)),
      W_qkv: track(
        await fused(
          ckpt,
          [`${p}self_attn.q_proj.weight`, `${p}self_attn.k_proj.weight`, `${p}self_attn.v_proj.weight`],
          [H * dh, Hkv * dh, Hkv * dh],
          d,
          keep16,
        ),
      ),
      W_O: track(await fused(ckpt, [`${p}self_attn.o_proj.weight`], [d], H * dh, keep16)),
      lnPostAttn: track(await norm(ckpt, `${p}post_attention_layernorm.weight`, d)),
      ln2: track(await norm(ckpt, `${p}pre_feedforward_layernorm.weight`, d)),
      W_gateUp: track(await fused(ckpt, [`${p}mlp.gate_proj.weight`, `${p}mlp.up_proj.weight`], [dMlp, dMlp], d, keep16)),
      W_down: track(await fused(ckpt, [`${p}mlp.down_proj.weight`], [d], dMlp, keep16)),
      lnPostMlp: track(await norm(ckpt, `${p}post_feedforward_layernorm.weight`, d)),
    };
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
}

/** A token matrix [V, d] (the embedding, an untied lm_head): whole, 16-bit when kept so, or the kept tokens' rows. */
async function tokenTable(ckpt: Checkpoint, name: string, c: Gemma2Config, keep: Gemma2Keep): Promise<TokenTable> {
  const shape: [number, number] = [c.vocabSize, c.dModel];
  if (keep.tokens) return TokenTable.rows(keep.tokens, await ckpt.rows(name, shape, keep.tokens), c.vocabSize, c.dModel);
  const dtype = dtype16Of(ckpt.dtype(name));
  if (keep.weights16 && dtype) return TokenTable.whole(Weight16.fromBits((await ckpt.half(name, shape)).data, dtype, shape));
  return TokenTable.whole(tf.tensor2d(await ckpt.read(name, shape), shape) as Tensor2D);
}

/**
 * Gemma-2's weights from a checkpoint, keeping what `keep` says: the layers from keep.firstLayer on (the earlier ones
 * null: read when needed through loadBlock), the token rows of keep.tokens, 16-bit matrices where asked.
 */
export async function gemma2Weights(ckpt: Checkpoint, c: Gemma2Config, keep: Gemma2Keep): Promise<Gemma2Weights> {
  checkGemma2Checkpoint(ckpt, c);
  const blocks: (Gemma2BlockWeights | null)[] = [];
  let embedding: TokenTable | null = null;
  let unembedding: TokenTable | null = null;
  try {
    // The embedding first: a config that does not match the checkpoint is reported on its first tensor.
    embedding = await tokenTable(ckpt, 'model.embed_tokens.weight', c, keep);
    for (let i = 0; i < c.nLayer; i++) blocks.push(i < keep.firstLayer ? null : await gemma2Block(ckpt, c, i, keep.weights16));
    unembedding = c.tieWordEmbeddings ? embedding : await tokenTable(ckpt, 'lm_head.weight', c, keep);
    return { embedding, blocks, lnFinal: await norm(ckpt, 'model.norm.weight', c.dModel), unembedding };
  } catch (e) {
    embedding?.dispose();
    if (unembedding !== embedding) unembedding?.dispose();
    for (const b of blocks) if (b) disposeBlock(b);
    throw e;
  }
}

/**
 * A model with random weights at the given shape (tests and benches): every matrix N(0, initStd), each RMSNorm
 * scale 1 + N(0, normStd) (as stored weights near zero give), an own lm_head when the config is untied.
 */
export function randomGemma2(config: Gemma2Config, seed: number, initStd = 0.02, normStd = 0.1): Gemma2 {
  const { dModel: d, dMlp, nHead: H, nKvHead: Hkv, headDim: dh, vocabSize: V, nLayer } = config;
  let k = seed;
  const normal = (shape: [number, number]) => tf.randomNormal(shape, 0, initStd, 'float32', k++) as Tensor2D;
  const scale = () => tf.tidy(() => tf.add(1, tf.randomNormal([d], 0, normStd, 'float32', k++))) as Tensor1D;
  const blocks: Gemma2BlockWeights[] = Array.from({ length: nLayer }, () => ({
    ln1: scale(),
    W_qkv: normal([d, (H + 2 * Hkv) * dh]),
    W_O: normal([H * dh, d]),
    lnPostAttn: scale(),
    ln2: scale(),
    W_gateUp: normal([d, 2 * dMlp]),
    W_down: normal([dMlp, d]),
    lnPostMlp: scale(),
  }));
  const embedding = TokenTable.whole(normal([V, d]));
  return new Gemma2(config, {
    embedding,
    blocks,
    lnFinal: scale(),
    unembedding: config.tieWordEmbeddings ? embedding : TokenTable.whole(normal([V, d])),
  });
}
