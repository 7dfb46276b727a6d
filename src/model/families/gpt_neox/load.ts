// Hugging Face GPT-NeoX checkpoints (GPTNeoXForCausalLM: Pythia): config.json's fields, and the weights
// (torch Linear [out, in], transposed once here to [in, out]; the fused query_key_value's outputs, laid out
// [head][q | k | v][head_size], reordered to q | k | v blocks so that one product gives each as a contiguous block).
// Also randomGptNeox for tests and benches.
import { tf, type Tensor1D, type Tensor2D } from '../../../core/tf.ts';
import type { Checkpoint } from '../../checkpoint.ts';
import { ModelInputError } from '../../errors.ts';
export { gptNeoxConfig } from './config.ts';
import { GptNeox, type GptNeoxBlockWeights, type GptNeoxConfig, type GptNeoxWeights } from './model.ts';

/** hidden_act values and the GELU each names in Hugging Face's ACT2FN. */
/** A row-major [rows, cols] array transposed to [cols, rows] (a torch Linear weight [out, in] → [in, out]). */
export function transposeHost(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = src[base + c];
  }
  return out;
}

/**
 * query_key_value's output index (h·3 + j)·hs + e (head h, j = q, k, v, element e) → j·d + h·hs + e: the
 * column permutation that lays the outputs out q | k | v, each head-major.
 */
export function qkvColumn(out: number, d: number, nHead: number): number {
  const hs = d / nHead;
  const h = Math.floor(out / (3 * hs));
  const j = Math.floor((out % (3 * hs)) / hs);
  return j * d + h * hs + (out % hs);
}

/** query_key_value.weight [3d, d] (torch) → W [d, 3d] with columns q | k | v; its bias [3d] the same way. */
function qkvWeights(weight: Float32Array, bias: Float32Array | null, d: number, nHead: number): { W: Float32Array; b: Float32Array } {
  const W = new Float32Array(3 * d * d);
  const b = new Float32Array(3 * d);
  for (let o = 0; o < 3 * d; o++) {
    const c = qkvColumn(o, d, nHead);
    for (let i = 0; i < d; i++) W[i * 3 * d + c] = weight[o * d + i];
    if (bias) b[c] = bias[o];
  }
  return { W, b };
}

/** Buffers a GPT-NeoX checkpoint may carry that are not parameters (causal masks, rotary frequencies). */
const BUFFERS = /^gpt_neox\.(layers\.\d+\.attention\.(bias|masked_bias|rotary_emb\.inv_freq)|rotary_emb\.inv_freq)$/;

