export interface Tokenizer {
  readonly kind: 'word' | 'gpt2-bpe';
  readonly vocabSize: number;
  /** Special tokens, when the vocabulary has them. */
  readonly bosId?: number;
  readonly eosId?: number;
  readonly padId?: number;
  encode(text: string): number[];
  /** One display string per id (byte-level BPE tokens decoded individually). */
  tokenStrings(ids: number[]): string[];
  decode(ids: number[]): string;
  /** The id of a string that is exactly one token, else undefined (e.g. IOI names must be single tokens). */
  tokenId(token: string): number | undefined;
}
