// Which tokenizer a GPT-2-family folder uses: a word-level tokenizer.json when present, else GPT-2's BPE for a
// GPT-2 checkpoint (vocab 50257) with nothing but config.json and model.safetensors. (Other families read their
// tokenizer.json through Hugging Face's tokenizer library: hf.ts.)
import type { HfConfig } from '../config.ts';
import { ModelInputError } from '../errors.ts';
import { Gpt2BpeTokenizer } from './bpe.ts';
import type { Tokenizer } from './types.ts';
import { WordTokenizer } from './word.ts';

export type { Tokenizer } from './types.ts';
export { WordTokenizer } from './word.ts';
export { Gpt2BpeTokenizer } from './bpe.ts';

export function gpt2Tokenizer(tokenizerJson: string | undefined, config: HfConfig): Tokenizer {
  if (tokenizerJson !== undefined) {
    let spec: { type?: string };
    try {
      spec = JSON.parse(tokenizerJson);
    } catch (e) {
      throw new ModelInputError(`tokenizer.json: not valid JSON (${(e as Error).message})`);
    }
    if (spec.type === 'word') {
      const tok = new WordTokenizer(spec as never);
      if (tok.vocabSize !== config.vocab_size)
        throw new ModelInputError(`tokenizer.json has ${tok.vocabSize} tokens but config.json says vocab_size ${config.vocab_size}`);
      return tok;
    }
    if (config.vocab_size !== 50257)
      throw new ModelInputError(
        `tokenizer.json of type "${spec.type}" is not supported (word-level only; GPT-2 checkpoints need no tokenizer file)`,
      );
  }
  if ((config.model_type ?? 'gpt2') === 'gpt2' && config.vocab_size === 50257) return new Gpt2BpeTokenizer();
  throw new ModelInputError('no tokenizer: add a word-level tokenizer.json, or use a GPT-2 checkpoint (vocab_size 50257)');
}
