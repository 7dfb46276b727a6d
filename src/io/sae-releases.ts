// Well-known SAE releases, so a user can pick "gpt2-small-res-jb, layer 4" instead of typing a Hub path. Only
// releases whose layout we have checked, each fact with where it was checked (SAELens's sae_lens/pretrained_saes.yaml,
// jbloomAus/SAELens at 91ca16c, October 2025, and the Hub's file listings). Data only (the page imports it).
//
// A release's folder for a layer (and width) is a path inside its repository: a concrete folder, or one that names
// the folder by a rule and is resolved first — average_l0_closest_N, "the folder whose average L0 is closest to N",
// resolved through the Hub's listing by src/io/sae-ref.ts (resolveSaeRef; on Node src/cli/hub-resolve.ts, which
// remembers the answer in the download cache). `needsResolution` says which.
import type { SaeLayout } from './sae-ref.ts';

export interface SaeRelease {
  /** SAELens' release name. */
  id: string;
  /** The model the SAEs were trained on, as a Hub repository. */
  model: string;
  repo: string;
  /** What each folder holds: SAELens's cfg.json + sae_weights.safetensors, or Gemma Scope's params.npz. */
  layout: SaeLayout;
  layers: number[];
  defaultLayer: number;
  /**
   * The widths a layer has, by name (Gemma Scope: 16k, 65k), with their d_sae; absent: one width, `dSae`. The first is
   * the default.
   */
  widths?: { name: string; dSae: number }[];
  /** The folder of one layer's (and width's) SAE inside `repo`. */
  folder: (layer: number, width?: string) => string;
  /** Does `folder` name a folder by a rule (average_l0_closest_N) that must be resolved before anything is fetched? */
  needsResolution?: boolean;
  /** SAELens's sae_id for the same SAE (SAE.from_pretrained(release, sae_id)), when it has a fixed one. */
  saelensId?: (layer: number, width?: string) => string;
  /** The hook the SAE reads. */
  hook: (layer: number) => string;
  dIn: number;
  /** d_sae of the default width. */
  dSae: number;
  architecture: string;
  /**
   * The same SAE on Neuronpedia, for its feature labels: model id and source id as in its URLs
   * (neuronpedia.org/{modelId}/{source}/{index}). Absent when Neuronpedia does not host the release.
   */
  neuronpedia?: (layer: number, width?: string) => { modelId: string; source: string };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Gemma Scope 2B's widths at every residual layer (google/gemma-scope-2b-pt-res; d_sae as SAELens's gemma_2 loader maps them). */
const GEMMA_SCOPE_2B_WIDTHS = [
  { name: '16k', dSae: 16384 },
  { name: '65k', dSae: 65536 },
];

/**
 * SAELens's gemma-scope-2b-pt-res-canonical: the average L0 of layer L's canonical folder (layer_L/width_W/canonical →
 * layer_L/width_W/average_l0_N), read from pretrained_saes.yaml. At every layer and both widths it is also the folder
 * whose average L0 is closest to 100 among those the yaml lists for gemma-scope-2b-pt-res (checked when written).
 */
export const GEMMA_SCOPE_2B_CANONICAL_L0: Record<string, readonly number[]> = {
  '16k': [105, 102, 141, 59, 124, 68, 70, 69, 71, 73, 77, 80, 82, 84, 84, 78, 78, 77, 74, 73, 71, 70, 72, 75, 73, 116],
  '65k': [73, 121, 77, 89, 89, 105, 107, 107, 111, 118, 128, 70, 72, 75, 73, 127, 128, 125, 116, 115, 114, 111, 116, 123, 124, 93],
};

/** The average L0 the paper's code picks a Gemma Scope folder by (get_optimal_file's 100). */
export const PAPER_TARGET_L0 = 100;

const gemmaWidth = (width?: string) => width ?? GEMMA_SCOPE_2B_WIDTHS[0].name;
const gemmaScopeNeuronpedia = (layer: number, width?: string) => ({
  modelId: 'gemma-2-2b',
  source: `${layer}-gemmascope-res-${gemmaWidth(width)}`,
});

