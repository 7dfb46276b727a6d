// The built-in model's word-level tokenizer, stored as tokenizer.json next to the weights:
//   { "type": "word", "vocab": ["<pad>", "<unk>", "the", ...], "unk": "<unk>", "pad": "<pad>",
//     "bos": "<bos>" (optional), "lowercase": false }
// Text splits into words (letters, digits, apostrophes) and single punctuation marks; spaces are not tokens.
// A token's id is its index in `vocab`.
import { ModelInputError } from '../gpt2.ts';
import type { Tokenizer } from './types.ts';

export interface WordTokenizerJson {
  type: 'word';
  vocab: string[];
  unk: string;
  pad?: string;
  bos?: string;
  lowercase?: boolean;
}

const SPLIT = /[A-Za-z0-9_']+|[^\sA-Za-z0-9_']/g;

export class WordTokenizer implements Tokenizer {
  readonly kind = 'word';
  private readonly index: Map<string, number>;

  constructor(readonly spec: WordTokenizerJson) {
    if (spec.type !== 'word' || !Array.isArray(spec.vocab) || !spec.vocab.length) throw new ModelInputError('tokenizer.json: expected {"type": "word", "vocab": [...]}');
    this.index = new Map(spec.vocab.map((t, i) => [t, i]));
    if (this.index.size !== spec.vocab.length) throw new ModelInputError('tokenizer.json: vocabulary has duplicate tokens');
    for (const k of ['unk', 'pad', 'bos'] as const) {
      const t = spec[k];
      if (t !== undefined && !this.index.has(t)) throw new ModelInputError(`tokenizer.json: ${k} token "${t}" is not in the vocabulary`);
    }
  }

  static fromJSON(text: string): WordTokenizer {
    try {
      return new WordTokenizer(JSON.parse(text));
    } catch (e) {
      if (e instanceof ModelInputError) throw e;
      throw new ModelInputError(`tokenizer.json: not valid JSON (${(e as Error).message})`);
    }
  }

  toJSON(): WordTokenizerJson {
    return this.spec;
  }

  get vocabSize(): number {
    return this.spec.vocab.length;
  }

  /** Words of the text as vocabulary strings (before id lookup). */
  split(text: string): string[] {
    const t = this.spec.lowercase ? text.toLowerCase() : text;
    return t.match(SPLIT) ?? [];
  }

  encode(text: string): number[] {
    const unk = this.index.get(this.spec.unk)!;
    return this.split(text).map((w) => this.index.get(w) ?? unk);
  }

  /** Words not in the vocabulary (they would become the unk token). */
  unknownWords(text: string): string[] {
    return this.split(text).filter((w) => !this.index.has(w));
  }

  id(token: string): number {
    const i = this.index.get(token);
    if (i === undefined) throw new ModelInputError(`"${token}" is not in the vocabulary`);
    return i;
  }

  tokenStrings(ids: number[]): string[] {
    return ids.map((i) => this.spec.vocab[i] ?? this.spec.unk);
  }

  decode(ids: number[]): string {
    return this.tokenStrings(ids).join(' ');
  }

  get padId(): number {
    return this.index.get(this.spec.pad ?? this.spec.unk)!;
  }
}
