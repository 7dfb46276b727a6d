// Prompt sets as JSON lines: the writer and the parser round-trip any set; each line's problem on its own, in the
// words the whole set's error uses.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Gpt2BpeTokenizer } from '../model/tokenizers/bpe.ts';
import { WordTokenizer } from '../model/tokenizers/word.ts';
import {
  formatPromptLines,
  MAX_PROMPTS,
  type PromptLine,
  parsePromptLines,
  promptLineProblems,
  resolvePositions,
  setReadoutPosition,
  toggleDeltaPosition,
  tokenisePromptSet,
} from './prompts.ts';

const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 });
const position = fc.integer({ min: -1000, max: 1000 });
const line: fc.Arbitrary<PromptLine> = fc.record(
  {
    prompt: text,
    target: text,
    contrast: text,
    label: text,
    delta_positions: fc.uniqueArray(position, { minLength: 1, maxLength: 6 }),
    readout_position: position,
  },
  { requiredKeys: ['prompt', 'target', 'contrast'] },
);

describe('formatPromptLines', () => {
  it('round-trips through parsePromptLines: any text, newlines, quotes, non-BMP characters, with and without labels and positions', () => {
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

  it('writes the position fields after the completions, only where a line has them', () => {
    expect(
      formatPromptLines([{ prompt: 'a b c', target: ' d', contrast: ' e', label: 'x', readout_position: -1, delta_positions: [1, -1] }]),
    ).toBe('{"prompt":"a b c","target":" d","contrast":" e","delta_positions":[1,-1],"readout_position":-1,"label":"x"}\n');
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

describe('δ and read-out positions', () => {
  const bpe = new Gpt2BpeTokenizer();
  // 14 GPT-2 tokens: When| Mary| and| John| went| to| the| store|,| John| gave| a| drink| to
  const prompt = 'When Mary and John went to the store, John gave a drink to';
  const at = (fields: Partial<PromptLine>) => ({ prompt, target: ' Mary', contrast: ' John', ...fields });

  it('default to the last token; negative positions count from the end; δ positions come back in order', () => {
    expect(resolvePositions({}, 14)).toEqual({ delta: [13], readout: 13 });
    expect(resolvePositions({ delta_positions: [-1, 3, -5], readout_position: -1 }, 14)).toEqual({ delta: [3, 9, 13], readout: 13 });
    const set = tokenisePromptSet([at({}), at({ delta_positions: [9], readout_position: 12 })], bpe, 32);
    expect(set.delta).toEqual([[13], [9]]);
    expect(set.readout).toEqual([13, 12]);
    // With BOS prepended, positions count it: the last token is still -1, position 0 is BOS.
    const bos = tokenisePromptSet([at({ delta_positions: [0, -1] })], bpe, 32, { prependBos: true });
    expect(bos.delta).toEqual([[0, 14]]);
    expect(bos.readout).toEqual([14]);
  });

  it.each([
    [
      { delta_positions: 3 },
      '"delta_positions" must be a list of token positions, e.g. [-1] or [5, -1] (0 is the first token, -1 the last)',
    ],
    [{ delta_positions: [] }, '"delta_positions" is empty: give at least one token position, or leave the field out for the last token'],
    [{ delta_positions: [2.5] }, '"delta_positions" holds 2.5; token positions are whole numbers (0 is the first token, -1 the last)'],
    [{ delta_positions: ['3'] }, '"delta_positions" holds "3"; token positions are whole numbers (0 is the first token, -1 the last)'],
    [{ delta_positions: [4, 2, 4] }, '"delta_positions" lists 4 twice'],
    [{ readout_position: 'last' }, '"readout_position" is "last"; a token position is a whole number (0 is the first token, -1 the last)'],
  ])('refuses %j before tokenising, in the parser and the editor alike', (fields, message) => {
    const row = { prompt: 'a', target: 'b', contrast: 'c', ...fields };
    expect(promptLineProblems([row as PromptLine])).toEqual([message]);
    expect(() => parsePromptLines(JSON.stringify(row), 'set.jsonl')).toThrow(`set.jsonl, line 1: ${message}`);
  });

  it.each([
    [{ delta_positions: [14] }, "δ position 14 is outside the prompt's 14 tokens (0..13, or -14..-1 from the end)"],
    [{ delta_positions: [-15] }, "δ position -15 is outside the prompt's 14 tokens (0..13, or -14..-1 from the end)"],
    [{ readout_position: 20 }, "the read-out position 20 is outside the prompt's 14 tokens (0..13, or -14..-1 from the end)"],
    [{ delta_positions: [13, -1] }, 'δ positions 13 and -1 are the same token (13)'],
    [
      { delta_positions: [3, 11], readout_position: 9 },
      'δ position 11 comes after the read-out position 9, and δ there cannot change B (attention only looks back): move "readout_position" to 11 or later, or drop that δ position',
    ],
    [{ delta_positions: [3] }, null],
    [{ delta_positions: [9], readout_position: 9 }, null],
  ])('after tokenising, %j → %s', (fields, message) => {
    expect(promptLineProblems([at(fields)], { tok: bpe, nCtx: 32 })).toEqual([message]);
    if (message) expect(() => tokenisePromptSet([at(fields)], bpe, 32, { source: 'set.jsonl' })).toThrow(`set.jsonl, line 1: ${message}`);
  });
});

describe('placing positions by clicking tokens (the editor)', () => {
  const l: PromptLine = { prompt: 'a b c d e', target: 'x', contrast: 'y' };
  const n = 5;

  it('toggles δ positions in token order; the last token is written -1; back to the default, the field is left out', () => {
    const one = toggleDeltaPosition(l, 2, n);
    expect(one).toEqual({ ...l, delta_positions: [2, -1] });
    const two = toggleDeltaPosition(one, 0, n);
    expect(two.delta_positions).toEqual([0, 2, -1]);
    // Removing the last token's δ, written -1, by clicking it; then only 0 and 2 remain.
    expect(toggleDeltaPosition(two, 4, n).delta_positions).toEqual([0, 2]);
    // A position written from the end is found by its token.
    expect(toggleDeltaPosition({ ...l, delta_positions: [-3, -1] }, 2, n)).toEqual(l);
    expect(formatPromptLines([toggleDeltaPosition(one, 2, n)])).toBe(formatPromptLines([l]));
    // Clicking the only δ position away leaves an empty list: the row says so rather than δ silently moving back.
    expect(toggleDeltaPosition(l, 4, n).delta_positions).toEqual([]);
    expect(promptLineProblems([toggleDeltaPosition(l, 4, n)])[0]).toMatch(/^"delta_positions" is empty/);
  });

  it('sets the read-out, the last token by leaving the field out, and keeps the label and δ', () => {
    const placed = { ...l, label: 'k', delta_positions: [1] };
    expect(setReadoutPosition(placed, 3, n)).toEqual({ ...placed, readout_position: 3 });
    expect(setReadoutPosition({ ...placed, readout_position: 3 }, 4, n)).toEqual(placed);
  });
});
