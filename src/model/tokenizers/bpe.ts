// GPT-2's byte-level BPE (the r50k_base ranks), offline: the vocabulary ships inside the gpt-tokenizer package.
import { decode, encode } from 'gpt-tokenizer/encoding/r50k_base';
import type { Tokenizer } from './types.ts';

export class Gpt2BpeTokenizer implements Tokenizer {
  readonly kind = 'gpt2-bpe';
  readonly vocabSize = 50257;

  encode(text: string): number[] {
    return encode(text);
  }

  tokenStrings(ids: number[]): string[] {
    return ids.map((id) => decode([id]));
  }

  decode(ids: number[]): string {
    return decode(ids);
  }
}
