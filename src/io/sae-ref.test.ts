// "The folder whose average L0 is closest to N", by the rule of the paper's code (get_optimal_file, see sae-ref.ts):
// on hand-made listings (ties, an empty listing, stray files), on the folders SAELens lists for gemma-scope-2b-pt-res
// (where the rule picks SAELens's canonical folder at every layer), and resolved through the fake Hub's listing.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeHub } from '../../scripts/fixtures/fake-hub.ts';
import { GEMMA_SCOPE_2B_CANONICAL_L0, releaseRef, SAE_RELEASES } from './sae-releases.ts';
import { HubInputError, parseHubRef } from './hub.ts';
import { closestL0Path, hubRefString, isGemmaScopePath, parseClosestL0, pickClosestL0, resolveSaeRef, saeLayoutOf } from './sae-ref.ts';

const files = (folder: string, l0s: number[]) => l0s.map((n) => `${folder}/average_l0_${n}/params.npz`);

describe('the closest-L0 rule', () => {
  it('picks the average L0 nearest the target', () => {
    const c = pickClosestL0(files('layer_11/width_65k', [134, 21, 273, 37, 70]), 'layer_11/width_65k', 100);
    expect(c.path).toBe('layer_11/width_65k/average_l0_70');
    expect(c.averageL0).toBe(70);
    expect(c.target).toBe(100);
    // The candidates in the order the rule walks them: byte order of their paths, as the Hub lists them.
    expect(c.candidates.map((x) => x.averageL0)).toEqual([134, 21, 273, 37, 70]);
    expect(pickClosestL0(files('f', [134, 21, 273, 37, 70]), 'f', 30).averageL0).toBe(37);
    expect(pickClosestL0(files('f', [134, 21, 273, 37, 70]), 'f', 0).averageL0).toBe(21);
  });

  it('breaks a tie as the paper’s min() over the Hub’s byte-ordered listing does: the first path in byte order', () => {
    // |90 − 100| = |110 − 100|: "average_l0_110" < "average_l0_90" in byte order, so 110, whatever order they come in.
    expect(pickClosestL0(files('f', [90, 110]), 'f', 100).averageL0).toBe(110);
    expect(pickClosestL0(files('f', [110, 90]), 'f', 100).averageL0).toBe(110);
    // Same number of digits: the smaller one comes first.
    expect(pickClosestL0(files('f', [55, 45, 300]), 'f', 50).averageL0).toBe(45);
    expect(pickClosestL0(files('f', [95, 105, 7]), 'f', 100).averageL0).toBe(105);
  });

  it('counts only params.npz files under the folder, and refuses an empty listing or an unreadable L0', () => {
    const listing = [
      ...files('layer_3/width_16k', [59, 142]),
      'layer_3/width_16k/average_l0_99/README.md',
      'layer_3/width_65k/average_l0_100/params.npz',
      'layer_3/width_16k/average_l0_98/params.npz.lock',
    ];
    expect(pickClosestL0(listing, 'layer_3/width_16k', 100).path).toBe('layer_3/width_16k/average_l0_59');
    expect(() => pickClosestL0([], 'layer_3/width_16k', 100, 'hf:g/s/layer_3/width_16k/average_l0_closest_100')).toThrow(
      "hf:g/s/layer_3/width_16k/average_l0_closest_100: no params.npz under layer_3/width_16k, so no average L0 to choose from (check the layer and the width: Gemma Scope's folders are layer_N/width_16k, width_65k, …)",
    );
    expect(() => pickClosestL0(listing, 'layer_4/width_16k', 100)).toThrow(HubInputError);
    expect(() => pickClosestL0(['f/average_l0_x/params.npz', ...files('f', [3])], 'f', 100)).toThrow(
      'f: cannot read an average L0 from f/average_l0_x/params.npz (expected …/average_l0_N/params.npz)',
    );
  });

  it("on the folders SAELens's pretrained_saes.yaml lists for gemma-scope-2b-pt-res, picks its canonical folder at every layer", () => {
    // The average_l0_N of each layer_L/width_W, as listed by the yaml (byte order of path).
    const listed: Record<string, number[][]> = {
      '16k': [
        [105, 13, 226, 25, 46],
        [10, 102, 20, 250, 40],
        [13, 141, 142, 24, 304, 53],
        [14, 142, 28, 315, 59],
        [124, 125, 17, 281, 31, 60],
        [143, 18, 309, 34, 68],
        [144, 19, 301, 36, 70],
        [137, 20, 285, 36, 69],
        [142, 20, 301, 37, 71],
        [151, 21, 340, 37, 73],
        [166, 21, 39, 395, 77],
        [168, 22, 393, 41, 80],
        [176, 22, 41, 445, 82],
        [173, 23, 403, 43, 83, 84],
        [173, 23, 388, 43, 83, 84],
        [150, 23, 308, 41, 78],
        [154, 23, 335, 42, 78],
        [150, 23, 304, 42, 77],
        [138, 23, 280, 40, 74],
        [137, 23, 279, 40, 73],
        [139, 22, 294, 38, 71],
        [139, 22, 301, 38, 70],
        [147, 21, 349, 38, 72],
        [157, 21, 38, 404, 74, 75],
        [158, 20, 38, 457, 73],
        [116, 16, 28, 285, 55],
      ],
      '65k': [
        [11, 17, 27, 43, 73],
        [121, 16, 30, 54, 9],
        [11, 169, 20, 37, 77],
        [13, 193, 23, 42, 89],
        [14, 177, 25, 46, 89],
        [105, 17, 211, 29, 53],
        [107, 17, 208, 30, 56],
        [107, 18, 203, 31, 57],
        [111, 19, 213, 33, 59],
        [118, 19, 240, 34, 61],
        [128, 20, 265, 36, 66],
        [134, 21, 273, 37, 70],
        [141, 21, 297, 38, 72],
        [142, 22, 288, 40, 74, 75],
        [144, 21, 284, 40, 73],
        [127, 21, 240, 38, 68],
        [128, 21, 244, 38, 69],
        [125, 21, 233, 38, 68],
        [116, 117, 21, 216, 36, 64],
        [115, 21, 216, 35, 63],
        [114, 20, 221, 34, 61],
        [111, 112, 20, 225, 33, 61],
        [116, 117, 20, 248, 33, 62],
        [123, 124, 20, 272, 35, 64],
        [124, 19, 273, 34, 63],
        [15, 197, 26, 48, 93],
      ],
    };
    const canonical = SAE_RELEASES.find((r) => r.id === 'gemma-scope-2b-pt-res-canonical')!;
    for (const width of ['16k', '65k']) {
      listed[width].forEach((l0s, layer) => {
        const folder = `layer_${layer}/width_${width}`;
        const c = pickClosestL0(files(folder, l0s), folder, 100);
        expect(c.averageL0, folder).toBe(GEMMA_SCOPE_2B_CANONICAL_L0[width][layer]);
        expect(c.path).toBe(canonical.folder(layer, width));
      });
    }
  });
});

