// The built-in model's word-level tokenizer, stored as `tokenizer.json` next to the weights.
//
// Format (written by WordTokenizer.toJSON, read by WordTokenizer.fromJSON):
//   {
//     "type": "word",                       required
//     "vocab": ["<pad>", "<unk>", "the", …], required: unique non-empty strings without whitespace; id = index
//     "unk": "<unk>",                        optional: what out-of-vocabulary words become; without it they are an error
//     "bos": "<bos>", "eos": "<eos>",        optional special tokens (must be in vocab)
//     "pad": "<pad>",                        optional; padId falls back to unk
//     "lowercase": false                     optional: lowercase the text before splitting
//   }
// Splitting: a token is a run of ASCII letters, digits, "_" and "'" ("John's" is one token), or any other single
// non-space character (punctuation). Spaces separate tokens and are never part of one. A vocabulary entry
// written <like-this> (e.g. "<bos>") is also recognised whole when it appears in the text.
import { ModelInputError } from '../errors.ts';
import type { Tokenizer } from './types.ts';

export interface WordTokenizerJson {
  type: 'word';
  vocab: string[];
  unk?: string;
  pad?: string;
  bos?: string;
  eos?: string;
  lowercase?: boolean;
}

const WORD = "[A-Za-z0-9_']+|[^\\sA-Za-z0-9_']";
const SPECIALS = ['unk', 'pad', 'bos', 'eos'] as const;

function bad(msg: string): never {
  throw new ModelInputError(`tokenizer.json: ${msg}`);
}

export class WordTokenizer implements Tokenizer {
  readonly kind = 'word';
  private readonly index: Map<string, number>;
  private readonly splitter: RegExp;

  constructor(readonly spec: WordTokenizerJson) {
    if (typeof spec !== 'object' || spec === null || spec.type !== 'word') bad('expected {"type": "word", "vocab": [...]}');
    if (!Array.isArray(spec.vocab) || !spec.vocab.length) bad('"vocab" must be a non-empty array of strings');
    spec.vocab.forEach((t, i) => {
      if (typeof t !== 'string' || !t || /\s/.test(t))
        bad(`vocab[${i}] must be a non-empty string without whitespace, got ${JSON.stringify(t)}`);
    });
    this.index = new Map(spec.vocab.map((t, i) => [t, i]));
    if (this.index.size !== spec.vocab.length) {
      const dup = spec.vocab.find((t, i) => spec.vocab.indexOf(t) !== i);
      bad(`vocabulary has duplicate token ${JSON.stringify(dup)}`);
    }
    for (const k of SPECIALS) {
      const t = spec[k];
      if (t !== undefined && !this.index.has(t)) bad(`${k} token ${JSON.stringify(t)} is not in the vocabulary`);
    }
    if (spec.lowercase !== undefined && typeof spec.lowercase !== 'boolean') bad('"lowercase" must be true or false');
    const bracketed = spec.vocab.filter((t) => /^<[^<>]+>$/.test(t)).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.splitter = new RegExp([...bracketed, WORD].join('|'), 'g');
  }

  static fromJSON(input: string | object): WordTokenizer {
    if (typeof input !== 'string') return new WordTokenizer(input as WordTokenizerJson);
    let parsed: unknown;
    try {
      parsed = JSON.parse(input);
    } catch (e) {
      bad(`not valid JSON (${(e as Error).message})`);
    }
    return new WordTokenizer(parsed as WordTokenizerJson);
  }

  toJSON(): WordTokenizerJson {
    return this.spec;
  }

  get vocabSize(): number {
    return this.spec.vocab.length;
  }

  get bosId(): number | undefined {
    return this.spec.bos === undefined ? undefined : this.index.get(this.spec.bos);
  }

  get eosId(): number | undefined {
    return this.spec.eos === undefined ? undefined : this.index.get(this.spec.eos);
  }

  /** The pad token, else unk (pads are never attended to by real tokens under right padding, so any id works). */
  get padId(): number {
    return this.index.get(this.spec.pad ?? this.spec.unk ?? this.spec.vocab[0])!;
  }

  /** Words of the text as vocabulary strings (before id lookup). */
  split(text: string): string[] {
    const t = this.spec.lowercase ? text.toLowerCase() : text;
    return t.match(this.splitter) ?? [];
  }

  /** Ids of the text; out-of-vocabulary words become unk, or are an error when the vocabulary has no unk. */
  encode(text: string): number[] {
    const unk = this.spec.unk === undefined ? undefined : this.index.get(this.spec.unk);
    return this.split(text).map((w) => {
      const id = this.index.get(w) ?? unk;
      if (id === undefined) throw new ModelInputError(`"${w}" is not in the vocabulary (and tokenizer.json defines no unk token)`);
      return id;
    });
  }

  /** Words not in the vocabulary (they would become the unk token). */
  unknownWords(text: string): string[] {
    return this.split(text).filter((w) => !this.index.has(w));
  }

  /** The id of a vocabulary entry; an error if there is none. */
  id(token: string): number {
    const i = this.index.get(token);
    if (i === undefined) throw new ModelInputError(`"${token}" is not in the vocabulary`);
    return i;
  }

  tokenId(token: string): number | undefined {
    return this.index.get(token);
  }

  tokenStrings(ids: number[]): string[] {
    return ids.map((i) => {
      const t = this.spec.vocab[i];
      if (t === undefined) throw new RangeError(`token id ${i} is outside the vocabulary [0, ${this.vocabSize})`);
      return t;
    });
  }

  decode(ids: number[]): string {
    return this.tokenStrings(ids).join(' ');
  }
}
