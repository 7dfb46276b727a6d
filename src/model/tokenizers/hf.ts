// A Hugging Face tokenizer.json (+ tokenizer_config.json) through Hugging Face's own JavaScript tokenizer library:
// Gemma's SentencePiece-style BPE with byte fallback, GPT-NeoX's byte-level BPE, and whatever else that library
// reads. The chat template is tokenizer_config.json's Jinja template, rendered by Hugging Face's Jinja library.
import { Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizerImpl } from '@huggingface/tokenizers';
import { ModelInputError } from '../errors.ts';
import type { Tokenizer } from './types.ts';

type SpecialToken = string | { content?: unknown } | null | undefined;

function parseJson(text: string, name: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ModelInputError(`${name}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ModelInputError(`${name}: must be a JSON object`);
  return v as Record<string, unknown>;
}

/** tokenizer_config.json's chat_template: a string, or a list of named templates of which "default" is the one. */
function chatTemplateOf(config: Record<string, unknown>): string | undefined {
  const t = config.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.find((x) => (x as { name?: unknown })?.name === 'default') ?? t[0];
    const template = (named as { template?: unknown } | undefined)?.template;
    return typeof template === 'string' ? template : undefined;
  }
  return undefined;
}

export class HfTokenizer implements Tokenizer {
  readonly kind = 'hf';
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly padId?: number;
  readonly wantsBos: boolean;
  private readonly impl: HfTokenizerImpl;
  private readonly template?: Template;
  private readonly specials: Record<string, string>;

  /** `modelVocab`: the model's vocabulary (config.json's vocab_size), which may be padded past the tokenizer's. */
  constructor(tokenizerJson: string, tokenizerConfigJson: string | undefined, modelVocab: number, source = 'tokenizer.json') {
    const spec = parseJson(tokenizerJson, `${source}`);
    if (typeof spec.model !== 'object' || spec.model === null)
      throw new ModelInputError(`${source}: no "model" section (not a Hugging Face tokenizer.json)`);
    const config = tokenizerConfigJson ? parseJson(tokenizerConfigJson, source.replace(/tokenizer\.json$/, 'tokenizer_config.json')) : {};
    try {
      this.impl = new HfTokenizerImpl(spec, config);
    } catch (e) {
      throw new ModelInputError(`${source}: the tokenizer library cannot read it (${(e as Error).message})`);
    }
    this.vocabSize = this.impl.get_vocab(true).size;
    if (this.vocabSize > modelVocab)
      throw new ModelInputError(`${source} has ${this.vocabSize} tokens but config.json says vocab_size ${modelVocab}`);
    const special = (key: string): string | undefined => {
      const v = config[key] as SpecialToken;
      const s = typeof v === 'string' ? v : typeof v?.content === 'string' ? v.content : undefined;
      return s !== undefined && this.impl.token_to_id(s) !== undefined ? s : undefined;
    };
    this.specials = {};
    for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
      const s = special(key);
      if (s !== undefined) this.specials[key] = s;
    }
    const id = (key: string) => (this.specials[key] !== undefined ? this.impl.token_to_id(this.specials[key]) : undefined);
    this.bosId = id('bos_token');
    this.eosId = id('eos_token');
    this.padId = id('pad_token') ?? this.eosId;
    // Gemma's tokenizer adds <bos> to every encoding (add_bos_token); GPT-NeoX's adds nothing.
    this.wantsBos = config.add_bos_token === true && this.bosId !== undefined;
    const template = chatTemplateOf(config);
    if (template !== undefined) {
      try {
        this.template = new Template(template);
      } catch (e) {
        throw new ModelInputError(`${source}: the chat template does not parse (${(e as Error).message})`);
      }
    }
  }

  encode(text: string): number[] {
    return this.impl.encode(text, { add_special_tokens: false }).ids;
  }

  /** One display string per id: each token decoded alone (a byte-fallback piece of a character shows U+FFFD). */
  tokenStrings(ids: number[]): string[] {
    return ids.map((i) => this.impl.decode([i], { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
  }

  decode(ids: number[]): string {
    // The library refuses an empty list; an empty answer decodes to nothing.
    if (!ids.length) return '';
    return this.impl.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  tokenId(token: string): number | undefined {
    const ids = this.encode(token);
    return ids.length === 1 ? ids[0] : undefined;
  }

  get chat(): ((user: string) => string) | undefined {
    const template = this.template;
    if (!template) return undefined;
    return (user: string) => {
      try {
        return template.render({ messages: [{ role: 'user', content: user }], add_generation_prompt: true, ...this.specials });
      } catch (e) {
        throw new ModelInputError(`the chat template failed on this prompt (${(e as Error).message})`);
      }
    };
  }
}
