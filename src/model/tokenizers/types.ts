export interface Tokenizer {
  readonly kind: 'word' | 'gpt2-bpe';
  readonly vocabSize: number;
  encode(text: string): number[];
  /** One display string per id (byte-level BPE tokens decoded individually). */
  tokenStrings(ids: number[]): string[];
  decode(ids: number[]): string;
}
