// Position sets: a prompt set's own δ positions may differ in number per prompt (padded with the unused slot −1);
// one shared δ needs the same number in every prompt, and says which two prompts differ when they do not.
import { describe, expect, it } from 'vitest';
import { positionSets, sharedDeltaProblem } from './positions.ts';

describe('positionSets', () => {
  // Two prompts of 4 and 3 tokens, right-padded to 4.
  const mask = Float32Array.from([1, 1, 1, 1, 1, 1, 1, 0]);

  it('pads rows of different lengths with −1 and keeps every real token and the last one', () => {
    const sets = positionSets(mask, 2, 4, [[1, 3], [2]]);
    expect(sets.default).toEqual([
      [1, 3],
      [2, -1],
    ]);
    expect(sets.all).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, -1],
    ]);
    expect(sets.last).toEqual([[3], [2]]);
  });
});

describe('sharedDeltaProblem', () => {
  it('is null when every prompt has as many positions, wherever they are', () => {
    expect(sharedDeltaProblem([[13], [9], [20]])).toBeNull();
    expect(
      sharedDeltaProblem([
        [3, 13],
        [4, 9],
      ]),
    ).toBeNull();
  });

  it('names the first prompt and the first that differs from it, with their positions, and what to change', () => {
    expect(sharedDeltaProblem([[13], [9], [3, 12], [1, 2, 3]], 'set.jsonl')).toBe(
      "set.jsonl: one shared δ needs the same number of δ positions in every prompt (its k-th slot goes to each prompt's k-th position), " +
        'but prompt 1 has 1 (position 13) and prompt 3 has 2 (positions 3, 12): give every prompt the same number of "delta_positions", or run δ per sample',
    );
  });
});
