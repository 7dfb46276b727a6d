// Gemma-2's config.json (model_type "gemma2"): its fields read and checked, what the memory plan needs of them, and
// its tokenizer. No TensorFlow.js here: the page's main thread reads it before any weight is downloaded.
import { configFields, type HfConfig } from '../../config.ts';
import { ModelInputError } from '../../errors.ts';
import type { FamilyConfig } from '../../family.ts';
import { HfTokenizer } from '../../tokenizers/hf.ts';
import type { Gemma2Config } from './model.ts';

const TANH_GELU = ['gelu_pytorch_tanh', 'gelu_new'];
const LAYER_TYPES = ['sliding_attention', 'full_attention'];

/** Gemma2Config from config.json's fields, refusing settings that would change the arithmetic away from this one. */
export function gemma2Config(raw: HfConfig, source: string): Gemma2Config {
  const f = configFields(raw, source);
  const show = (v: unknown) => JSON.stringify(v) ?? String(v);
  if (raw.model_type !== undefined && raw.model_type !== 'gemma2')
    throw new ModelInputError(`${source}: model_type ${show(raw.model_type)} is not Gemma-2 ("gemma2")`);
  // Hugging Face's Gemma2MLP reads hidden_activation (default gelu_pytorch_tanh); older configs carry hidden_act.
  const actKey = raw.hidden_activation != null ? 'hidden_activation' : raw.hidden_act != null ? 'hidden_act' : null;
  const act = actKey ? raw[actKey] : 'gelu_pytorch_tanh';
  if (!TANH_GELU.includes(act as string))
    throw new ModelInputError(`${source}: ${actKey} ${show(act)} is not supported (Gemma-2's MLP uses the tanh GELU: gelu_pytorch_tanh)`);
  if (raw.attention_bias === true)
    throw new ModelInputError(`${source}: attention_bias=true is not supported (Gemma-2's attention projections have no bias)`);
  f.bool('attention_bias', false);
  if (raw.rope_scaling != null)
    throw new ModelInputError(`${source}: rope_scaling ${show(raw.rope_scaling)} is not supported (plain rotary only)`);
  if (raw.use_bidirectional_attention === true)
    throw new ModelInputError(`${source}: use_bidirectional_attention=true is not supported (causal attention only)`);
  const nLayer = f.posInt('num_hidden_layers');
  const nHead = f.posInt('num_attention_heads');
  const nKvHead = f.posInt('num_key_value_heads');
  const headDim = f.posInt('head_dim');
  if (nHead % nKvHead)
    throw new ModelInputError(`${source}: num_attention_heads ${nHead} is not a multiple of num_key_value_heads ${nKvHead}`);
  if (headDim % 2) throw new ModelInputError(`${source}: head_dim ${headDim} must be even (rotary embedding)`);
  const slidingWindow = f.posNumberOrNull('sliding_window', 4096);
  if (slidingWindow !== null && !Number.isSafeInteger(slidingWindow))
    throw new ModelInputError(`${source}: sliding_window must be a positive integer or null, got ${show(raw.sliding_window)}`);
  return {
    dModel: f.posInt('hidden_size'),
    dMlp: f.posInt('intermediate_size'),
    nLayer,
    nHead,
    nKvHead,
    headDim,
    nCtx: f.posInt('max_position_embeddings', 8192),
    vocabSize: f.posInt('vocab_size'),
    rmsEps: f.posNumber('rms_norm_eps', 1e-6),
    ropeTheta: ropeTheta(raw, source),
    queryPreAttnScalar: f.posNumber('query_pre_attn_scalar', 256),
    slidingWindow,
    sliding: layerTypes(raw, nLayer, source),
    attnSoftcap: f.posNumberOrNull('attn_logit_softcapping', 50),
    finalSoftcap: f.posNumberOrNull('final_logit_softcapping', 30),
    tieWordEmbeddings: f.bool('tie_word_embeddings', true),
  };
}

/** rope_theta, or (Transformers 5's layout) rope_parameters.rope_theta with the default rope type. */
function ropeTheta(raw: HfConfig, source: string): number {
  const params = raw.rope_parameters;
  if (params == null) return configFields(raw, source).posNumber('rope_theta', 10000);
  if (typeof params !== 'object' || Array.isArray(params))
    throw new ModelInputError(`${source}: rope_parameters must be an object, got ${JSON.stringify(params)}`);
  const p = params as Record<string, unknown>;
  if (p.rope_type !== undefined && p.rope_type !== 'default')
    throw new ModelInputError(`${source}: rope_parameters.rope_type ${JSON.stringify(p.rope_type)} is not supported (plain rotary only)`);
  return configFields(p, `${source} rope_parameters`).posNumber('rope_theta', (raw.rope_theta as number | undefined) ?? 10000);
}

