import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { acceptNumber } from './number-input.ts';

describe('number field rule', () => {
  it("'drop' (the default) takes a finite value within the bounds, bounds included, and nothing else", () => {
    const r = { min: 1e-6, max: 10 };
    expect(acceptNumber(0.05, r)).toBe(0.05);
    expect(acceptNumber(1e-6, r)).toBe(1e-6);
    expect(acceptNumber(10, r)).toBe(10);
    for (const bad of [0, -1, 10.0001, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])
      expect(acceptNumber(bad, r)).toBeNull();
  });

  it("'drop' with integer: a count or a seed takes whole numbers only (2.5 steps would be a link the page refuses)", () => {
    const rule = { min: 1, max: 100, integer: true };
    expect(acceptNumber(40, rule)).toBe(40);
    expect(acceptNumber(2.5, rule)).toBeNull();
    expect(acceptNumber(1e-9 + 3, rule)).toBeNull();
    expect(acceptNumber(2.5, { min: 1, max: 100 })).toBe(2.5);
  });

  it("'drop' with a symmetric bound: the clamp magnitude's |v| ≤ M", () => {
    const M = 1e4;
    fc.assert(
      fc.property(fc.double({ noNaN: true }), (v) => {
        const out = acceptNumber(v, { min: -M, max: M });
        expect(out).toBe(Number.isFinite(v) && Math.abs(v) <= M ? v : null);
      }),
    );
  });

  it("'drop' without bounds still refuses NaN and infinities", () => {
    expect(acceptNumber(-3.5, {})).toBe(-3.5);
    expect(acceptNumber(Number.NaN, {})).toBeNull();
    expect(acceptNumber(Number.POSITIVE_INFINITY, {})).toBeNull();
  });

  it("'clamp' is the top-K field's old rule, max(1, min(d, v || 1)), for every typed value", () => {
    const d = 512;
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer({ min: -5, max: 600 }).map(Number)), (v) => {
        expect(acceptNumber(v, { min: 1, max: d, outOfRange: 'clamp' })).toBe(Math.max(1, Math.min(d, v || 1)));
      }),
    );
  });

  it("'clamp' reads an empty field as the lower bound, or 0 where there is none", () => {
    expect(acceptNumber(Number.NaN, { min: 2, max: 9, outOfRange: 'clamp' })).toBe(2);
    expect(acceptNumber(Number.NaN, { max: 9, outOfRange: 'clamp' })).toBe(0);
    expect(acceptNumber(12, { max: 9, outOfRange: 'clamp' })).toBe(9);
  });

  it("'pass' passes every value on, for the caller to report", () => {
    expect(acceptNumber(Number.NaN, { min: 1, max: 4, outOfRange: 'pass' })).toBeNaN();
    expect(acceptNumber(0, { min: 1, max: 4, outOfRange: 'pass' })).toBe(0);
    expect(acceptNumber(2.5, { min: 1, max: 4, outOfRange: 'pass' })).toBe(2.5);
  });
});
