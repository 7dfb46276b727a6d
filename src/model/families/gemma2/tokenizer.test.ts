// Gemma-2's tokenizer through Hugging Face's tokenizer library (tokenizer.json, tokenizer_config.json), against the
// ids an independent BPE gave (scripts/fixtures/family_ref.py: tokenizer_cases.json), and its chat template.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigJson } from '../../config.ts';
import type { Tokenizer } from '../../tokenizers/types.ts';
import { gemma2Family } from './index.ts';

const dir = path.resolve(import.meta.dirname, '../../__fixtures__/tiny-gemma2');
const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
const raw = parseConfigJson(read('config.json'));
const config = gemma2Family.parseConfig(raw, 'tiny-gemma2/config.json');
const files = { tokenizerJson: read('tokenizer.json'), tokenizerConfigJson: read('tokenizer_config.json') };
const cases = JSON.parse(read('tokenizer_cases.json')) as { text: string; add_special_tokens: boolean; ids: number[] }[];

describe('the Gemma-2 tokenizer (tiny-gemma2)', () => {
  const tok: Tokenizer = gemma2Family.tokenizer(files, config, raw, 'tiny-gemma2');

  it('has Gemma’s special tokens and asks for <bos> first', () => {
    expect(tok.kind).toBe('hf');
    expect([tok.bosId, tok.eosId, tok.padId]).toEqual([2, 1, 0]);
    expect(tok.wantsBos).toBe(true);
    expect(tok.vocabSize).toBeLessThanOrEqual(config.vocabSize);
  });

  it.each(cases.map((c) => [JSON.stringify(c.text), c.add_special_tokens, c] as const))(
    '%s (add_special_tokens %s) gives the independent BPE’s ids',
    (_, __, c) => {
      const ids = tok.encode(c.text);
      // encode adds nothing; the model's encoding (add_special_tokens) is <bos> first.
      expect(c.add_special_tokens ? [tok.bosId, ...ids] : ids).toEqual(c.ids);
      // Round trip, special tokens written in the text included. (HfTokenizer.decode([]) throws: the library
      // refuses an empty list.)
      if (ids.length) expect(tok.decode(ids)).toBe(c.text);
    },
  );

  it('the chat template renders one user turn ready for the model’s answer, and encodes as the reference did', () => {
    const chat = tok.chat?.('  How do I bake a cake?\n');
    expect(chat).toBe('<bos><start_of_turn>user\nHow do I bake a cake?<end_of_turn>\n<start_of_turn>model\n');
    const want = cases.find((c) => c.text.startsWith('<bos><start_of_turn>'));
    expect(want).toBeDefined();
    expect(tok.encode(chat as string)).toEqual(want?.ids);
  });

  it('single tokens and display strings', () => {
    expect(tok.tokenId('<end_of_turn>')).toBe(6);
    expect(tok.tokenId('The cat')).toBeUndefined();
    expect(tok.tokenStrings(tok.encode('The cat'))).toEqual(['The', ' cat']);
  });

  it('refuses a folder without tokenizer.json, and a tokenizer larger than the model’s vocabulary', () => {
    expect(() => gemma2Family.tokenizer({ tokenizerConfigJson: files.tokenizerConfigJson }, config, raw, 'm')).toThrow(
      /m: no tokenizer\.json \(a Gemma-2 model folder needs Hugging Face's tokenizer\.json\)/,
    );
    expect(() => gemma2Family.tokenizer(files, { ...config, vocabSize: 100 }, raw, 'm')).toThrow(
      /m\/tokenizer\.json has \d+ tokens but config\.json says vocab_size 100/,
    );
    expect(() => gemma2Family.tokenizer({ tokenizerJson: '{"model": 1' }, config, raw, 'm')).toThrow(/m\/tokenizer\.json: not valid JSON/);
  });
});
