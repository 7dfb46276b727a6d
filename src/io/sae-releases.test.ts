import { describe, expect, it } from 'vitest';
import { neuronpediaSourceOf } from './neuronpedia.ts';
import { parseClosestL0 } from './sae-ref.ts';
import { PAPER_IOI } from '../scenarios/catalog.ts';
import { releaseDSae, releaseRef, releaseWeightBytes, SAE_RELEASES } from './sae-releases.ts';

const byId = (id: string) => SAE_RELEASES.find((r) => r.id === id)!;

describe('SAE releases', () => {
  it("hold the paper's SAE at gpt2-small-res-jb layer 4, and its download size (~151 MB)", () => {
    const jb = byId('gpt2-small-res-jb');
    // The page's default release is the first.
    expect(SAE_RELEASES[0]).toBe(jb);
    expect(releaseRef(jb, 4)).toBe(PAPER_IOI.sae);
    expect(`hf:${jb.model}`).toBe(PAPER_IOI.model);
    expect(releaseRef(jb, 0)).toBe('hf:jbloom/GPT2-Small-SAEs-Reformatted/blocks.0.hook_resid_pre');
    expect(jb.layers).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(jb.layout).toBe('saelens');
    expect(jb.needsResolution).toBeFalsy();
    expect(releaseWeightBytes(jb)).toBe(151_096_320);
  });

  it("name Gemma Scope 2B's residual SAEs by the paper's closest-L0 rule at widths 16k and 65k, layers 0–25", () => {
    const gs = byId('gemma-scope-2b-pt-res');
    expect(gs).toMatchObject({ model: 'google/gemma-2-2b', repo: 'google/gemma-scope-2b-pt-res', layout: 'gemma-scope', dIn: 2304 });
    expect(gs.layers).toEqual(Array.from({ length: 26 }, (_, i) => i));
    expect(gs.widths?.map((w) => w.name)).toEqual(['16k', '65k']);
    expect(gs.needsResolution).toBe(true);
    expect(releaseRef(gs, 11, '65k')).toBe('hf:google/gemma-scope-2b-pt-res/layer_11/width_65k/average_l0_closest_100');
    expect(releaseRef(gs, 3)).toBe('hf:google/gemma-scope-2b-pt-res/layer_3/width_16k/average_l0_closest_100');
    expect(parseClosestL0(gs.folder(3, '16k'))).toEqual({ folder: 'layer_3/width_16k', target: 100 });
    expect(gs.hook(11)).toBe('blocks.11.hook_resid_post');
    expect(releaseDSae(gs, '65k')).toBe(65536);
    expect(releaseDSae(gs)).toBe(16384);
    expect(() => releaseDSae(gs, '1m')).toThrow('release gemma-scope-2b-pt-res has no width 1m (it has 16k, 65k)');
    // params.npz in float32: W_enc, W_dec, b_enc, threshold, b_dec; ~1.2 GB at 65k.
    expect(releaseWeightBytes(gs, '65k')).toBe(1_208_493_056);
    expect(releaseWeightBytes(gs, '16k')).toBe(302_130_176);
  });

  it("hold SAELens's canonical Gemma Scope folders with their sae_ids and Neuronpedia sources", () => {
    const c = byId('gemma-scope-2b-pt-res-canonical');
    expect(c.needsResolution).toBeFalsy();
    expect(releaseRef(c, 11, '16k')).toBe('hf:google/gemma-scope-2b-pt-res/layer_11/width_16k/average_l0_80');
    expect(releaseRef(c, 11, '65k')).toBe('hf:google/gemma-scope-2b-pt-res/layer_11/width_65k/average_l0_70');
    expect(c.folder(0, '16k')).toBe('layer_0/width_16k/average_l0_105');
    expect(c.folder(25, '65k')).toBe('layer_25/width_65k/average_l0_93');
    expect(c.saelensId?.(3, '16k')).toBe('layer_3/width_16k/canonical');
    expect(c.neuronpedia?.(3, '16k')).toEqual({ modelId: 'gemma-2-2b', source: '3-gemmascope-res-16k' });
    expect(c.neuronpedia?.(3, '65k')).toEqual({ modelId: 'gemma-2-2b', source: '3-gemmascope-res-65k' });
    // The page's labels follow the folder a load resolved to.
    expect(neuronpediaSourceOf('hf:google/gemma-scope-2b-pt-res/layer_3/width_16k/average_l0_59')).toEqual({
      modelId: 'gemma-2-2b',
      source: '3-gemmascope-res-16k',
    });
    expect(neuronpediaSourceOf('hf:google/gemma-scope-2b-pt-res/layer_3/width_65k/average_l0_89')).toEqual({
      modelId: 'gemma-2-2b',
      source: '3-gemmascope-res-65k',
    });
    expect(neuronpediaSourceOf('hf:google/gemma-scope-2b-pt-res/layer_3/width_16k/average_l0_142')).toBeNull();
  });

  it("hold SAELens's Pythia-70m-deduped residual SAEs (pythia-70m-deduped-res-sm)", () => {
    const p = byId('pythia-70m-deduped-res-sm');
    expect(p).toMatchObject({ model: 'EleutherAI/pythia-70m-deduped', layout: 'saelens', dIn: 512, dSae: 32768 });
    expect(p.layers).toEqual([0, 1, 2, 3, 4, 5]);
    expect(releaseRef(p, 2)).toBe('hf:ctigges/pythia-70m-deduped__res-sm_processed/2-res-sm');
    expect(p.hook(2)).toBe('blocks.2.hook_resid_post');
    expect(p.saelensId?.(2)).toBe('blocks.2.hook_resid_post');
    expect(neuronpediaSourceOf(releaseRef(p, 5))).toEqual({ modelId: 'pythia-70m-deduped', source: '5-res-sm' });
    // The Hub lists sae_weights.safetensors at 134 MB.
    expect(releaseWeightBytes(p)).toBe(134_350_848);
  });

  it('every release: ids unique, the default layer among its layers, folders distinct per layer and width', () => {
    expect(new Set(SAE_RELEASES.map((r) => r.id)).size).toBe(SAE_RELEASES.length);
    for (const r of SAE_RELEASES) {
      expect(r.layers, r.id).toContain(r.defaultLayer);
      const widths = r.widths?.map((w) => w.name) ?? [undefined];
      const folders = r.layers.flatMap((l) => widths.map((w) => r.folder(l, w)));
      expect(new Set(folders).size, r.id).toBe(folders.length);
      if (r.widths) expect(r.dSae).toBe(r.widths[0].dSae);
    }
  });
});
