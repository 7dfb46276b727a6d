// Gemma Scope SAE folders (google/gemma-scope-2b-pt-res and its siblings): layer_L/width_W/average_l0_N/params.npz, a
// zip of .npy arrays W_enc [d, m], W_dec [m, d], b_enc [m], b_dec [d], threshold [m] (SAELens also reads w_enc/w_dec).
// There is no cfg.json: as SAELens's gemma_2 loader does, the folder path gives the rest — the hook
// blocks.L.hook_resid_post from layer_L, the width W (d_sae) from width_W, and the model from the repository's name
// when the path has it — and the SAE is JumpReLU with apply_b_dec_to_input false and no activation normalisation.
// Arrays are read without needless copies (src/io/npz.ts); with `inPlace` the params bytes are given up.
import { Sae, SaeError, type SaeConfig } from '../core/sae.ts';
import { gemmaScopeSae } from './npz.ts';
import type { LoadedSae, SaeLoadOptions } from './saelens.ts';

/** Width names → d_sae, as SAELens's gemma_2 loader maps them (powers of two named by their thousands). */
export const GEMMA_SCOPE_WIDTHS: Readonly<Record<string, number>> = {
  '4k': 4096,
  '16k': 16384,
  '32k': 32768,
  '65k': 65536,
  '131k': 131072,
  '262k': 262144,
  '524k': 524288,
  '1m': 1048576,
};

/** The residual stream's width of each Gemma 2 size, as SAELens's gemma_2 loader knows them. */
const GEMMA_2_MODELS: [key: string, name: string, dIn: number][] = [
  ['2b-it', 'gemma-2-2b-it', 2304],
  ['9b-it', 'gemma-2-9b-it', 3584],
  ['27b-it', 'gemma-2-27b-it', 4608],
  ['2b', 'gemma-2-2b', 2304],
  ['9b', 'gemma-2-9b', 3584],
  ['27b', 'gemma-2-27b', 4608],
];

export interface GemmaScopePathInfo {
  layer?: number;
  /** The width's name (16k, 65k) and the d_sae it means, when the name is known (or plain digits). */
  width?: string;
  dSae?: number;
  averageL0?: number;
  /** An embedding SAE's folder (embedding/width_4k/…): hook_embed, not a residual stream. */
  embedding: boolean;
  /** The repository's name when the path holds it (gemma-scope-2b-pt-res), and what it tells. */
  repoName?: string;
  site?: 'res' | 'mlp' | 'att';
  modelName?: string;
  modelDIn?: number;
}

/**
 * What a Gemma Scope folder's path says: an hf: reference (hf:google/gemma-scope-2b-pt-res/layer_11/width_65k/
 * average_l0_70) or a local path (…/gemma-scope-2b-pt-res/layer_11/width_65k/average_l0_70, or any folder whose last
 * parts are layer_L/width_W/average_l0_N).
 */
export function gemmaScopePathInfo(path: string): GemmaScopePathInfo {
  const parts = path
    .replace(/^hf:/, '')
    .split(/[\\/]+/)
    .map((p) => p.replace(/@.*$/, ''))
    .filter(Boolean);
  const info: GemmaScopePathInfo = { embedding: false };
  for (const p of parts) {
    const layer = /^layer_(\d+)$/.exec(p);
    const width = /^width_(\w+)$/.exec(p);
    const l0 = /^average_l0_(\d+)$/.exec(p);
    if (layer) info.layer = Number(layer[1]);
    else if (width) {
      info.width = width[1];
      info.dSae = GEMMA_SCOPE_WIDTHS[width[1]] ?? (/^\d+$/.test(width[1]) ? Number(width[1]) : undefined);
    } else if (l0) info.averageL0 = Number(l0[1]);
    else if (p === 'embedding') info.embedding = true;
    else if (/^gemma-scope-/.test(p)) {
      info.repoName = p;
      const rest = p.slice('gemma-scope-'.length);
      info.site = /(^|-)res(-|$)/.test(rest) ? 'res' : /(^|-)mlp(-|$)/.test(rest) ? 'mlp' : /(^|-)att(-|$)/.test(rest) ? 'att' : undefined;
      const model = GEMMA_2_MODELS.find(([key]) => rest.includes(key));
      if (model) [, info.modelName, info.modelDIn] = model;
    }
  }
  return info;
}

export interface GemmaScopeFiles {
  /** params.npz's bytes. */
  params: Uint8Array | ArrayBuffer;
  /** The folder's path or hf: reference: it gives the layer (hook), the width and the model. */
  path: string;
}

export interface GemmaScopeLoadOptions extends SaeLoadOptions {
  /** Give up `params`: arrays are aligned inside it instead of copied, and it cannot be loaded again. */
  inPlace?: boolean;
}

/** Load a Gemma Scope folder into a ready Sae, with the same result as loadSaeLens. */
export function loadGemmaScope(files: GemmaScopeFiles, opts: GemmaScopeLoadOptions = {}): LoadedSae {
  const src = opts.source ?? files.path;
  const file = `${src}/params.npz`;
  const info = gemmaScopePathInfo(files.path);
  if (info.embedding) {
    throw new SaeError(`${src}: an embedding SAE (hook_embed) is not supported; residual-stream SAEs of a layer (layer_N/…) only`);
  }
  if (info.site && info.site !== 'res') {
    const kind = info.site === 'mlp' ? 'MLP-output' : 'attention-output';
    throw new SaeError(`${src}: ${info.repoName} holds ${kind} SAEs; only residual-stream SAEs (gemma-scope-…-res) are supported`);
  }
  if (info.layer === undefined) {
    throw new SaeError(
      `${src}: the folder path names no layer (layer_N), so the SAE's hook (blocks.N.hook_resid_post) is unknown; keep Gemma Scope's folder names (layer_N/width_W/average_l0_K)`,
    );
  }
  const hookName = `blocks.${info.layer}.hook_resid_post`;
  const bytes = files.params instanceof Uint8Array ? files.params : new Uint8Array(files.params);
  const { config: read, arrays } = gemmaScopeSae(bytes, { hookName, modelName: info.modelName }, file, { inPlace: opts.inPlace });
  if (info.dSae !== undefined && read.dSae !== info.dSae) {
    throw new SaeError(`${file}: W_enc has d_sae=${read.dSae}, but the folder says width_${info.width} (d_sae=${info.dSae})`);
  }
  if (info.modelDIn !== undefined && read.dIn !== info.modelDIn) {
    throw new SaeError(
      `${file}: W_enc has d_in=${read.dIn}, but ${info.modelName}'s residual stream (from ${info.repoName}) is ${info.modelDIn} wide`,
    );
  }
  const config: SaeConfig = { ...read, centerInput: opts.centerInput ?? false };
  let sae: Sae;
  try {
    sae = Sae.create(config, arrays);
  } catch (e) {
    // The non-finite values Sae.create finds are named with the file they came from.
    if (e instanceof SaeError) throw new SaeError(`${file}: ${e.message}`);
    throw e;
  }
  const fromPath = [
    `hook ${hookName}`,
    info.width && `width ${info.width}`,
    info.averageL0 !== undefined && `average L0 ${info.averageL0}`,
  ];
  const notes = [
    `Gemma Scope params.npz (JumpReLU, b_dec not subtracted from the input); ${fromPath.filter(Boolean).join(', ')} from the folder path`,
  ];
  if (config.centerInput) notes.push('residual is centred per token (mean over d_model removed) before encoding');
  return { sae, config, notes };
}
