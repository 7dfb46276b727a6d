// A seeded prompt-set generator: a template with slots written [A], [B], [PLACE], [OBJECT] (a letter, then letters,
// digits or _), one word list per slot, and N → N prompt lines (prompt, target, contrast) as prompts.ts reads them.
//   prompt:   "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to"
//   target:   " [A]"        contrast: " [B]"
//   words:    A, B: names; PLACE: places; OBJECT: objects
// In one prompt a slot takes one word everywhere it appears (prompt, target and contrast), and different slots take
// different words — so [A] and [B] drawn from the same names never coincide, which is what makes the target and
// the contrast differ. Slots draw in the order they first appear, uniformly from the words the earlier slots have
// not taken, with mulberry32(seed): the same template, lists, N and seed give the same lines on every machine.
import { InputError } from '../core/errors.ts';
import { mulberry32 } from '../core/rng.ts';
import { MAX_PROMPTS, type PromptLine } from './prompts.ts';

export class TemplateInputError extends InputError {
  override name = 'TemplateInputError';
}

export interface PromptTemplate {
  prompt: string;
  target: string;
  contrast: string;
  /** The words of each slot, by the slot's name (A for [A]). */
  words: Record<string, readonly string[]>;
}

const SLOT = /\[([A-Za-z][A-Za-z0-9_]*)\]/g;

/** The slots of the template, in the order they first appear (prompt, then target, then contrast). */
export function templateSlots(t: Pick<PromptTemplate, 'prompt' | 'target' | 'contrast'>): string[] {
  const seen = new Set<string>();
  for (const text of [t.prompt, t.target, t.contrast]) for (const m of text.matchAll(SLOT)) seen.add(m[1]);
  return [...seen];
}

/** Check the template against its lists; returns the slots in drawing order. */
function checkTemplate(t: PromptTemplate, n: number): string[] {
  if (!Number.isInteger(n) || n < 1 || n > MAX_PROMPTS)
    throw new TemplateInputError(`the number of prompts must be a whole number in 1..${MAX_PROMPTS}, got ${n}`);
  if (!t.prompt.trim()) throw new TemplateInputError('the template prompt is empty');
  if (!t.target.trim() || !t.contrast.trim()) throw new TemplateInputError('the template needs a target and a contrast');
  const slots = templateSlots(t);
  for (const s of slots) {
    if (!Object.hasOwn(t.words, s)) throw new TemplateInputError(`slot [${s}] has no word list (lists given: ${listNames(t)})`);
    const list = t.words[s];
    if (!list.length) throw new TemplateInputError(`the word list of [${s}] is empty`);
    const blank = list.findIndex((w) => !w.trim());
    if (blank >= 0) throw new TemplateInputError(`the word list of [${s}] has an empty word (word ${blank + 1})`);
    if (new Set(list).size !== list.length) {
      const dup = list.find((w, i) => list.indexOf(w) !== i);
      throw new TemplateInputError(`the word list of [${s}] has ${JSON.stringify(dup)} twice`);
    }
  }
  for (const name of Object.keys(t.words))
    if (!slots.includes(name)) throw new TemplateInputError(`the word list "${name}" names no slot: the template has no [${name}]`);
  // Each slot must have a word left whatever the earlier slots took, so that no seed can fail.
  slots.forEach((s, k) => {
    const rivals = slots.slice(0, k).filter((r) => t.words[r].some((w) => t.words[s].includes(w)));
    if (t.words[s].length <= rivals.length) {
      throw new TemplateInputError(
        `slot [${s}] needs more than ${rivals.length} word${rivals.length === 1 ? '' : 's'}: its word must differ from ${rivals.map((r) => `[${r}]`).join(', ')}'s, and its list has ${t.words[s].length}`,
      );
    }
  });
  if (t.target === t.contrast) throw new TemplateInputError('the target and the contrast templates are the same');
  return slots;
}

function listNames(t: PromptTemplate): string {
  const names = Object.keys(t.words);
  return names.length ? names.join(', ') : 'none';
}

/** N prompt lines from the template, the same for the same seed. */
export function generatePrompts(t: PromptTemplate, n: number, seed: number): PromptLine[] {
  const slots = checkTemplate(t, n);
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const taken = new Set<string>();
    const word = new Map<string, string>();
    for (const s of slots) {
      const free = t.words[s].filter((w) => !taken.has(w));
      const w = free[Math.floor(rand() * free.length)];
      taken.add(w);
      word.set(s, w);
    }
    const fill = (text: string) => text.replace(SLOT, (_, s: string) => word.get(s) as string);
    return { prompt: fill(t.prompt), target: fill(t.target), contrast: fill(t.contrast) };
  });
}

/**
 * Word lists as a form writes them, one line per list: "A, B: Mary, John, Anna" gives [A] and [B] the same names,
 * "PLACE: store, park" (commas between words, spaces around them dropped; blank lines skipped).
 */
export function parseWordLists(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    if (!raw.trim()) return;
    const m = /^\s*([A-Za-z]\w*(?:\s*,\s*[A-Za-z]\w*)*)\s*:(.*)$/.exec(raw);
    if (!m)
      throw new TemplateInputError(`word lists, line ${i + 1}: expected "SLOT: word, word, …" (or "A, B: …" for slots sharing a list)`);
    const words = m[2].trim() ? m[2].split(',').map((w) => w.trim()) : [];
    for (const slot of m[1].split(',').map((x) => x.trim())) {
      if (Object.hasOwn(out, slot)) throw new TemplateInputError(`word lists, line ${i + 1}: [${slot}] has a list already`);
      out[slot] = words;
    }
  });
  return out;
}

/** The inverse of parseWordLists (slots with the same list share a line), for a form's first value. */
export function formatWordLists(words: Record<string, readonly string[]>): string {
  const lines = new Map<string, string[]>();
  for (const [slot, list] of Object.entries(words)) {
    const key = list.join(', ');
    lines.set(key, [...(lines.get(key) ?? []), slot]);
  }
  return [...lines].map(([list, slots]) => `${slots.join(', ')}: ${list}`).join('\n');
}
