// GPT-NeoX's config.json (model_type "gpt_neox": Pythia): its fields read and checked, what the memory plan needs of
// them, and its tokenizer. No TensorFlow.js here: the page's main thread reads it before any weight is downloaded.
import { configFields, type HfConfig } from '../../config.ts';
import { ModelInputError } from '../../errors.ts';
import type { FamilyConfig } from '../../family.ts';
import { HfTokenizer } from '../../tokenizers/hf.ts';
import type { GptNeoxConfig } from './model.ts';

const ACTIVATIONS: Record<string, GptNeoxConfig['act']> = {
  gelu: 'erf',
  gelu_new: 'tanh',
  gelu_pytorch_tanh: 'tanh',
  gelu_fast: 'tanh',
};

/** GptNeoxConfig from config.json's fields, refusing settings whose arithmetic this family does not compute (e.g. rope_scaling). */
export function gptNeoxConfig(raw: HfConfig, source: string): GptNeoxConfig {
  const f = configFields(raw, source);
  const show = (v: unknown) => JSON.stringify(v) ?? String(v);
  if (raw.model_type !== undefined && raw.model_type !== 'gpt_neox')
    throw new ModelInputError(`${source}: model_type ${show(raw.model_type)} is not gpt_neox`);
  const act = f.oneOf('hidden_act', Object.keys(ACTIVATIONS), 'gelu', 'the exact GELU, or the tanh GELU');
  if (raw.rope_scaling !== undefined && raw.rope_scaling !== null)
    throw new ModelInputError(`${source}: rope_scaling ${show(raw.rope_scaling)} is not supported (plain rotary only)`);
  // Newer transformers write rope_parameters {rope_type, rope_theta, partial_rotary_factor} instead of rotary_pct and
  // rotary_emb_base (or rope_theta); the values may come from either, but must agree.
  const rp = raw.rope_parameters;
  if (rp !== undefined && rp !== null && (typeof rp !== 'object' || Array.isArray(rp)))
    throw new ModelInputError(`${source}: rope_parameters must be an object, got ${show(rp)}`);
  const rope = (rp ?? {}) as Record<string, unknown>;
  const ropeType = rope.rope_type ?? rope.type ?? 'default';
  if (ropeType !== 'default')
    throw new ModelInputError(`${source}: rope_parameters.rope_type ${show(ropeType)} is not supported (plain rotary only: "default")`);
  const agreed = (what: string, entries: [string, unknown][], fallback: number): number => {
    const given = entries.filter(([, v]) => v !== undefined && v !== null);
    for (const [k, v] of given)
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelInputError(`${source}: ${k} must be a number, got ${show(v)}`);
    if (given.some(([, v]) => v !== given[0][1]))
      throw new ModelInputError(
        `${source}: the ${what} is given differently by ${given.map(([k, v]) => `${k} (${show(v)})`).join(' and ')}`,
      );
    return given.length ? (given[0][1] as number) : fallback;
  };
  const rotaryPct = agreed(
    'rotary fraction',
    [
      ['rotary_pct', raw.rotary_pct],
      ['rope_parameters.partial_rotary_factor', rope.partial_rotary_factor],
    ],
    0.25,
  );
  const rotaryBase = agreed(
    'rotary base',
    [
      ['rotary_emb_base', raw.rotary_emb_base],
      ['rope_theta', raw.rope_theta],
      ['rope_parameters.rope_theta', rope.rope_theta],
    ],
    10000,
  );
  if (!(rotaryPct >= 0 && rotaryPct <= 1)) throw new ModelInputError(`${source}: rotary_pct must be in 0..1, got ${rotaryPct}`);
  if (!(rotaryBase > 0)) throw new ModelInputError(`${source}: rotary_emb_base must be positive, got ${rotaryBase}`);
  const dModel = f.posInt('hidden_size');
  const nHead = f.posInt('num_attention_heads');
  if (dModel % nHead) throw new ModelInputError(`${source}: hidden_size ${dModel} is not divisible by num_attention_heads ${nHead}`);
  const headSize = dModel / nHead;
  const rotaryDims = Math.floor(headSize * rotaryPct);
  if (rotaryDims % 2)
    throw new ModelInputError(
      `${source}: rotary_pct ${rotaryPct} of head size ${headSize} gives ${rotaryDims} rotary dims; rotary needs an even number`,
    );
  return {
    nLayer: f.posInt('num_hidden_layers'),
    dModel,
    nHead,
    dMlp: f.posInt('intermediate_size'),
    nCtx: f.posInt('max_position_embeddings', 2048),
    vocabSize: f.posInt('vocab_size'),
    rotaryDims,
    rotaryBase,
    parallel: f.bool('use_parallel_residual', true),
    act: ACTIVATIONS[act],
    lnEps: f.posNumber('layer_norm_eps', 1e-5),
    tiedEmbeddings: f.bool('tie_word_embeddings', false),
    attentionBias: f.bool('attention_bias', true),
  };
}

export const gptNeoxFamilyConfig: FamilyConfig<GptNeoxConfig> = {
  modelType: 'gpt_neox',
  title: 'GPT-NeoX (Pythia)',
  processingNote:
    'fold each LayerNorm (with a parallel residual, both read the block input) into the weights that read it, centre the residual writers (every residual hook loses its mean over d_model) and the unembedding (logits lose their mean over the vocabulary), fold the value biases',
  parseConfig: (raw, source) => gptNeoxConfig(raw, source),
  shape: (c, raw) => ({
    family: 'gpt_neox',
    nLayer: c.nLayer,
    dModel: c.dModel,
    nHead: c.nHead,
    nKvHeads: c.nHead,
    headDim: c.dModel / c.nHead,
    dMlp: c.dMlp,
    vocab: c.vocabSize,
    nCtx: c.nCtx,
    tied: c.tiedEmbeddings,
    gatedMlp: false,
    dtypeBytes: (raw.torch_dtype ?? raw.dtype) === 'float32' ? 4 : 2,
    dtype16: 'float16',
    learnedPositions: false,
    biases: true,
    normsPerBlock: 2,
    normBias: true,
    foldsUnembedding: true,
  }),
  tokenizer(files, config, _raw, source) {
    if (files.tokenizerJson === undefined)
      throw new ModelInputError(`${source}: no tokenizer.json (a GPT-NeoX model folder needs Hugging Face's tokenizer.json)`);
    // config.json's vocab_size (50304 for Pythia) is padded past the tokenizer's 50277 tokens: allowed.
    return new HfTokenizer(files.tokenizerJson, files.tokenizerConfigJson, config.vocabSize, `${source}/tokenizer.json`);
  },
};
