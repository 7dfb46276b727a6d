// The released models Unclamp names (the memory plan's figures, docs/architecture.md's table, the benches and tests): their
// config.json as published (the fields the families read), and their shapes for the memory plan, parsed by their
// family's own config.ts. Every figure about one of these models starts here.
import type { HfConfig } from './config.ts';
import { FAMILY_CONFIGS, modelTypeOf } from './configs.ts';
import type { ModelShape } from './memory-plan.ts';

export const PUBLISHED_CONFIGS = {
  // openai-community/gpt2
  'gpt2-small': {
    model_type: 'gpt2',
    activation_function: 'gelu_new',
    n_ctx: 1024,
    n_positions: 1024,
    n_embd: 768,
    n_head: 12,
    n_layer: 12,
    layer_norm_epsilon: 1e-5,
    vocab_size: 50257,
  },
  // google/gemma-2-2b-it (the paper's model; its bfloat16 release: the base gemma-2-2b's has the same shapes)
  'gemma-2-2b': {
    model_type: 'gemma2',
    architectures: ['Gemma2ForCausalLM'],
    hidden_size: 2304,
    intermediate_size: 9216,
    num_hidden_layers: 26,
    num_attention_heads: 8,
    num_key_value_heads: 4,
    head_dim: 256,
    hidden_activation: 'gelu_pytorch_tanh',
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    attention_bias: false,
    query_pre_attn_scalar: 256,
    sliding_window: 4096,
    attn_logit_softcapping: 50,
    final_logit_softcapping: 30,
    tie_word_embeddings: true,
    vocab_size: 256000,
    torch_dtype: 'bfloat16',
  },
  // EleutherAI/pythia-70m-deduped
  'pythia-70m-deduped': {
    model_type: 'gpt_neox',
    architectures: ['GPTNeoXForCausalLM'],
    hidden_act: 'gelu',
    hidden_size: 512,
    intermediate_size: 2048,
    layer_norm_eps: 1e-5,
    max_position_embeddings: 2048,
    num_attention_heads: 8,
    num_hidden_layers: 6,
    rotary_emb_base: 10000,
    rotary_pct: 0.25,
    tie_word_embeddings: false,
    torch_dtype: 'float16',
    use_parallel_residual: true,
    vocab_size: 50304,
  },
} as const satisfies Record<string, HfConfig>;

export type PublishedModel = keyof typeof PUBLISHED_CONFIGS;

const NAMES: Record<PublishedModel, string> = {
  'gpt2-small': 'GPT-2 small',
  'gemma-2-2b': 'gemma-2-2b',
  'pythia-70m-deduped': 'pythia-70m-deduped',
};

/** A published model's config as its family parses it (e.g. Gemma2Config), with any field overridden first. */
export function publishedConfig(id: PublishedModel, overrides: HfConfig = {}) {
  const raw: HfConfig = { ...PUBLISHED_CONFIGS[id], ...overrides };
  const family = FAMILY_CONFIGS[modelTypeOf(raw, id)];
  return { raw, family, config: family.parseConfig(raw, id) };
}

/** A published model's shape for the memory plan, named as docs/architecture.md names it. */
export function publishedShape(id: PublishedModel): ModelShape {
  const { raw, family, config } = publishedConfig(id);
  return { ...family.shape(config, raw), name: NAMES[id] };
}

/** The published shapes, for tests, the page's defaults and messages. */
export const MODEL_SHAPES = Object.fromEntries(
  (Object.keys(PUBLISHED_CONFIGS) as PublishedModel[]).map((id) => [id, publishedShape(id)]),
) as Record<PublishedModel, ModelShape>;
