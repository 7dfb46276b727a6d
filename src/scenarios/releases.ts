// Well-known SAE releases, so a user can pick "gpt2-small-res-jb, layer 4" instead of typing a Hub path. Only
// releases whose layout we have checked: each entry's folders hold SAELens cfg.json + sae_weights.safetensors.
// Data only (the page imports it).
export interface SaeRelease {
  /** SAELens' release name. */
  id: string;
  /** The model the SAEs were trained on, as a Hub repository. */
  model: string;
  repo: string;
  layers: number[];
  defaultLayer: number;
  /** The folder of one layer's SAE inside `repo`. */
  folder: (layer: number) => string;
  dIn: number;
  dSae: number;
  architecture: string;
  /**
   * The same SAE on Neuronpedia, for its feature labels: model id and source id as in its URLs
   * (neuronpedia.org/{modelId}/{source}/{index}). Absent when Neuronpedia does not host the release.
   */
  neuronpedia?: (layer: number) => { modelId: string; source: string };
}

export const SAE_RELEASES: SaeRelease[] = [
  {
    // Joseph Bloom's residual-stream SAEs for GPT-2 small, the paper's IOI SAE (layer 4).
    id: 'gpt2-small-res-jb',
    model: 'openai-community/gpt2',
    repo: 'jbloom/GPT2-Small-SAEs-Reformatted',
    layers: Array.from({ length: 12 }, (_, i) => i),
    defaultLayer: 4,
    folder: (layer) => `blocks.${layer}.hook_resid_pre`,
    dIn: 768,
    dSae: 24576,
    architecture: 'standard (ReLU)',
    // Neuronpedia's own name for this set: gpt2-small/4-res-jb is blocks.4.hook_resid_pre.
    neuronpedia: (layer) => ({ modelId: 'gpt2-small', source: `${layer}-res-jb` }),
  },
];

/** The hf: reference of one layer's SAE in a release. */
export const releaseRef = (r: SaeRelease, layer: number) => `hf:${r.repo}/${r.folder(layer)}`;

/** Bytes of a release's sae_weights.safetensors in float32: W_enc, W_dec, b_enc, b_dec (the header is a few hundred bytes). */
export const releaseWeightBytes = (r: SaeRelease) => 4 * (2 * r.dIn * r.dSae + r.dSae + r.dIn);
