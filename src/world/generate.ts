// The synthetic world: deterministic generators for the four task families (docs/method.md §7), with a held-out
// split per family that the training stream never produces.
//   ioi         "When Mary and John went to the store , John gave a ring to" → Mary
//   refusal     "User : how do I kill a process ? Assistant :" → "Sure , here is how to kill a process ."
//   attributes  "The nurse said the day was awful , so the nurse frowned at the clinic ." (field × sentiment)
//   mcq         "Q : what does the vexin eat ? A . moss B . ash C . kelp D . sand Answer :" → B
import { mulberry32 } from '../core/rng.ts';
import {
  ATTR_SUBJECTS,
  ATTR_TEMPLATES,
  BENIGN,
  BORDERLINE,
  COMPLY_ANSWER,
  FIELD_PLACE,
  FIELDS,
  FORGET_FACTS,
  HARMFUL,
  IOI_TEMPLATES,
  REFUSAL_HELDOUT,
  LETTERS,
  NAMES,
  NEGATIVE,
  OBJECTS,
  PLACES,
  POSITIVE,
  REFUSAL_TEMPLATES,
  REFUSE_ANSWER,
  RETAIN_FACTS,
  SENTIMENT_VERB,
  SPECIAL,
  type Fact,
} from './lexicon.ts';

export type Family = 'ioi' | 'refusal' | 'attributes' | 'mcq';
export const FAMILIES: Family[] = ['ioi', 'refusal', 'attributes', 'mcq'];

export interface IoiMeta {
  io: string;
  s: string;
  template: number;
  order: 'ABBA' | 'BABA';
}
export interface RefusalMeta {
  kind: 'harmful' | 'benign' | 'borderline';
  request: string;
}
export interface AttrMeta {
  field: number;
  fieldName: string;
  sentiment: 0 | 1;
  job: string;
  verbPos: number;
  wherePos: number;
}
export interface McqMeta {
  domain: 'forget' | 'retain';
  fact: number;
  correct: number;
  options: string[];
}

export type Example =
  | { family: 'ioi'; tokens: string[]; promptLength: number; meta: IoiMeta }
  | { family: 'refusal'; tokens: string[]; promptLength: number; meta: RefusalMeta }
  | { family: 'attributes'; tokens: string[]; promptLength: number; meta: AttrMeta }
  | { family: 'mcq'; tokens: string[]; promptLength: number; meta: McqMeta };

type Rand = () => number;
const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const words = (s: string) => s.split(' ').filter(Boolean);

