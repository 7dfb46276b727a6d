// GPT-2's byte-level BPE (OpenAI's r50k_base ranks), offline: the vocabulary ships inside the gpt-tokenizer
// package, so a GPT-2 folder needs nothing but config.json and model.safetensors. Ids were cross-checked
// against js-tiktoken, an independent implementation with its own copy of the ranks (see the tests).
import bpeRanks from 'gpt-tokenizer/bpeRanks/r50k_base';
import { encode } from 'gpt-tokenizer/encoding/r50k_base';
import type { Tokenizer } from './types.ts';

export const GPT2_ENDOFTEXT = 50256;

let tokenBytes: Uint8Array[] | undefined;

/** The bytes of every token, indexed by id (the ranks store valid UTF-8 tokens as strings, others as bytes). */
function bytesTable(): Uint8Array[] {
  if (!tokenBytes) {
    const enc = new TextEncoder();
    tokenBytes = bpeRanks.map((t) => (typeof t === 'string' ? enc.encode(t) : Uint8Array.from(t)));
    tokenBytes[GPT2_ENDOFTEXT] = enc.encode('<|endoftext|>');
  }
  return tokenBytes;
}

export class Gpt2BpeTokenizer implements Tokenizer {
  readonly kind = 'gpt2-bpe';
  readonly vocabSize = 50257;
  /** GPT-2 has one special token, <|endoftext|>, which TransformerLens also prepends as BOS. */
  readonly bosId = GPT2_ENDOFTEXT;
  readonly eosId = GPT2_ENDOFTEXT;
  readonly padId = GPT2_ENDOFTEXT;

  /** "<|endoftext|>" in the text becomes the special token 50256, as Hugging Face's GPT-2 tokenizer does. */
  encode(text: string): number[] {
    return encode(text, { allowedSpecial: 'all' });
  }

  /**
   * One display string per id. A token that is only part of a UTF-8 character shows U+FFFD, as Hugging Face's
   * per-token decode does. (The package's own decode keeps a streaming decoder across calls, so decoding
   * tokens one at a time with it would carry bytes over from one token into the next.)
   */
  tokenStrings(ids: number[]): string[] {
    const table = bytesTable();
    const dec = new TextDecoder('utf-8');
    return ids.map((id) => {
      const b = table[id];
      if (!b) throw new RangeError(`token id ${id} is outside GPT-2's vocabulary`);
      return dec.decode(b);
    });
  }

  /** The exact bytes of each token (for byte-level tools; tokenStrings is the display form). */
  tokenBytes(ids: number[]): Uint8Array[] {
    const table = bytesTable();
    return ids.map((id) => table[id]);
  }

  /** The id of a string that is exactly one token (e.g. " Mary"), else undefined. */
  tokenId(token: string): number | undefined {
    const ids = this.encode(token);
    return ids.length === 1 ? ids[0] : undefined;
  }

  decode(ids: number[]): string {
    const table = bytesTable();
    const parts = ids.map((id) => {
      if (!table[id]) throw new RangeError(`token id ${id} is outside GPT-2's vocabulary`);
      return table[id];
    });
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    return new TextDecoder('utf-8').decode(all);
  }
}
