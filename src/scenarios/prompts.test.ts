// Prompt sets as JSON lines: the writer and the parser round-trip any set; each line's problem on its own, in the
// words the whole set's error uses.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Gpt2BpeTokenizer } from '../model/tokenizers/bpe.ts';
import { WordTokenizer } from '../model/tokenizers/word.ts';
import { formatPromptLines, MAX_PROMPTS, type PromptLine, parsePromptLines, promptLineProblems, tokenisePromptSet } from './prompts.ts';

const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 });
const line: fc.Arbitrary<PromptLine> = fc.record(
  { prompt: text, target: text, contrast: text, label: text },
  { requiredKeys: ['prompt', 'target', 'contrast'] },
);

describe('formatPromptLines', () => {
  it('round-trips through parsePromptLines: any text, newlines, quotes, non-BMP characters, with and without labels', () => {
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 30 }), (lines) => {
        const out = formatPromptLines(lines);
        expect(out.endsWith('\n')).toBe(true);
        expect(out.split('\n')).toHaveLength(lines.length + 1);
        expect(parsePromptLines(out)).toEqual(lines);
      }),
      { numRuns: 300 },
    );
  });

  it('writes one object a line in the documented key order, the label only where there is one', () => {
    expect(
      formatPromptLines([
        { prompt: 'When Mary and John went to the store, John gave a drink to', target: ' Mary', contrast: ' John' },
        { prompt: 'a\nb', target: '"', contrast: '\\', label: 'odd' },
      ]),
    ).toBe(
      '{"prompt":"When Mary and John went to the store, John gave a drink to","target":" Mary","contrast":" John"}\n' +
        '{"prompt":"a\\nb","target":"\\"","contrast":"\\\\","label":"odd"}\n',
    );
  });

  it('a set longer than the parser takes is written but not read back', () => {
    const many = Array.from({ length: MAX_PROMPTS + 1 }, () => ({ prompt: 'a', target: 'b', contrast: 'c' }));
    expect(() => parsePromptLines(formatPromptLines(many))).toThrow(`has ${MAX_PROMPTS + 1} prompts`);
  });
});

describe('promptLineProblems', () => {
  const bpe = new Gpt2BpeTokenizer();
  const lines: PromptLine[] = [
    { prompt: 'When Mary and John went to the store, John gave a drink to', target: ' Mary', contrast: ' John' },
    { prompt: 'a', target: ' Mary and', contrast: ' John' },
    { prompt: 'a', target: ' Mary', contrast: ' Mary' },
    { prompt: 'word '.repeat(40), target: ' Mary', contrast: ' John' },
  ];

  it('names each line’s problem, null where it is fine, as the whole set’s error does', () => {
    expect(promptLineProblems(lines, { tok: bpe, nCtx: 32 })).toEqual([
      null,
      'target " Mary and" is 2 tokens; a completion must be exactly one token (mind the leading space)',
      'target and contrast are the same token',
      "the prompt is 41 tokens; the model's context is 32",
    ]);
    expect(() => tokenisePromptSet(lines, bpe, 32, { source: 'set.jsonl' })).toThrow(
      'set.jsonl, line 2: target " Mary and" is 2 tokens; a completion must be exactly one token',
    );
  });

  it('checks the fields as the parser does, with or without a tokenizer', () => {
    const rows = [
      { prompt: '', target: ' Mary', contrast: ' John' },
      { prompt: 'a', target: ' Mary', contrast: 3 as unknown as string },
      { prompt: 'a', target: ' Mary and', contrast: ' John' },
    ];
    expect(promptLineProblems(rows)).toEqual(['"prompt" is empty', '"contrast" is missing or not a string', null]);
    expect(promptLineProblems(rows, { tok: bpe, nCtx: 32 })[2]).toMatch(/^target " Mary and" is 2 tokens/);
  });

  it('with a word-level tokenizer, a completion is a vocabulary word without a leading space', () => {
    const word = new WordTokenizer({ type: 'word', vocab: ['<unk>', 'then', 'Mary', 'John', 'to'], unk: '<unk>' });
    expect(
      promptLineProblems(
        [
          { prompt: 'then Mary to', target: 'Mary', contrast: 'John' },
          { prompt: 'then Mary to', target: ' Mary', contrast: 'John' },
        ],
        { tok: word, nCtx: 8 },
      ),
    ).toEqual([null, 'target " Mary" is 1 tokens; a completion must be exactly one token (mind the leading space)']);
  });
});
