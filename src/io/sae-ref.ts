// Where an SAE folder is and what it holds, without loading it (no TensorFlow.js: the page's main thread imports this).
//
// Two folder layouts:
//   'saelens'      cfg.json + sae_weights.safetensors (+ sparsity.safetensors)
//   'gemma-scope'  params.npz, in Gemma Scope's folders layer_L/width_W/average_l0_N (the path says the hook, the width
//                  and the average L0: src/io/gemma-scope.ts)
//
// "The folder whose average L0 is closest to N": a Hub reference whose last part is average_l0_closest_N, e.g.
//   hf:google/gemma-scope-2b-pt-res/layer_11/width_65k/average_l0_closest_100
// resolves, through the Hub's listing of layer_11/width_65k (src/io/hub-tree.ts), to the concrete folder
//   hf:google/gemma-scope-2b-pt-res/layer_11/width_65k/average_l0_70
// by the rule of the paper's code (get_optimal_file in Yeo et al.'s refusal_sae, utils/model_utils.py and
// utils/gemmascope.py, which Mingyuee88/sae-post-intervention-recovery imports for its Gemma Scope SAEs, with N = 100):
//   - candidates are the repository's files under layer_L/width_W whose path ends in params.npz;
//   - each one's L0 is the integer after the path's last "_", up to the next "/" (…/average_l0_70/params.npz → 70);
//   - the file with the smallest |L0 − N| wins; on a tie, the first in the listing (Python's min keeps the first),
//     and the Hub lists paths in byte order (as SAELens's pretrained_saes.yaml shows for these folders: average_l0_105
//     before average_l0_13), so here candidates are sorted by path in byte order before the choice, whatever order a
//     mirror answers in: |90 − 100| = |110 − 100| picks average_l0_110;
//   - the folder is the file's path without /params.npz.
// No candidate at all is an error here (the paper's min() raises), as is a params.npz whose L0 is not an integer
// (the paper's int() raises). The paper lists the repository at revision main; here, the reference's revision.
//
//   SAE_LAYOUT_FILES, saeLayoutOf(names), isGemmaScopePath(path)
//   parseClosestL0(path) → {folder, target} | null;  closestL0Path(folder, target)
//   pickClosestL0(paths, folder, target) → ClosestL0Choice          (the rule, on a listing's file paths)
//   resolveSaeRef(ref, opts: HubTreeOptions) → {ref, choice?}         (lists the Hub; a concrete ref is returned as is)
import { HubInputError, type HubRef } from './hub.ts';
import { type HubTreeOptions, listHubTree } from './hub-tree.ts';

export type SaeLayout = 'saelens' | 'gemma-scope';

/** The files of each layout, as a downloader asks for them. */
export const SAE_LAYOUT_FILES: Record<SaeLayout, { required: string[]; optional: string[] }> = {
  saelens: { required: ['cfg.json', 'sae_weights.safetensors'], optional: ['sparsity.safetensors'] },
  'gemma-scope': { required: ['params.npz'], optional: [] },
};

/** The layout a folder's file names make: SAELens when it has cfg.json, Gemma Scope when it has params.npz instead. */
export function saeLayoutOf(names: Iterable<string>): SaeLayout | null {
  const set = new Set([...names].map((n) => n.split(/[\\/]/).pop()));
  if (set.has('cfg.json')) return 'saelens';
  if (set.has('params.npz')) return 'gemma-scope';
  return null;
}

const CLOSEST = /^average_l0_closest_(\d+)$/;

/** Is this a Gemma Scope folder by its name: …/average_l0_N, or the closest-L0 form? */
export const isGemmaScopePath = (path: string) => {
  const last = path.replace(/\/+$/, '').split('/').pop() ?? '';
  return /^average_l0_\d+$/.test(last) || CLOSEST.test(last);
};

export interface ClosestL0Request {
  /** The folder to list, e.g. layer_11/width_65k. */
  folder: string;
  target: number;
}

/** "layer_11/width_65k/average_l0_closest_100" → {folder "layer_11/width_65k", target 100}; anything else → null. */
export function parseClosestL0(path: string): ClosestL0Request | null {
  const parts = path.replace(/\/+$/, '').split('/');
  const m = CLOSEST.exec(parts.at(-1) ?? '');
  if (!m) return null;
  const target = Number(m[1]);
  if (!Number.isSafeInteger(target)) return null;
  return { folder: parts.slice(0, -1).join('/'), target };
}

export const closestL0Path = (folder: string, target: number) => [folder, `average_l0_closest_${target}`].filter(Boolean).join('/');

export interface ClosestL0Candidate {
  /** The folder (the params.npz file's path without /params.npz). */
  path: string;
  averageL0: number;
}

export interface ClosestL0Choice extends ClosestL0Candidate {
  target: number;
  /** Every candidate, in the order the rule walked them (byte order of their paths). */
  candidates: ClosestL0Candidate[];
}

const FILE = 'params.npz';
const byBytes = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The paper's rule on a listing's file paths (from the repository's root): the params.npz under `folder` whose average
 * L0 is closest to `target`, the first in byte order on a tie. Throws when there is none. `what` names the listing.
 */
export function pickClosestL0(filePaths: readonly string[], folder: string, target: number, what = folder): ClosestL0Choice {
  const prefix = folder ? `${folder.replace(/\/+$/, '')}/` : '';
  const files = filePaths.filter((p) => p.startsWith(prefix) && (p === FILE || p.endsWith(`/${FILE}`))).sort(byBytes);
  if (files.length === 0) {
    throw new HubInputError(
      `${what}: no ${FILE} under ${folder || 'the repository root'}, so no average L0 to choose from (check the layer and the width: Gemma Scope's folders are layer_N/width_16k, width_65k, …)`,
    );
  }
  const candidates = files.map((p) => {
    // As get_optimal_file reads it: the text after the last "_", up to the next "/".
    const text = p.split('_').at(-1)!.split('/')[0];
    if (!/^\d+$/.test(text)) {
      throw new HubInputError(`${what}: cannot read an average L0 from ${p} (expected …/average_l0_N/${FILE})`);
    }
    return { path: p.slice(0, -(FILE.length + 1)), averageL0: Number(text) };
  });
  let best = candidates[0];
  for (const c of candidates) if (Math.abs(c.averageL0 - target) < Math.abs(best.averageL0 - target)) best = c;
  return { ...best, target, candidates };
}

/**
 * A reference made concrete: an average_l0_closest_N folder is resolved through the Hub's listing of its parent (the
 * choice says what was chosen from what); any other reference comes back as it is, without a request.
 */
export async function resolveSaeRef(ref: HubRef, opts: HubTreeOptions): Promise<{ ref: HubRef; choice?: ClosestL0Choice }> {
  const want = parseClosestL0(ref.path);
  if (!want) return { ref };
  const entries = await listHubTree({ ...ref, path: want.folder }, { ...opts, recursive: true });
  const what = `hf:${ref.repo}${ref.revision === 'main' ? '' : `@${ref.revision}`}/${ref.path}`;
  const choice = pickClosestL0(
    entries.filter((e) => e.type === 'file').map((e) => e.path),
    want.folder,
    want.target,
    what,
  );
  return { ref: { ...ref, path: choice.path }, choice };
}

/** hf:owner/name[@revision]/path, the way a result cites a folder. */
export const hubRefString = (ref: HubRef) =>
  `hf:${ref.repo}${ref.revision === 'main' ? '' : `@${ref.revision}`}${ref.path ? `/${ref.path}` : ''}`;

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
