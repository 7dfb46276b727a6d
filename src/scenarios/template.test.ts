// The prompt-set template generator: seeded and deterministic, each slot one word per prompt and different slots
// different words, every line one that prompts.ts reads back; and its errors.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InputError } from '../core/errors.ts';
import { formatPromptLines, MAX_PROMPTS, parsePromptLines } from './prompts.ts';
import { formatWordLists, generatePrompts, parseWordLists, type PromptTemplate, templateSlots } from './template.ts';

const IOI: PromptTemplate = {
  prompt: 'Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to',
  target: ' [A]',
  contrast: ' [B]',
  words: {
    A: ['Mary', 'John', 'Anna', 'Paul'],
    B: ['Mary', 'John', 'Anna', 'Paul'],
    PLACE: ['store', 'park'],
    OBJECT: ['ring', 'drink', 'book'],
  },
};

const word = fc.stringMatching(/^[A-Za-z][a-z]{0,6}$/);
/** A template over 1–4 slots, each with its own list; the lists may overlap but always leave each slot a word. */
const template = fc
  .uniqueArray(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,4}$/), { minLength: 2, maxLength: 4 })
  .chain((slots) =>
    fc.record({
      slots: fc.constant(slots),
      lists: fc.tuple(...slots.map(() => fc.uniqueArray(word, { minLength: slots.length, maxLength: 8 }))),
      glue: fc.array(fc.stringMatching(/^[a-z ,.]{1,8}$/), { minLength: slots.length + 1, maxLength: slots.length + 1 }),
    }),
  )
  .map(({ slots, lists, glue }) => {
    const t: PromptTemplate = {
      // Glue between bars, so the test can read each slot's word back unambiguously.
      prompt: `|${glue[0]}|${slots.map((s, i) => `[${s}]|${glue[i + 1]}|`).join('')}`,
      target: ` [${slots[0]}]`,
      contrast: ` [${slots[1]}]`,
      words: Object.fromEntries(slots.map((s, i) => [s, lists[i]])),
    };
    return t;
  });

describe('generatePrompts', () => {
  it('gives N lines, the same for the same seed, each slot filled with one of its words and slots with different words', () => {
    fc.assert(
      fc.property(template, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 2 ** 31 }), (t, n, seed) => {
        const lines = generatePrompts(t, n, seed);
        expect(lines).toHaveLength(n);
        expect(generatePrompts(t, n, seed)).toEqual(lines);
        const slots = templateSlots(t);
        // Read the words back by matching the line against the template with each slot as a group.
        const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        const pattern = new RegExp(`^${esc(t.prompt).replace(/\\\[([A-Z][A-Z0-9_]*)\\\]/g, '([^|]+)')}$`);
        for (const line of lines) {
          const m = pattern.exec(line.prompt);
          expect(m).not.toBeNull();
          const filled = slots.map((_, i) => m![i + 1]);
          filled.forEach((w, i) => expect(t.words[slots[i]]).toContain(w));
          expect(new Set(filled).size).toBe(slots.length);
          expect(line.target).toBe(` ${filled[0]}`);
          expect(line.contrast).toBe(` ${filled[1]}`);
          expect(line.prompt).not.toMatch(/\[[A-Z]/);
        }
        // Lines the prompt-set parser reads back as they are.
        expect(parsePromptLines(formatPromptLines(lines))).toEqual(lines);
      }),
      { numRuns: 200 },
    );
  });

  it('draws differently for another seed, and the same slot takes the same word everywhere in a prompt', () => {
    const a = generatePrompts(IOI, 32, 0);
    expect(generatePrompts(IOI, 32, 1)).not.toEqual(a);
    for (const l of a) {
      const [, b, io] = /^Then, (\w+) and (\w+) went/.exec(l.prompt)!;
      expect(l.prompt).toContain(`. ${b} gave a`);
      expect([l.target, l.contrast]).toEqual([` ${io}`, ` ${b}`]);
      expect(io).not.toBe(b);
    }
    // Every name turns up in both roles over 32 prompts (uniform draws, not a fixed pairing).
    expect(new Set(a.map((l) => l.target)).size).toBe(4);
    expect(new Set(a.map((l) => l.contrast)).size).toBe(4);
  });

  it.each([
    [{ ...IOI, words: { ...IOI.words, OBJECT: undefined } }, 32, 'slot [OBJECT] has no word list (lists given: A, B, PLACE)'],
    [{ ...IOI, words: { ...IOI.words, PLACE: [] } }, 32, 'the word list of [PLACE] is empty'],
    [{ ...IOI, words: { ...IOI.words, PLACE: ['store', ' '] } }, 32, 'the word list of [PLACE] has an empty word (word 2)'],
    [{ ...IOI, words: { ...IOI.words, PLACE: ['store', 'store'] } }, 32, 'the word list of [PLACE] has "store" twice'],
    [{ ...IOI, words: { ...IOI.words, NAME: ['x'] } }, 32, 'the word list "NAME" names no slot: the template has no [NAME]'],
    [
      { ...IOI, words: { ...IOI.words, A: ['Mary'], B: ['Mary'] } },
      32,
      "slot [A] needs more than 1 word: its word must differ from [B]'s, and its list has 1",
    ],
    [{ ...IOI, contrast: ' [A]' }, 32, 'the target and the contrast templates are the same'],
    [{ ...IOI, target: ' ' }, 32, 'the template needs a target and a contrast'],
    [IOI, 0, `the number of prompts must be a whole number in 1..${MAX_PROMPTS}, got 0`],
    [IOI, MAX_PROMPTS + 1, `the number of prompts must be a whole number in 1..${MAX_PROMPTS}, got ${MAX_PROMPTS + 1}`],
    [IOI, 2.5, 'got 2.5'],
  ])('refuses a bad template or N (%#): %s', (t, n, message) => {
    const words = Object.fromEntries(Object.entries(t.words).filter(([, v]) => v !== undefined)) as PromptTemplate['words'];
    expect(() => generatePrompts({ ...t, words }, n, 0)).toThrow(message);
    expect(() => generatePrompts({ ...t, words }, n, 0)).toThrow(InputError);
  });

  it('fails for no seed when every slot can always draw (the check is on the lists, not on a draw)', () => {
    // [B] shares two names with [A]'s two: a seed that lets [A] take one of them still leaves [B] one.
    const tight = { ...IOI, words: { ...IOI.words, A: ['Mary', 'John'], B: ['Mary', 'John'] } };
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (seed) => generatePrompts(tight, 8, seed).length === 8));
  });
});

describe('word lists in a form', () => {
  it('reads "SLOT: word, word" lines, slots sharing a list on one line, and writes them back', () => {
    const text = 'A, B: Mary, John , Anna\n\nPLACE: store,park\nOBJECT:ring';
    const words = parseWordLists(text);
    expect(words).toEqual({ A: ['Mary', 'John', 'Anna'], B: ['Mary', 'John', 'Anna'], PLACE: ['store', 'park'], OBJECT: ['ring'] });
    expect(parseWordLists(formatWordLists(words))).toEqual(words);
    expect(formatWordLists(words)).toBe('A, B: Mary, John, Anna\nPLACE: store, park\nOBJECT: ring');
    expect(parseWordLists('X:')).toEqual({ X: [] });
  });

  it.each([
    ['Mary, John', 'word lists, line 1: expected "SLOT: word, word, …"'],
    ['A: x\nA: y', 'word lists, line 2: [A] has a list already'],
    ['1A: x', 'word lists, line 1: expected'],
  ])('%j → %s', (text, message) => {
    expect(() => parseWordLists(text)).toThrow(message);
  });
});
