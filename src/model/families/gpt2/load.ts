// Hugging Face GPT-2 checkpoints: config.json + model.safetensors (Conv1D weights [in, out], optional
// "transformer." prefix, attn.bias / attn.masked_bias buffers ignored). Also the writer, so the built-in
// model is stored in exactly the layout real GPT-2 uses.
import { tf, type Tensor1D, type Tensor2D } from '../../../core/tf.ts';
import { writeSafetensors } from '../../../io/safetensors.ts';
import { Checkpoint } from '../../checkpoint.ts';
import { parseConfigJson } from '../../config.ts';
import { GPT2, ModelInputError, type BlockWeights, type GPT2Config, type GPT2Weights } from './model.ts';

export interface HfGpt2Config {
  model_type?: string;
  n_embd: number;
  n_layer: number;
  n_head: number;
  n_positions?: number;
  n_ctx?: number;
  vocab_size: number;
  layer_norm_epsilon?: number;
  activation_function?: string;
  [k: string]: unknown;
}

export function parseGpt2Config(json: string, source = 'config.json'): { config: GPT2Config; raw: HfGpt2Config } {
  const raw = parseConfigJson(json, source) as HfGpt2Config;
  return { config: gpt2Config(raw, source), raw };
}

/** GPT2Config from config.json's fields, refusing settings that change the arithmetic away from GPT-2's. */
export function gpt2Config(raw: HfGpt2Config, source: string): GPT2Config {
  const int = (k: keyof HfGpt2Config, v: unknown) => {
    if (!Number.isInteger(v) || (v as number) <= 0)
      throw new ModelInputError(`${source}: ${String(k)} must be a positive integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  if (raw.model_type !== undefined && raw.model_type !== 'gpt2')
    throw new ModelInputError(`${source}: model_type "${raw.model_type}" is not supported (gpt2 only)`);
  const act = raw.activation_function ?? 'gelu_new';
  if (!['gelu_new', 'gelu_pytorch_tanh'].includes(act))
    throw new ModelInputError(
      `${source}: activation_function "${act}" is not supported (GPT-2's tanh GELU: gelu_new or gelu_pytorch_tanh)`,
    );
  // Options that change the arithmetic; GPT-2 checkpoints leave them at these defaults.
  if (raw.scale_attn_weights === false) throw new ModelInputError(`${source}: scale_attn_weights=false is not supported`);
  if (raw.scale_attn_by_inverse_layer_idx === true)
    throw new ModelInputError(`${source}: scale_attn_by_inverse_layer_idx=true is not supported`);
  if (raw.tie_word_embeddings === false)
    throw new ModelInputError(`${source}: tie_word_embeddings=false is not supported (GPT-2 unembeds with wte)`);
  const lnEps = raw.layer_norm_epsilon ?? 1e-5;
  if (typeof lnEps !== 'number' || !(lnEps > 0) || !Number.isFinite(lnEps))
    throw new ModelInputError(`${source}: layer_norm_epsilon must be a positive number, got ${JSON.stringify(lnEps)}`);
  const config: GPT2Config = {
    dModel: int('n_embd', raw.n_embd),
    nLayer: int('n_layer', raw.n_layer),
    nHead: int('n_head', raw.n_head),
    nCtx: int('n_positions', raw.n_positions ?? raw.n_ctx),
    vocabSize: int('vocab_size', raw.vocab_size),
    lnEps,
  };
  if (config.dModel % config.nHead)
    throw new ModelInputError(`${source}: n_embd ${config.dModel} is not divisible by n_head ${config.nHead}`);
  if (raw.n_inner !== undefined && raw.n_inner !== null && raw.n_inner !== 4 * config.dModel) {
    throw new ModelInputError(
      `${source}: n_inner ${JSON.stringify(raw.n_inner)} is not supported (the MLP width must be 4·n_embd = ${4 * config.dModel})`,
    );
  }
  return config;
}

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

export function gpt2ConfigJson(c: GPT2Config, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify(
    {
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      n_embd: c.dModel,
      n_layer: c.nLayer,
      n_head: c.nHead,
      n_positions: c.nCtx,
      n_ctx: c.nCtx,
      vocab_size: c.vocabSize,
      layer_norm_epsilon: c.lnEps,
      activation_function: 'gelu_new',
      ...extra,
    },
    null,
    2,
  )}\n`;
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