export const SAE_RELEASES: SaeRelease[] = [
  {
    // Joseph Bloom's residual-stream SAEs for GPT-2 small, the paper's IOI SAE (layer 4).
    id: 'gpt2-small-res-jb',
    model: 'openai-community/gpt2',
    repo: 'jbloom/GPT2-Small-SAEs-Reformatted',
    layout: 'saelens',
    layers: range(12),
    defaultLayer: 4,
    folder: (layer) => `blocks.${layer}.hook_resid_pre`,
    saelensId: (layer) => `blocks.${layer}.hook_resid_pre`,
    hook: (layer) => `blocks.${layer}.hook_resid_pre`,
    dIn: 768,
    dSae: 24576,
    architecture: 'standard (ReLU)',
    // Neuronpedia's own name for this set: gpt2-small/4-res-jb is blocks.4.hook_resid_pre.
    neuronpedia: (layer) => ({ modelId: 'gpt2-small', source: `${layer}-res-jb` }),
  },
  {
    // Google DeepMind's Gemma Scope residual-stream SAEs for Gemma 2 2B (pre-trained), chosen as the paper's code chooses
    // them (refusal, TPP, WMDP-Bio): at a layer and width, the folder whose average L0 is closest to 100. SAELens's
    // release gemma-scope-2b-pt-res lists every layer_0…layer_25 with width_16k and width_65k folders (five
    // average_l0_N each); its loader reads params.npz as JumpReLU, hook blocks.L.hook_resid_post, d_in 2304.
    id: 'gemma-scope-2b-pt-res',
    model: 'google/gemma-2-2b',
    repo: 'google/gemma-scope-2b-pt-res',
    layout: 'gemma-scope',
    layers: range(26),
    defaultLayer: 12,
    widths: GEMMA_SCOPE_2B_WIDTHS,
    folder: (layer, width) => `layer_${layer}/width_${gemmaWidth(width)}/average_l0_closest_${PAPER_TARGET_L0}`,
    needsResolution: true,
    hook: (layer) => `blocks.${layer}.hook_resid_post`,
    dIn: 2304,
    dSae: GEMMA_SCOPE_2B_WIDTHS[0].dSae,
    architecture: 'JumpReLU',
    // Neuronpedia hosts the canonical folders (below); the closest-to-100 folder is the canonical one at every layer
    // and both widths, so the labels are the same SAE's. neuronpediaSourceOf matches the resolved folder's path.
    neuronpedia: gemmaScopeNeuronpedia,
  },
  {
    // SAELens's own release of the same repository: one folder per layer and width, its "canonical" sae_id naming a
    // fixed average_l0_N folder (pretrained_saes.yaml), with Neuronpedia's ids gemma-2-2b/{L}-gemmascope-res-{16k,65k}.
    id: 'gemma-scope-2b-pt-res-canonical',
    model: 'google/gemma-2-2b',
    repo: 'google/gemma-scope-2b-pt-res',
    layout: 'gemma-scope',
    layers: range(26),
    defaultLayer: 12,
    widths: GEMMA_SCOPE_2B_WIDTHS,
    folder: (layer, width) =>
      `layer_${layer}/width_${gemmaWidth(width)}/average_l0_${GEMMA_SCOPE_2B_CANONICAL_L0[gemmaWidth(width)][layer]}`,
    saelensId: (layer, width) => `layer_${layer}/width_${gemmaWidth(width)}/canonical`,
    hook: (layer) => `blocks.${layer}.hook_resid_post`,
    dIn: 2304,
    dSae: GEMMA_SCOPE_2B_WIDTHS[0].dSae,
    architecture: 'JumpReLU',
    neuronpedia: gemmaScopeNeuronpedia,
  },
  {
    // Samuel Marks's residual-stream dictionaries for Pythia-70m-deduped in SAELens's layout (pretrained_saes.yaml:
    // release pythia-70m-deduped-res-sm, repo ctigges/pythia-70m-deduped__res-sm_processed, conversion_func null, so
    // each folder is cfg.json + sae_weights.safetensors + sparsity.safetensors). Folder L-res-sm is
    // blocks.L.hook_resid_post (Neuronpedia pythia-70m-deduped/L-res-sm); the release's e-res-sm
    // (blocks.0.hook_resid_pre) is not a layer here: hf:ctigges/pythia-70m-deduped__res-sm_processed/e-res-sm.
    // d_in 512 (Pythia-70m's width); d_sae 32768, from the Hub's listing (sparsity.safetensors 131 kB = 32768 float32,
    // sae_weights.safetensors 134 MB = releaseWeightBytes). Standard ReLU SAEs; the loader reads the cfg.json anyway.
    id: 'pythia-70m-deduped-res-sm',
    model: 'EleutherAI/pythia-70m-deduped',
    repo: 'ctigges/pythia-70m-deduped__res-sm_processed',
    layout: 'saelens',
    layers: range(6),
    defaultLayer: 3,
    folder: (layer) => `${layer}-res-sm`,
    saelensId: (layer) => `blocks.${layer}.hook_resid_post`,
    hook: (layer) => `blocks.${layer}.hook_resid_post`,
    dIn: 512,
    dSae: 32768,
    architecture: 'standard (ReLU)',
    neuronpedia: (layer) => ({ modelId: 'pythia-70m-deduped', source: `${layer}-res-sm` }),
  },
];

/** d_sae of a release at a width (its default width without one). */
export function releaseDSae(r: SaeRelease, width?: string): number {
  if (width === undefined || !r.widths) return r.dSae;
  const w = r.widths.find((x) => x.name === width);
  if (!w) throw new Error(`release ${r.id} has no width ${width} (it has ${r.widths.map((x) => x.name).join(', ')})`);
  return w.dSae;
}

/**
 * The hf: reference of one layer's (and width's) SAE in a release. For a release that `needsResolution` it names the
 * folder by its rule (…/average_l0_closest_100): resolve it (src/io/sae-ref.ts resolveSaeRef) before fetching files.
 */
export const releaseRef = (r: SaeRelease, layer: number, width?: string) => `hf:${r.repo}/${r.folder(layer, width)}`;

/**
 * Bytes of a release's weights file in float32 (the header is a few hundred bytes): sae_weights.safetensors holds
 * W_enc, W_dec, b_enc, b_dec; Gemma Scope's params.npz those and the threshold.
 */
export function releaseWeightBytes(r: SaeRelease, width?: string): number {
  const dSae = releaseDSae(r, width);
  const perFeature = r.layout === 'gemma-scope' ? 2 : 1;
  return 4 * (2 * r.dIn * dSae + perFeature * dSae + r.dIn);
}
