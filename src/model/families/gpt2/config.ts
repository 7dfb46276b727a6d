// GPT-2's config.json (model_type "gpt2"): its fields read and checked, what the memory plan needs of them, and its
// tokenizer. No TensorFlow.js here: the page's main thread reads it before any weight is downloaded.
import { type HfConfig, parseConfigJson } from '../../config.ts';
import { ModelInputError } from '../../errors.ts';
import type { FamilyConfig } from '../../family.ts';
import { gpt2Tokenizer } from '../../tokenizers/index.ts';
import type { GPT2Config } from './model.ts';

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

export const gpt2FamilyConfig: FamilyConfig<GPT2Config> = {
  modelType: 'gpt2',
  title: 'GPT-2',
  processingNote:
    'fold each LayerNorm into the weights that read it, centre the residual writers (every residual hook loses its mean over d_model) and the unembedding (logits lose their mean over the vocabulary), fold the value biases',
  parseConfig: (raw, source) => gpt2Config(raw as HfGpt2Config, source),
  shape: (c) => ({
    family: 'gpt2',
    nLayer: c.nLayer,
    dModel: c.dModel,
    nHead: c.nHead,
    nKvHeads: c.nHead,
    headDim: c.dModel / c.nHead,
    dMlp: 4 * c.dModel,
    vocab: c.vocabSize,
    nCtx: c.nCtx,
    tied: true,
    gatedMlp: false,
    dtypeBytes: 4,
    learnedPositions: true,
    biases: true,
    normsPerBlock: 2,
    normBias: true,
    foldsUnembedding: true,
  }),
  tokenizer: (files, _config, raw) => gpt2Tokenizer(files.tokenizerJson, raw as HfConfig),
};
