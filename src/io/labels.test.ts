// The feature picker's search over indices and labels.
import { describe, expect, it } from 'vitest';
import { featureSearch, parseFeatureLabels } from './labels.ts';

// A Neuronpedia export as the page reads it.
const labels = parseFeatureLabels(
  JSON.stringify([
    { index: 0, description: 'the Golden Gate Bridge' },
    { index: 7, description: 'names of people (Mary, John)' },
    { index: 12, description: 'refusal: "I cannot"' },
    { index: 42, description: 'numbers like 42 and 7' },
    { index: 420, description: 'golden retrievers' },
  ]),
);
const search = (q: string) => Array.from({ length: 500 }, (_, i) => i).filter((i) => featureSearch(q)(i, labels.get(i) ?? ''));

describe('featureSearch', () => {
  it.each([
    ['', 500],
    ['   ', 500],
  ])('an empty query %j matches every feature', (q, n) => {
    expect(search(q)).toHaveLength(n);
  });

  it.each([
    ['42', [42]],
    ['#42', [42]],
    ['7', [7, 42]], // feature 7, and the label that says "7"
    ['10-13', [10, 11, 12, 13]],
    ['13-10', [10, 11, 12, 13]],
    ['3, 7, 10-11', [3, 7, 10, 11]],
    ['499', [499]],
    ['500', []],
  ])('indices and ranges: %j → %j', (q, want) => {
    expect(search(q)).toEqual(want);
  });

  it.each([
    ['golden', [0, 420]],
    ['GOLDEN gate', [0]],
    ['gate golden', [0]],
    ['mary', [7]],
    ['"i cannot"', [12]],
    ['cannot refusal', [12]],
    ['golden zebra', []],
  ])('words of a label, any order, any case: %j → %j', (q, want) => {
    expect(search(q)).toEqual(want);
  });
});
