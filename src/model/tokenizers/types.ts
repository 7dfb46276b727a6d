export interface Tokenizer {
  readonly kind: 'word' | 'gpt2-bpe' | 'hf';
  readonly vocabSize: number;
  /** Special tokens, when the vocabulary has them. */
  readonly bosId?: number;
  readonly eosId?: number;
  readonly padId?: number;
  /** The model was trained with BOS first on every sequence (Gemma): prompt sets prepend it unless told not to. */
  readonly wantsBos?: boolean;
  /** The text's tokens, no special token added (BOS is the caller's choice). Special tokens written in the text count. */
  encode(text: string): number[];
  /** One display string per id (byte-level BPE tokens decoded individually). */
  tokenStrings(ids: number[]): string[];
  decode(ids: number[]): string;
  /** The id of a string that is exactly one token, else undefined (e.g. IOI names must be single tokens). */
  tokenId(token: string): number | undefined;
  /**
   * The instruction-tuned model's chat template for one user turn, ready for the model's answer (Gemma-2-it:
   * `<bos><start_of_turn>user\n…<end_of_turn>\n<start_of_turn>model\n`), when the tokenizer files have one.
   */
  chat?(user: string): string;
}