/** The weights of a GPTNeoXForCausalLM checkpoint in the Hugging Face layout. */
export function gptNeoxWeights(ckpt: Checkpoint, c: GptNeoxConfig): GptNeoxWeights {
  if (!ckpt.has('gpt_neox.embed_in.weight'))
    throw new ModelInputError(
      `${ckpt.source}: no gpt_neox.embed_in.weight (is this a GPTNeoXForCausalLM checkpoint?${ckpt.has('embed_in.weight') ? ' this looks like a GPTNeoXModel without its language-model head' : ''})`,
    );
  const { dModel: d, dMlp, nHead, vocabSize: V } = c;
  const known = new Set(['gpt_neox.embed_in.weight', 'gpt_neox.final_layer_norm.weight', 'gpt_neox.final_layer_norm.bias']);
  if (!c.tiedEmbeddings) known.add('embed_out.weight');
  for (let i = 0; i < c.nLayer; i++) {
    const p = `gpt_neox.layers.${i}.`;
    for (const n of ['input_layernorm', 'post_attention_layernorm', 'mlp.dense_h_to_4h', 'mlp.dense_4h_to_h'])
      known.add(`${p}${n}.weight`).add(`${p}${n}.bias`);
    for (const n of ['attention.query_key_value', 'attention.dense']) {
      known.add(`${p}${n}.weight`);
      if (c.attentionBias) known.add(`${p}${n}.bias`);
    }
  }
  // A tied checkpoint may still carry embed_out.weight, a copy of embed_in's.
  const ignored = c.tiedEmbeddings ? new RegExp(`${BUFFERS.source}|^embed_out\\.weight$`) : BUFFERS;
  ckpt.checkNoneUnexpected(known, ignored, `num_hidden_layers=${c.nLayer}${c.attentionBias ? '' : ', attention_bias=false'}`);
  // In a tidy scope, so that a tensor refused halfway frees those already made.
  return tf.tidy(() => {
    const v1 = (name: string, n = d) => tf.tensor1d(ckpt.take(name, [n]));
    /** A torch Linear weight [out, in] as [in, out]. */
    const linear = (name: string, out: number, inp: number) =>
      tf.tensor2d(transposeHost(ckpt.take(name, [out, inp]), out, inp), [inp, out]);
    // The embedding first: a config that does not match the checkpoint is reported on its first tensor.
    const W_E = tf.tensor2d(ckpt.take('gpt_neox.embed_in.weight', [V, d]), [V, d]);
    const blocks: GptNeoxBlockWeights[] = [];
    for (let i = 0; i < c.nLayer; i++) {
      const p = `gpt_neox.layers.${i}.`;
      const qkv = qkvWeights(
        ckpt.take(`${p}attention.query_key_value.weight`, [3 * d, d]),
        c.attentionBias ? ckpt.take(`${p}attention.query_key_value.bias`, [3 * d]) : null,
        d,
        nHead,
      );
      blocks.push({
        ln1_w: v1(`${p}input_layernorm.weight`),
        ln1_b: v1(`${p}input_layernorm.bias`),
        W_qkv: tf.tensor2d(qkv.W, [d, 3 * d]),
        b_qkv: tf.tensor1d(qkv.b),
        W_O: linear(`${p}attention.dense.weight`, d, d),
        b_O: c.attentionBias ? v1(`${p}attention.dense.bias`) : (tf.zeros([d]) as Tensor1D),
        ln2_w: v1(`${p}post_attention_layernorm.weight`),
        ln2_b: v1(`${p}post_attention_layernorm.bias`),
        W_in: linear(`${p}mlp.dense_h_to_4h.weight`, dMlp, d),
        b_in: v1(`${p}mlp.dense_h_to_4h.bias`, dMlp),
        W_out: linear(`${p}mlp.dense_4h_to_h.weight`, d, dMlp),
        b_out: v1(`${p}mlp.dense_4h_to_h.bias`),
      });
    }
    const weights: GptNeoxWeights = {
      W_E,
      blocks,
      lnf_w: v1('gpt_neox.final_layer_norm.weight'),
      lnf_b: v1('gpt_neox.final_layer_norm.bias'),
      ...(c.tiedEmbeddings ? {} : { W_U: linear('embed_out.weight', V, d) }),
    };
    return weights as unknown as tf.TensorContainer;
  }) as unknown as GptNeoxWeights;
}

/**
 * A randomly initialised model: weights N(0, initStd), output projections scaled by 1/√(2·n_layer), LayerNorms the
 * identity, biases zero; its own unembedding unless config.tiedEmbeddings.
 */
export function randomGptNeox(config: GptNeoxConfig, seed: number, initStd = 0.02): GptNeox {
  const { dModel: d, dMlp, nLayer, vocabSize: V } = config;
  let k = seed;
  const normal = (shape: [number, number], std: number) => tf.randomNormal(shape, 0, std, 'float32', k++) as Tensor2D;
  const proj = initStd / Math.sqrt(2 * nLayer);
  const ones = () => tf.ones([d]) as Tensor1D;
  const zeros = (n = d) => tf.zeros([n]) as Tensor1D;
  const blocks: GptNeoxBlockWeights[] = Array.from({ length: nLayer }, () => ({
    ln1_w: ones(),
    ln1_b: zeros(),
    W_qkv: normal([d, 3 * d], initStd),
    b_qkv: zeros(3 * d),
    W_O: normal([d, d], proj),
    b_O: zeros(),
    ln2_w: ones(),
    ln2_b: zeros(),
    W_in: normal([d, dMlp], initStd),
    b_in: zeros(dMlp),
    W_out: normal([dMlp, d], proj),
    b_out: zeros(),
  }));
  return new GptNeox(config, {
    W_E: normal([V, d], initStd),
    blocks,
    lnf_w: ones(),
    lnf_b: zeros(),
    ...(config.tiedEmbeddings ? {} : { W_U: normal([d, V], initStd) }),
  });
}
