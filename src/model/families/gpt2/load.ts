// Hugging Face GPT-2 checkpoints: config.json + model.safetensors (Conv1D weights [in, out], optional
// "transformer." prefix, attn.bias / attn.masked_bias buffers ignored). Also the writer, so the built-in
// model is stored in exactly the layout real GPT-2 uses.
import { tf, type Tensor1D, type Tensor2D } from '../../../core/tf.ts';
import { writeSafetensors } from '../../../io/safetensors.ts';
import { Checkpoint } from '../../checkpoint.ts';
import { type HfGpt2Config, parseGpt2Config } from './config.ts';
import { GPT2, ModelInputError, type BlockWeights, type GPT2Config, type GPT2Weights } from './model.ts';

export { gpt2Config, gpt2ConfigJson, type HfGpt2Config, parseGpt2Config } from './config.ts';

/** GPT-2's weights from a checkpoint in the Hugging Face layout (Conv1D [in, out]; optional "transformer." prefix). */
export function gpt2Weights(ckpt: Checkpoint, c: GPT2Config): GPT2Weights {
  const prefix = ckpt.has('wte.weight') ? '' : ckpt.has('transformer.wte.weight') ? 'transformer.' : null;
  if (prefix === null) throw new ModelInputError(`${ckpt.source}: no wte.weight (is this a GPT-2 checkpoint?)`);
  const get = (name: string, shape: number[]) => {
    const data = ckpt.take(prefix + name, shape);
    return shape.length === 1 ? tf.tensor1d(data) : tf.tensor2d(data, shape as [number, number]);
  };
  // Causal-mask buffers and a tied lm_head copy are not parameters.
  const known = new Set(['wte.weight', 'wpe.weight', 'ln_f.weight', 'ln_f.bias'].map((n) => prefix + n));
  for (let i = 0; i < c.nLayer; i++) {
    for (const n of ['ln_1', 'ln_2', 'attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'])
      known.add(`${prefix}h.${i}.${n}.weight`).add(`${prefix}h.${i}.${n}.bias`);
  }
  ckpt.checkNoneUnexpected(known, /^(transformer\.)?h\.\d+\.attn\.(bias|masked_bias)$|^lm_head\.weight$/, `n_layer=${c.nLayer}`);
  const d = c.dModel;
  const v1 = (n: string) => get(n, [d]) as Tensor1D;
  const W_E = get('wte.weight', [c.vocabSize, d]) as Tensor2D;
  const W_pos = get('wpe.weight', [c.nCtx, d]) as Tensor2D;
  const blocks: BlockWeights[] = [];
  for (let i = 0; i < c.nLayer; i++) {
    const p = `h.${i}.`;
    blocks.push({
      ln1_w: v1(`${p}ln_1.weight`),
      ln1_b: v1(`${p}ln_1.bias`),
      W_attn: get(`${p}attn.c_attn.weight`, [d, 3 * d]) as Tensor2D,
      b_attn: get(`${p}attn.c_attn.bias`, [3 * d]) as Tensor1D,
      W_O: get(`${p}attn.c_proj.weight`, [d, d]) as Tensor2D,
      b_O: v1(`${p}attn.c_proj.bias`),
      ln2_w: v1(`${p}ln_2.weight`),
      ln2_b: v1(`${p}ln_2.bias`),
      W_in: get(`${p}mlp.c_fc.weight`, [d, 4 * d]) as Tensor2D,
      b_in: get(`${p}mlp.c_fc.bias`, [4 * d]) as Tensor1D,
      W_out: get(`${p}mlp.c_proj.weight`, [4 * d, d]) as Tensor2D,
      b_out: v1(`${p}mlp.c_proj.bias`),
    });
  }
  return {
    W_E,
    W_pos,
    blocks,
    lnf_w: v1('ln_f.weight'),
    lnf_b: v1('ln_f.bias'),
  };
}

/** Build a model from the two files of a Hugging Face GPT-2 folder. */
export function loadGpt2(configJson: string, safetensors: Uint8Array, source = 'model'): { model: GPT2; raw: HfGpt2Config } {
  const { config, raw } = parseGpt2Config(configJson, `${source}/config.json`);
  const ckpt = new Checkpoint([{ name: 'model.safetensors', bytes: safetensors }], source);
  return { model: new GPT2(config, gpt2Weights(ckpt, config)), raw };
}

/** HF layout names for a model's tensors (no prefix), in a fixed order. */
export async function gpt2ToSafetensors(model: GPT2): Promise<Uint8Array> {
  const w = model.weights;
  if (w.W_U) throw new ModelInputError('a model with its own unembedding (processed weights) has no Hugging Face GPT-2 layout');
  const entries: [string, tf.Tensor][] = [
    ['wte.weight', w.W_E],
    ['wpe.weight', w.W_pos],
  ];
  w.blocks.forEach((b, i) => {
    const p = `h.${i}.`;
    entries.push(
      [`${p}ln_1.weight`, b.ln1_w],
      [`${p}ln_1.bias`, b.ln1_b],
      [`${p}attn.c_attn.weight`, b.W_attn],
      [`${p}attn.c_attn.bias`, b.b_attn],
      [`${p}attn.c_proj.weight`, b.W_O],
      [`${p}attn.c_proj.bias`, b.b_O],
      [`${p}ln_2.weight`, b.ln2_w],
      [`${p}ln_2.bias`, b.ln2_b],
      [`${p}mlp.c_fc.weight`, b.W_in],
      [`${p}mlp.c_fc.bias`, b.b_in],
      [`${p}mlp.c_proj.weight`, b.W_out],
      [`${p}mlp.c_proj.bias`, b.b_out],
    );
  });
  entries.push(['ln_f.weight', w.lnf_w], ['ln_f.bias', w.lnf_b]);
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of entries) tensors[name] = { shape: t.shape, data: (await t.data()) as Float32Array };
  return writeSafetensors(tensors);
}

/** A randomly initialised model (GPT-2's init: N(0, std = 0.02), residual projections scaled by 1/√(2·n_layer)). */
export function randomGpt2(config: GPT2Config, seed: number, initStd = 0.02): GPT2 {
  const { dModel: d, nLayer, vocabSize, nCtx } = config;
  let k = seed;
  const normal = (shape: [number, number], std: number) => tf.randomNormal(shape, 0, (std * initStd) / 0.02, 'float32', k++) as Tensor2D;
  const proj = 0.02 / Math.sqrt(2 * nLayer);
  const blocks: BlockWeights[] = Array.from({ length: nLayer }, () => ({
    ln1_w: tf.ones([d]) as Tensor1D,
    ln1_b: tf.zeros([d]) as Tensor1D,
    W_attn: normal([d, 3 * d], 0.02),
    b_attn: tf.zeros([3 * d]) as Tensor1D,
    W_O: normal([d, d], proj),
    b_O: tf.zeros([d]) as Tensor1D,
    ln2_w: tf.ones([d]) as Tensor1D,
    ln2_b: tf.zeros([d]) as Tensor1D,
    W_in: normal([d, 4 * d], 0.02),
    b_in: tf.zeros([4 * d]) as Tensor1D,
    W_out: normal([4 * d, d], proj),
    b_out: tf.zeros([d]) as Tensor1D,
  }));
  return new GPT2(config, {
    W_E: normal([vocabSize, d], 0.02),
    W_pos: normal([nCtx, d], 0.01),
    blocks,
    lnf_w: tf.ones([d]) as Tensor1D,
    lnf_b: tf.zeros([d]) as Tensor1D,
  });
}
