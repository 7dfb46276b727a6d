import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Gpt2BpeTokenizer, gpt2Tokenizer, WordTokenizer } from './index.ts';

const fixtures = path.resolve(import.meta.dirname, '../__fixtures__');
const gpt2Config = { model_type: 'gpt2', vocab_size: 50257, n_embd: 4, n_layer: 1, n_head: 1 };

describe('word-level tokenizer (tokenizer.json of type "word")', () => {
  const tok = WordTokenizer.fromJSON(readFileSync(path.join(fixtures, 'tiny-word/tokenizer.json'), 'utf8'));

  it('splits words and punctuation, spaces are not tokens, unknown words become <unk>, round-trips through JSON', () => {
    const ids = tok.encode('Mary and John went to the store.');
    expect(tok.tokenStrings(ids)).toEqual(['Mary', 'and', 'John', 'went', 'to', 'the', 'store', '.']);
    expect(tok.decode(tok.encode('the cat sat on the mat'))).toBe('the cat sat on the mat');
    expect(tok.encode('  the\n\tcat  ')).toEqual(tok.encode('the cat'));
    expect(tok.encode('the zebra')).toEqual([tok.id('the'), tok.id('<unk>')]);
    expect(tok.unknownWords('the zebra, the cat')).toEqual(['zebra']);
    expect(tok.tokenId('cat')).toBe(4);
    expect(tok.tokenId('zebra')).toBeUndefined();
    expect(tok.padId).toBe(0);
    expect(WordTokenizer.fromJSON(JSON.stringify(tok.toJSON())).encode('the cat , dog')).toEqual(tok.encode('the cat, dog'));
    expect(() => tok.tokenStrings([20])).toThrow(/outside the vocabulary/);
  });

  it('special tokens: bracketed entries are whole tokens in text; bos/eos ids; lowercase; no unk → unknown words are an error', () => {
    const t = new WordTokenizer({
      type: 'word',
      vocab: ['<bos>', '<eos>', 'hi', "john's", '!'],
      bos: '<bos>',
      eos: '<eos>',
      lowercase: true,
    });
    expect(t.encode("<bos> Hi John's!<eos>")).toEqual([0, 2, 3, 4, 1]);
    expect(t.split("HI JOHN'S")).toEqual(['hi', "john's"]);
    expect([t.bosId, t.eosId]).toEqual([0, 1]);
    expect(() => t.encode('hi there')).toThrow(/"there" is not in the vocabulary \(and tokenizer\.json defines no unk token\)/);
  });

  it.each([
    ['{"type": "word"', /tokenizer\.json: not valid JSON/],
    ['{"type": "bpe", "vocab": ["a"]}', /expected \{"type": "word"/],
    ['{"type": "word", "vocab": []}', /"vocab" must be a non-empty array/],
    ['{"type": "word", "vocab": ["a", "b c"]}', /vocab\[1\] must be a non-empty string without whitespace/],
    ['{"type": "word", "vocab": ["a", "b", "a"]}', /duplicate token "a"/],
    ['{"type": "word", "vocab": ["a"], "unk": "<unk>"}', /unk token "<unk>" is not in the vocabulary/],
    ['{"type": "word", "vocab": ["a"], "eos": "<eos>"}', /eos token "<eos>" is not in the vocabulary/],
    ['{"type": "word", "vocab": ["a"], "lowercase": "yes"}', /"lowercase" must be true or false/],
  ])('rejects %s', (text, message) => {
    expect(() => WordTokenizer.fromJSON(text)).toThrow(message);
  });
});

describe('GPT-2 byte-level BPE (offline, r50k_base from the gpt-tokenizer package)', () => {
  const tok = new Gpt2BpeTokenizer();

  // Expected ids cross-checked against js-tiktoken 1.0.21 (an independent implementation with its own copy of
  // the r50k_base ranks); "Hello world" and the IOI names are also the ids TransformerLens users know.
  it.each([
    ['Hello world', [15496, 995]],
    [' to', [284]],
    [
      'When Mary and John went to the store, John gave a drink to',
      [2215, 5335, 290, 1757, 1816, 284, 262, 3650, 11, 1757, 2921, 257, 4144, 284],
    ],
    ['héllo 😀 naïve café', [71, 2634, 18798, 30325, 222, 41492, 40304]],
    [
      "I can't believe it's 2026!\n\n  indented\tcode()",
      [40, 460, 470, 1975, 340, 338, 1160, 2075, 0, 628, 220, 773, 4714, 197, 8189, 3419],
    ],
    ['<|endoftext|>When', [50256, 2215]],
  ])('encodes %j', (text, ids) => {
    expect(tok.encode(text)).toEqual(ids);
    expect(tok.decode(ids)).toBe(text);
  });

  it('token strings are decoded per token, partial UTF-8 shown as U+FFFD, with no bytes carried between tokens', () => {
    expect(tok.tokenStrings(tok.encode('When Mary and John'))).toEqual(['When', ' Mary', ' and', ' John']);
    expect(tok.tokenStrings([30325, 222])).toEqual([' \uFFFD', '\uFFFD']);
    // The same tokens again give the same strings (a streaming decoder shared across calls would not).
    expect(tok.tokenStrings([30325])).toEqual([' \uFFFD']);
    expect(tok.tokenStrings([2215])).toEqual(['When']);
    expect(tok.tokenStrings([50256])).toEqual(['<|endoftext|>']);
    expect(Array.from(tok.tokenBytes([30325])[0])).toEqual([0x20, 0xf0, 0x9f, 0x98]);
    expect(tok.tokenId(' Mary')).toBe(5335);
    expect(tok.tokenId(' Maryland and')).toBeUndefined();
    expect(() => tok.tokenStrings([50257])).toThrow(/outside GPT-2's vocabulary/);
  });
});

describe('gpt2Tokenizer', () => {
  it('picks GPT-2 BPE for a GPT-2 checkpoint with no tokenizer file, or with a Hugging Face tokenizer.json', () => {
    expect(gpt2Tokenizer(undefined, gpt2Config).kind).toBe('gpt2-bpe');
    expect(gpt2Tokenizer('{"version": "1.0", "model": {"type": "BPE"}}', gpt2Config).kind).toBe('gpt2-bpe');
  });

  it('picks the word-level tokenizer and checks its size against config.json', () => {
    const json = readFileSync(path.join(fixtures, 'tiny-word/tokenizer.json'), 'utf8');
    expect(gpt2Tokenizer(json, { ...gpt2Config, vocab_size: 20 }).kind).toBe('word');
    expect(() => gpt2Tokenizer(json, { ...gpt2Config, vocab_size: 21 })).toThrow(/20 tokens but config\.json says vocab_size 21/);
  });

  it('explains what is missing', () => {
    expect(() => gpt2Tokenizer(undefined, { ...gpt2Config, vocab_size: 99 })).toThrow(/no tokenizer/);
    expect(() => gpt2Tokenizer('{"model": {}}', { ...gpt2Config, vocab_size: 99 })).toThrow(/not supported/);
    expect(() => gpt2Tokenizer('{', gpt2Config)).toThrow(/tokenizer\.json: not valid JSON/);
  });
});
