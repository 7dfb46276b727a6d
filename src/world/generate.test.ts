import { describe, expect, it } from 'vitest';
import {
  FAMILIES,
  attrComboIsHeldOut,
  heldOutSet,
  ioiPairIsHeldOut,
  mcqArrangementIsHeldOut,
  refusalSplit,
  trainingStream,
  worldVocabulary,
  type Example,
} from './generate.ts';

const take = (n: number, seed: number): Example[] => {
  const it = trainingStream(seed);
  return Array.from({ length: n }, () => it.next().value as Example);
};

describe('synthetic world', () => {
  it('is deterministic given the seed', () => {
    expect(take(200, 3)).toEqual(take(200, 3));
    expect(take(50, 3)).not.toEqual(take(50, 4));
  });

  it('never trains on a held-out item, and held-out sets hold only held-out items', () => {
    const split = refusalSplit();
    for (const e of take(4000, 1)) {
      if (e.family === 'ioi') expect(ioiPairIsHeldOut(e.meta.io, e.meta.s)).toBe(false);
      if (e.family === 'refusal') expect(split[e.meta.kind].heldout).not.toContain(e.meta.request);
      if (e.family === 'attributes') expect(attrComboIsHeldOut(e.meta.job, e.tokens[e.tokens.indexOf('was') + 1])).toBe(false);
      if (e.family === 'mcq') expect(mcqArrangementIsHeldOut(e.meta.domain, e.meta.fact, e.meta.options)).toBe(false);
    }
    for (const f of FAMILIES) {
      for (const e of heldOutSet(f, 100, 1)) {
        expect(e.family).toBe(f);
        if (e.family === 'ioi') expect(ioiPairIsHeldOut(e.meta.io, e.meta.s)).toBe(true);
        if (e.family === 'refusal') expect(split[e.meta.kind].heldout).toContain(e.meta.request);
        if (e.family === 'mcq') expect(mcqArrangementIsHeldOut(e.meta.domain, e.meta.fact, e.meta.options)).toBe(true);
      }
    }
  });

  it('held-out refusal requests use only words seen in training requests', () => {
    const split = refusalSplit();
    const seen = new Set(Object.values(split).flatMap((s) => s.train.flatMap((r) => r.split(' '))));
    for (const s of Object.values(split)) for (const r of s.heldout) for (const w of r.split(' ')) expect(seen.has(w)).toBe(true);
    expect(split.harmful.heldout.length).toBeGreaterThan(0);
    expect(split.borderline.heldout.length).toBeGreaterThan(0);
    expect(split.benign.heldout.length).toBeGreaterThan(0);
  });

  it('examples are well formed: in vocabulary, short, answers where the family says', () => {
    const vocab = new Set(worldVocabulary());
    for (const e of [...take(2000, 2), ...FAMILIES.flatMap((f) => heldOutSet(f, 50, 2))]) {
      for (const t of e.tokens) expect(vocab.has(t)).toBe(true);
      expect(e.tokens.length).toBeLessThanOrEqual(32);
      if (e.family === 'ioi') {
        expect(e.tokens[e.promptLength]).toBe(e.meta.io);
        expect(e.tokens.slice(0, e.promptLength).filter((w) => w === e.meta.s)).toHaveLength(2);
        expect(e.tokens.slice(0, e.promptLength).filter((w) => w === e.meta.io)).toHaveLength(1);
      }
      if (e.family === 'refusal') expect(e.tokens[e.promptLength]).toBe(e.meta.kind === 'harmful' ? 'I' : 'Sure');
      if (e.family === 'mcq') expect(e.tokens[e.promptLength]).toBe('ABCD'[e.meta.correct]);
      if (e.family === 'attributes') expect(e.meta.verbPos).toBeGreaterThan(0);
    }
  });
});