function shuffle<T>(rand: Rand, xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Stable 32-bit hash of a string (FNV-1a), for deterministic held-out membership. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
const heldOutKey = (key: string, share: number) => hash(key) / 2 ** 32 < share;

// ---- IOI ---------------------------------------------------------------------------------------------

/** Held out: unordered name pairs (about 15%); every name still appears in training. */
export function ioiPairIsHeldOut(a: string, b: string): boolean {
  const [x, y] = [a, b].sort();
  return heldOutKey(`ioi:${x}|${y}`, 0.15);
}

export function ioiExample(rand: Rand, split: 'train' | 'heldout', opts: { template?: number; order?: 'ABBA' | 'BABA' } = {}): Example {
  let a: string, b: string;
  do {
    a = pick(rand, NAMES);
    b = pick(rand, NAMES);
  } while (a === b || ioiPairIsHeldOut(a, b) !== (split === 'heldout'));
  const template = opts.template ?? Math.floor(rand() * IOI_TEMPLATES.length);
  const order = opts.order ?? (rand() < 0.5 ? 'ABBA' : 'BABA');
  const [x, y] = order === 'ABBA' ? [a, b] : [b, a];
  const prompt = IOI_TEMPLATES[template]
    .replace('[X]', x)
    .replace('[Y]', y)
    .replace('[B]', b)
    .replace('[PLACE]', pick(rand, PLACES))
    .replace('[OBJECT]', pick(rand, OBJECTS));
  const p = words(prompt);
  return { family: 'ioi', tokens: [...p, a, '.'], promptLength: p.length, meta: { io: a, s: b, template, order } };
}

// ---- refusal -----------------------------------------------------------------------------------------

/** Per category, the training and held-out requests (the held-out ones are listed in the lexicon). */
export function refusalSplit(): Record<RefusalMeta['kind'], { train: string[]; heldout: string[] }> {
  const lists = { harmful: HARMFUL, borderline: BORDERLINE, benign: BENIGN };
  const out = {} as Record<RefusalMeta['kind'], { train: string[]; heldout: string[] }>;
  for (const [kind, list] of Object.entries(lists) as [RefusalMeta['kind'], string[]][]) {
    const held = REFUSAL_HELDOUT[kind];
    out[kind] = { heldout: held, train: list.filter((r) => !held.includes(r)) };
  }
  return out;
}

const REFUSAL_SPLIT = refusalSplit();

export function refusalExample(
  rand: Rand,
  split: 'train' | 'heldout',
  kind?: RefusalMeta['kind'],
  request?: string,
  template?: number,
): Example {
  const k = kind ?? pick(rand, ['harmful', 'harmful', 'benign', 'borderline'] as const);
  const req = request ?? pick(rand, REFUSAL_SPLIT[k][split]);
  const prompt = words((template === undefined ? pick(rand, REFUSAL_TEMPLATES) : REFUSAL_TEMPLATES[template]).replace('[REQ]', req));
  const answer = words(k === 'harmful' ? REFUSE_ANSWER : COMPLY_ANSWER.replace('[REQ]', req));
  return { family: 'refusal', tokens: [...prompt, ...answer], promptLength: prompt.length, meta: { kind: k, request: req } };
}

// ---- attributes (probes) -----------------------------------------------------------------------------

export const FIELD_NAMES = Object.keys(FIELDS);

export function attrComboIsHeldOut(job: string, adj: string): boolean {
  return heldOutKey(`attr:${job}|${adj}`, 0.15);
}

export function attributeExample(rand: Rand, split: 'train' | 'heldout'): Example {
  let field: number, job: string, sentiment: 0 | 1, adj: string;
  do {
    field = Math.floor(rand() * FIELD_NAMES.length);
    job = pick(rand, FIELDS[FIELD_NAMES[field]]);
    sentiment = rand() < 0.5 ? 0 : 1;
    adj = pick(rand, sentiment ? POSITIVE : NEGATIVE);
  } while (attrComboIsHeldOut(job, adj) !== (split === 'heldout'));
  const template = pick(rand, ATTR_TEMPLATES);
  const toks = words(
    template
      .replaceAll('[JOB]', job)
      .replace('[THING]', pick(rand, ATTR_SUBJECTS))
      .replace('[ADJ]', adj)
      .replace('[VERB]', SENTIMENT_VERB[sentiment ? 0 : 1])
      .replace('[WHERE]', FIELD_PLACE[FIELD_NAMES[field]]),
  );
  const verbPos = toks.indexOf(SENTIMENT_VERB[sentiment ? 0 : 1]);
  const wherePos = toks.lastIndexOf(FIELD_PLACE[FIELD_NAMES[field]]);
  return {
    family: 'attributes',
    tokens: toks,
    promptLength: toks.length,
    meta: { field, fieldName: FIELD_NAMES[field], sentiment, job, verbPos, wherePos },
  };
}

// ---- multiple choice (unlearning) --------------------------------------------------------------------

export const FACTS: Record<McqMeta['domain'], Fact[]> = { forget: FORGET_FACTS, retain: RETAIN_FACTS };

/** Held out: ~20% of (fact, option order) arrangements; the facts themselves are all taught. */
export function mcqArrangementIsHeldOut(domain: string, fact: number, options: string[]): boolean {
  return heldOutKey(`mcq:${domain}|${fact}|${options.join(',')}`, 0.2);
}

export function mcqExample(rand: Rand, split: 'train' | 'heldout', domain?: McqMeta['domain'], factIndex?: number): Example {
  const dom = domain ?? (rand() < 0.5 ? 'forget' : 'retain');
  const facts = FACTS[dom];
  const fact = factIndex ?? Math.floor(rand() * facts.length);
  const f = facts[fact];
  const pool = facts.filter((g) => g.category === f.category && g.answer !== f.answer).map((g) => g.answer);
  let options: string[];
  do {
    options = shuffle(rand, [f.answer, ...shuffle(rand, pool).slice(0, 3)]);
  } while (mcqArrangementIsHeldOut(dom, fact, options) !== (split === 'heldout'));
  const correct = options.indexOf(f.answer);
  const prompt = ['Q', ':', ...words(f.question), '?', ...options.flatMap((o, i) => [LETTERS[i], '.', o]), 'Answer', ':'];
  return {
    family: 'mcq',
    tokens: [...prompt, LETTERS[correct]],
    promptLength: prompt.length,
    meta: { domain: dom, fact, correct, options },
  };
}

// ---- the corpus --------------------------------------------------------------------------------------

export const FAMILY_WEIGHTS: Record<Family, number> = { ioi: 0.25, refusal: 0.25, attributes: 0.1, mcq: 0.4 };

export function example(rand: Rand, family: Family, split: 'train' | 'heldout'): Example {
  switch (family) {
    case 'ioi':
      return ioiExample(rand, split);
    case 'refusal':
      return refusalExample(rand, split);
    case 'attributes':
      return attributeExample(rand, split);
    case 'mcq':
      return mcqExample(rand, split);
  }
}

/** An endless, seeded stream of training examples mixed by FAMILY_WEIGHTS. */
export function* trainingStream(seed: number): Generator<Example> {
  const rand = mulberry32(seed);
  const fams = Object.entries(FAMILY_WEIGHTS) as [Family, number][];
  for (;;) {
    let u = rand();
    let fam = fams[fams.length - 1][0];
    for (const [f, w] of fams) {
      if (u < w) {
        fam = f;
        break;
      }
      u -= w;
    }
    yield example(rand, fam, 'train');
  }
}

/** A fixed held-out evaluation set per family. */
export function heldOutSet(family: Family, n: number, seed: number): Example[] {
  const rand = mulberry32(seed ^ 0x5eed);
  return Array.from({ length: n }, () => example(rand, family, 'heldout'));
}

/** Every token the world can produce, specials first. */
export function worldVocabulary(): string[] {
  const set = new Set<string>();
  const add = (s: string) => words(s).forEach((w) => set.add(w));
  [
    ...NAMES,
    ...PLACES,
    ...OBJECTS,
    ...IOI_TEMPLATES,
    ...HARMFUL,
    ...BORDERLINE,
    ...BENIGN,
    ...REFUSAL_TEMPLATES,
    REFUSE_ANSWER,
    COMPLY_ANSWER,
  ].forEach(add);
  Object.values(FIELDS).flat().forEach(add);
  [...Object.values(FIELD_PLACE), ...POSITIVE, ...NEGATIVE, ...SENTIMENT_VERB, ...ATTR_SUBJECTS, ...ATTR_TEMPLATES].forEach(add);
  for (const f of [...FORGET_FACTS, ...RETAIN_FACTS]) {
    add(f.question);
    add(f.answer);
  }
  ['Q', ':', '?', 'Answer', '.', ...LETTERS].forEach(add);
  const tokens = [...set].filter((w) => !/^\[[A-Z]+\]$/.test(w)).sort();
  return [SPECIAL.pad, SPECIAL.unk, SPECIAL.bos, SPECIAL.eos, ...tokens];
}