describe('references', () => {
  it('parse the closest-L0 form and tell the layouts apart', () => {
    expect(parseClosestL0('layer_11/width_65k/average_l0_closest_100')).toEqual({ folder: 'layer_11/width_65k', target: 100 });
    expect(parseClosestL0('layer_11/width_65k/average_l0_closest_100/')).toEqual({ folder: 'layer_11/width_65k', target: 100 });
    expect(parseClosestL0('average_l0_closest_7')).toEqual({ folder: '', target: 7 });
    expect(parseClosestL0('layer_11/width_65k/average_l0_70')).toBeNull();
    expect(parseClosestL0('layer_11/width_65k/average_l0_closest_')).toBeNull();
    expect(closestL0Path('layer_1/width_16k', 50)).toBe('layer_1/width_16k/average_l0_closest_50');
    expect(isGemmaScopePath('layer_1/width_16k/average_l0_50')).toBe(true);
    expect(isGemmaScopePath('layer_1/width_16k/average_l0_closest_50')).toBe(true);
    expect(isGemmaScopePath('blocks.4.hook_resid_pre')).toBe(false);
    expect(saeLayoutOf(['cfg.json', 'sae_weights.safetensors'])).toBe('saelens');
    expect(saeLayoutOf(['sae/params.npz'])).toBe('gemma-scope');
    expect(saeLayoutOf(['cfg.json', 'params.npz'])).toBe('saelens');
    expect(saeLayoutOf(['model.safetensors'])).toBeNull();
    expect(hubRefString(parseHubRef('hf:o/m@dev/a/b'))).toBe('hf:o/m@dev/a/b');
    expect(hubRefString(parseHubRef('hf:o/m/a'))).toBe('hf:o/m/a');
  });
});

describe('resolveSaeRef through the Hub listing', () => {
  const hub = new FakeHub();
  beforeAll(() => hub.start());
  afterAll(() => hub.stop());
  beforeEach(() => {
    hub.files.clear();
    hub.log = [];
  });

  it('resolves a release’s closest-L0 folder to the concrete one, and leaves a concrete reference alone', async () => {
    const release = SAE_RELEASES.find((r) => r.id === 'gemma-scope-2b-pt-res')!;
    const ref = releaseRef(release, 11, '65k');
    expect(ref).toBe('hf:google/gemma-scope-2b-pt-res/layer_11/width_65k/average_l0_closest_100');
    for (const n of [134, 21, 273, 37, 70]) hub.put('google/gemma-scope-2b-pt-res', `layer_11/width_65k/average_l0_${n}/params.npz`, 'x');
    hub.put('google/gemma-scope-2b-pt-res', 'layer_11/width_16k/average_l0_99/params.npz', 'x');
    const r = await resolveSaeRef(parseHubRef(ref), { endpoint: hub.url, token: 'tk' });
    expect(hubRefString(r.ref)).toBe('hf:google/gemma-scope-2b-pt-res/layer_11/width_65k/average_l0_70');
    expect(r.choice?.candidates).toHaveLength(5);
    expect(hub.log).toEqual([
      { path: '/api/models/google/gemma-scope-2b-pt-res/tree/main/layer_11/width_65k', method: 'GET', auth: 'Bearer tk' },
    ]);
    const concrete = parseHubRef('hf:google/gemma-scope-2b-pt-res/layer_11/width_65k/average_l0_70');
    expect(await resolveSaeRef(concrete, { endpoint: hub.url })).toEqual({ ref: concrete });
    expect(hub.log).toHaveLength(1);
  });

  it('says what is missing when the layer or width has no folders', async () => {
    hub.put('g/s', 'layer_1/width_16k/average_l0_9/params.npz', 'x');
    await expect(resolveSaeRef(parseHubRef('hf:g/s/layer_2/width_16k/average_l0_closest_100'), { endpoint: hub.url })).rejects.toThrow(
      'the listing of hf:g/s@main/layer_2/width_16k was not found on the Hub',
    );
    hub.put('g/s', 'layer_2/width_16k/README.md', 'x');
    await expect(resolveSaeRef(parseHubRef('hf:g/s/layer_2/width_16k/average_l0_closest_100'), { endpoint: hub.url })).rejects.toThrow(
      'hf:g/s/layer_2/width_16k/average_l0_closest_100: no params.npz under layer_2/width_16k',
    );
  });
});
