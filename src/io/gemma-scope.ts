// Gemma Scope SAE folders (google/gemma-scope-2b-pt-res and its siblings): layer_L/width_W/average_l0_N/params.npz, a
// zip of .npy arrays W_enc [d, m], W_dec [m, d], b_enc [m], b_dec [d], threshold [m] (SAELens also reads w_enc/w_dec).
// There is no cfg.json: as SAELens's gemma_2 loader does, the folder path gives the rest — the hook
// blocks.L.hook_resid_post from layer_L, the width W (d_sae) from width_W, and the model from the repository's name
// when the path has it — and the SAE is JumpReLU with apply_b_dec_to_input false and no activation normalisation.
// Arrays are read without needless copies (src/io/npz.ts); with `inPlace` the params bytes are given up.
import { Sae, SaeError, type SaeConfig } from '../core/sae.ts';
import { gemmaScopeSae } from './npz.ts';
import type { LoadedSae, SaeLoadOptions } from './saelens.ts';
import { GEMMA_SCOPE_WIDTHS, type GemmaScopePathInfo, gemmaScopePathInfo } from './sae-ref.ts';

export { GEMMA_SCOPE_WIDTHS, type GemmaScopePathInfo, gemmaScopePathInfo };

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
