import { describe, expect, it } from 'vitest';
import { PAPER_IOI } from './catalog.ts';
import { releaseRef, releaseWeightBytes, SAE_RELEASES } from './releases.ts';

describe('SAE releases', () => {
  it("hold the paper's SAE at gpt2-small-res-jb layer 4, and its download size (~151 MB)", () => {
    const jb = SAE_RELEASES.find((r) => r.id === 'gpt2-small-res-jb')!;
    expect(releaseRef(jb, 4)).toBe(PAPER_IOI.sae);
    expect(`hf:${jb.model}`).toBe(PAPER_IOI.model);
    expect(releaseRef(jb, 0)).toBe('hf:jbloom/GPT2-Small-SAEs-Reformatted/blocks.0.hook_resid_pre');
    expect(jb.layers).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(releaseWeightBytes(jb)).toBe(151_096_320);
  });
});
