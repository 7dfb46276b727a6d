// Tokenizers on the page (no TensorFlow.js): the built-in model's word-level one, read from public/models/, or
// GPT-2's BPE, whose ranks are a large module fetched only when asked for. The prompt editor checks prompts with
// them as the loader will.
import type { Tokenizer } from '../model/tokenizers/types.ts';
import { WordTokenizer } from '../model/tokenizers/word.ts';
import type { ModelIndexEntry } from '../scenarios/builtin/assets.ts';

export type TokenizerChoice = 'builtin' | 'gpt2';

/** A tokenizer with the context it checks prompt lengths against, and words that name it. */
export interface PageTokenizer {
  tok: Tokenizer;
  nCtx: number;
  prependBos?: boolean;
  label: string;
}

/** GPT-2's context, for every GPT-2-family checkpoint the model scenario reads. */
const GPT2_CONTEXT = 1024;

export async function loadPageTokenizer(which: TokenizerChoice): Promise<PageTokenizer> {
  if (which === 'gpt2') {
    const { Gpt2BpeTokenizer } = await import('../model/tokenizers/bpe.ts');
    return { tok: new Gpt2BpeTokenizer(), nCtx: GPT2_CONTEXT, label: "GPT-2's byte-level BPE" };
  }
  const get = async (p: string) => {
    const r = await fetch(new URL(p, document.baseURI));
    if (!r.ok) throw new Error(`${p}: HTTP ${r.status}`);
    return r.text();
  };
  const model = (JSON.parse(await get('models/index.json')).models as ModelIndexEntry[])[0];
  const [tok, cfg] = await Promise.all([get(`models/${model.path}/tokenizer.json`), get(`models/${model.path}/config.json`)]);
  return {
    tok: WordTokenizer.fromJSON(tok),
    nCtx: JSON.parse(cfg).n_ctx,
    label: `the built-in model's word-level tokenizer (${model.name})`,
  };
}
