// One entry point for an SAE folder of either layout, loaded into the Sae the rest of the code uses.
//
// API
//   type SaeFolder = SaeLensFolder | GemmaScopeFolder
//     SaeLensFolder     { layout?: 'saelens'; cfgJson: string; weights: Uint8Array; sparsity?: Uint8Array }
//                       (loadSaeLens's SaeFolderFiles; `layout` may be left out, so existing objects are SAELens folders)
//     GemmaScopeFolder  { layout: 'gemma-scope'; params: Uint8Array | ArrayBuffer; path: string }
//                       `path` is the folder's path or hf: reference, e.g. hf:google/gemma-scope-2b-pt-res/layer_11/
//                       width_65k/average_l0_70 or /data/gemma-scope-2b-pt-res/layer_11/width_65k/average_l0_70: its
//                       layer_L gives the hook (blocks.L.hook_resid_post), width_W the expected d_sae, and a
//                       gemma-scope-* part the model (and its d_in, checked). It must be concrete (not
//                       average_l0_closest_N: resolve that first with resolveSaeRef, src/io/sae-ref.ts).
//   loadSaeFolder(files: SaeFolder, opts?: SaeFolderLoadOptions): LoadedSae
//     LoadedSae = { sae: Sae; config: SaeConfig; logDensity?: Float32Array; notes: string[] }, as loadSaeLens returns.
//     SaeFolderLoadOptions = SaeLoadOptions (centerInput, normScalingFactor, source) & { inPlace?: boolean }
//       source   names the folder in error messages (default: `path` for Gemma Scope, 'SAE' for SAELens)
//       inPlace  Gemma Scope only: the caller gives up `params` (its arrays are aligned inside it rather than copied:
//                one 1.2 GB copy fewer at width 65k); loading the same bytes again is then refused. Off by default.
//   Errors are SaeError / NpzError / SafetensorsError (all InputError) naming the file and the problem: a missing
//   array, a wrong shape, d_sae against the folder's width, d_in against the model, a NaN, an unsupported dtype.
//
//   Which files each layout needs, and the layout a set of file names makes: SAE_LAYOUT_FILES, saeLayoutOf
//   (src/io/sae-ref.ts, re-exported here; that module has no TensorFlow.js, for the page's main thread).
import { type GemmaScopeLoadOptions, loadGemmaScope } from './gemma-scope.ts';
import { type LoadedSae, loadSaeLens, type SaeFolderFiles, type SaeLoadOptions } from './saelens.ts';

export { SAE_LAYOUT_FILES, type SaeLayout, saeLayoutOf } from './sae-ref.ts';

export interface SaeLensFolder extends SaeFolderFiles {
  layout?: 'saelens';
}

export interface GemmaScopeFolder {
  layout: 'gemma-scope';
  params: Uint8Array | ArrayBuffer;
  path: string;
}

export type SaeFolder = SaeLensFolder | GemmaScopeFolder;

export type SaeFolderLoadOptions = SaeLoadOptions & Pick<GemmaScopeLoadOptions, 'inPlace'>;

export const isGemmaScopeFolder = (f: SaeFolder): f is GemmaScopeFolder => f.layout === 'gemma-scope';

/** Load an SAE folder of either layout into a ready Sae. */
export function loadSaeFolder(files: SaeFolder, opts: SaeFolderLoadOptions = {}): LoadedSae {
  if (isGemmaScopeFolder(files)) return loadGemmaScope(files, opts);
  const { inPlace: _, ...saeLensOpts } = opts;
  return loadSaeLens(files, saeLensOpts);
}