/** Per layer whether it slides: layer_types when given, else Hugging Face's default (the even layers). */
function layerTypes(raw: HfConfig, nLayer: number, source: string): boolean[] {
  const types = raw.layer_types;
  if (types == null) return Array.from({ length: nLayer }, (_, i) => i % 2 === 0);
  if (!Array.isArray(types) || types.length !== nLayer || types.some((t) => !LAYER_TYPES.includes(t)))
    throw new ModelInputError(
      `${source}: layer_types must list ${nLayer} entries, each "sliding_attention" or "full_attention", got ${JSON.stringify(types)}`,
    );
  return types.map((t) => t === 'sliding_attention');
}

/** config.json for a Gemma2Config (tests and benches write random models in the Hugging Face layout with it). */
export function gemma2ConfigJson(c: Gemma2Config, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify(
    {
      model_type: 'gemma2',
      architectures: ['Gemma2ForCausalLM'],
      hidden_size: c.dModel,
      intermediate_size: c.dMlp,
      num_hidden_layers: c.nLayer,
      num_attention_heads: c.nHead,
      num_key_value_heads: c.nKvHead,
      head_dim: c.headDim,
      hidden_activation: 'gelu_pytorch_tanh',
      max_position_embeddings: c.nCtx,
      rms_norm_eps: c.rmsEps,
      rope_theta: c.ropeTheta,
      attention_bias: false,
      query_pre_attn_scalar: c.queryPreAttnScalar,
      sliding_window: c.slidingWindow,
      layer_types: c.sliding.map((s) => (s ? 'sliding_attention' : 'full_attention')),
      attn_logit_softcapping: c.attnSoftcap,
      final_logit_softcapping: c.finalSoftcap,
      tie_word_embeddings: c.tieWordEmbeddings,
      vocab_size: c.vocabSize,
      ...extra,
    },
    null,
    2,
  )}\n`;
}

/** Bytes per weight as config.json says the checkpoint stores them (torch_dtype; Gemma-2 is released in bfloat16). */
export function storedBytes(raw: HfConfig): { bytes: 2 | 4; dtype16: 'bfloat16' | 'float16' } {
  const t = raw.torch_dtype ?? raw.dtype;
  return t === 'float32' ? { bytes: 4, dtype16: 'bfloat16' } : { bytes: 2, dtype16: t === 'float16' ? 'float16' : 'bfloat16' };
}

export const gemma2FamilyConfig: FamilyConfig<Gemma2Config> = {
  modelType: 'gemma2',
  title: 'Gemma-2',
  processingNote:
    "fold each pre-norm's scale (1 + w) into the weights that read it (input_layernorm into W_Q/W_K/W_V, pre_feedforward_layernorm into W_gate/W_up), so ln1/ln2.hook_normalized become the bare normalisation; no centring (RMSNorm does not remove the mean); the final norm keeps its scale (folding it into the tied embedding would copy the largest tensor for the same logits); with weights kept in 16 bits nothing is folded (the scales multiply at run time); residuals, attention and logits are unchanged",
  parseConfig: (raw, source) => gemma2Config(raw, source),
  shape: (c, raw) => {
    const stored = storedBytes(raw);
    return {
      family: 'gemma2',
      nLayer: c.nLayer,
      dModel: c.dModel,
      nHead: c.nHead,
      nKvHeads: c.nKvHead,
      headDim: c.headDim,
      dMlp: c.dMlp,
      vocab: c.vocabSize,
      nCtx: c.nCtx,
      tied: c.tieWordEmbeddings,
      gatedMlp: true,
      dtypeBytes: stored.bytes,
      dtype16: stored.dtype16,
      learnedPositions: false,
      biases: false,
      normsPerBlock: 4,
      normBias: false,
      foldsUnembedding: false,
    };
  },
  tokenizer(files, config, _raw, source) {
    if (files.tokenizerJson === undefined)
      throw new ModelInputError(`${source}: no tokenizer.json (a Gemma-2 model folder needs Hugging Face's tokenizer.json)`);
    return new HfTokenizer(files.tokenizerJson, files.tokenizerConfigJson, config.vocabSize, `${source}/tokenizer.json`);
  },
};
