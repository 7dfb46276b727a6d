// The inputs of the real-model scenarios on the page (prompts: the user's model, SAE and prompts; paper-ioi: the
// paper's IOI on GPT-2 small): where the model, the SAE and the prompts come from (the Hub, local files, the bundled
// paper set), the Hub endpoint and access token, the downloads' progress and the store of downloaded files (the
// origin-private file system where the page has it: src/io/file-store.ts). The sources and the endpoint
// (and a prompt file's text) are saved in this browser with the page's settings but are not part of a link (a link
// names the experiment, not this machine's files or mirror); the token lives in memory only and is never saved,
// logged or put in a URL.
import { z } from 'zod';
import { create } from 'zustand';
import { InputError } from '../core/errors.ts';
import { DEFAULT_HUB_ENDPOINT, type HubRef, parseHubRef } from '../io/hub.ts';
import {
  clearHubCache,
  type DownloadProgress,
  type HubBody,
  type HubStorageState,
  hubCached,
  hubFile,
  hubFileName,
  hubStorage,
} from '../io/hub-download.ts';
import { PAPER_IOI, type ScenarioId } from '../scenarios/catalog.ts';
import type { ModelScenarioSpec } from '../scenarios/model.ts';
import { releaseRef, SAE_RELEASES } from '../io/sae-releases.ts';
import {
  hubRefString,
  isGemmaScopePath,
  parseClosestL0,
  resolveSaeRef,
  SAE_LAYOUT_FILES,
  type SaeLayout,
  saeLayoutOf,
} from '../io/sae-ref.ts';
import { shardNames, WEIGHTS_FILE, WEIGHTS_INDEX, type WeightBlob, type WeightFile } from '../model/checkpoint.ts';
import { useStore } from './store.ts';
import { loadLocal, saveLocal } from './local-settings.ts';

export type ModelScenarioId = Extract<ScenarioId, 'prompts' | 'paper-ioi'>;
export const isModelScenario = (id: string): id is ModelScenarioId => id === 'prompts' || id === 'paper-ioi';

const sourcesSchema = z.object({
  model: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('hub'), repo: z.string().max(200), revision: z.string().max(200) }),
    z.object({ kind: z.literal('local') }),
  ]),
  sae: z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal('release'),
      release: z.string(),
      layer: z.number().int().min(0).max(200),
      width: z.string().max(20).optional(),
    }),
    z.object({ kind: z.literal('hub'), ref: z.string().max(400) }),
    z.object({ kind: z.literal('local') }),
  ]),
  prompts: z.enum(['paper', 'file']),
});
export type Sources = z.infer<typeof sourcesSchema>;

/** A prompt file is small and cannot be read again after a reload (a page keeps no file handles): it is saved whole. */
const MAX_SAVED_PROMPTS = 1_000_000;

const savedSchema = z.object({
  endpoint: z.string().url().max(400),
  sources: z.object({ prompts: sourcesSchema, 'paper-ioi': sourcesSchema }),
  promptsFile: z
    .object({ name: z.string().max(400), text: z.string().max(MAX_SAVED_PROMPTS) })
    .nullable()
    .default(null),
});
type Saved = z.infer<typeof savedSchema>;

const paperModel = parseHubRef(PAPER_IOI.model);
const JB = SAE_RELEASES[0];

export const DEFAULT_SOURCES: Record<ModelScenarioId, Sources> = {
  prompts: {
    model: { kind: 'hub', repo: paperModel.repo, revision: 'main' },
    sae: { kind: 'release', release: JB.id, layer: JB.defaultLayer },
    prompts: 'paper',
  },
  'paper-ioi': {
    model: { kind: 'hub', repo: paperModel.repo, revision: 'main' },
    sae: { kind: 'release', release: JB.id, layer: JB.defaultLayer },
    prompts: 'paper',
  },
};

/** The approximate download of the paper-ioi preset, for the page's text (GPT-2 small's weights and the layer-4 SAE). */
export const PAPER_IOI_DOWNLOAD = { modelMB: 548, saeMB: 151 };

const STORAGE_KEY = 'unclamp-model-sources-v1';

function loadSaved(): Saved {
  return loadLocal<Saved>(STORAGE_KEY, savedSchema, { endpoint: DEFAULT_HUB_ENDPOINT, sources: DEFAULT_SOURCES, promptsFile: null });
}

export interface ModelInputsState extends Saved {
  /** Memory only. */
  token: string;
  /** Local files for the model and the SAE (folder picker, file inputs, drag and drop). */
  localModel: File[];
  localSae: File[];
  /** Per file, the latest progress of this load. */
  downloads: Record<string, DownloadProgress>;
  /** What this browser keeps (files, bytes, unfinished downloads, where, and whether persistently); null: unknown. */
  cache: HubStorageState | null;
  /** Persistent storage was asked for a large download in this visit (the panel then says whether it was granted). */
  persistAsked: boolean;
  /** Set by the load button: the next load may download; without it a load uses only cached or local files. */
  armed: boolean;
  /** What the last load was missing (nothing downloaded without the button), for the panel. */
  waiting: string | null;
  /** What the memory plan warned about for the last load (it may not fit where it runs). */
  planWarnings: string[];
  set: (patch: Partial<Omit<ModelInputsState, 'set' | 'setSources'>>) => void;
  setSources: (id: ModelScenarioId, patch: Partial<Sources>) => void;
}

export const useModelInputs = create<ModelInputsState>((set, get) => ({
  ...loadSaved(),
  token: '',
  localModel: [],
  localSae: [],
  downloads: {},
  cache: null,
  persistAsked: false,
  armed: false,
  waiting: null,
  planWarnings: [],
  set: (patch) => {
    set(patch);
    if ('endpoint' in patch || 'promptsFile' in patch) save(get());
  },
  setSources: (id, patch) => {
    set((s) => ({ sources: { ...s.sources, [id]: { ...s.sources[id], ...patch } } }));
    save(get());
  },
}));

function save(s: Saved): void {
  const promptsFile = s.promptsFile && s.promptsFile.text.length <= MAX_SAVED_PROMPTS ? s.promptsFile : null;
  saveLocal<Saved>(STORAGE_KEY, { endpoint: s.endpoint, sources: s.sources, promptsFile });
}

/** Give the prompt set from elsewhere (the prompt editor): JSON lines of {prompt, target, contrast}. */
export function setPromptsText(name: string, text: string): void {
  useModelInputs.getState().set({ promptsFile: { name, text } });
}

/** The Hub folder of the SAE a source names. */
export function saeHubRef(src: Sources['sae']): HubRef | null {
  if (src.kind === 'local') return null;
  if (src.kind === 'hub') return parseHubRef(src.ref.startsWith('hf:') ? src.ref : `hf:${src.ref}`);
  const r = SAE_RELEASES.find((x) => x.id === src.release);
  if (!r) throw new InputError(`unknown SAE release "${src.release}"`);
  return parseHubRef(releaseRef(r, src.layer, src.width));
}

/** Which SAE layout a source names: a release's, a Hub folder's by its name, local files' by theirs. */
function saeLayout(src: Sources['sae'], local: File[]): SaeLayout {
  if (src.kind === 'release') return SAE_RELEASES.find((x) => x.id === src.release)?.layout ?? 'saelens';
  if (src.kind === 'hub') return isGemmaScopePath(saeHubRef(src)?.path ?? '') ? 'gemma-scope' : 'saelens';
  return saeLayoutOf(local.map((f) => f.name)) ?? 'saelens';
}

export function modelHubRef(src: Sources['model']): HubRef | null {
  if (src.kind === 'local') return null;
  return parseHubRef(`hf:${src.repo.trim()}${src.revision.trim() && src.revision.trim() !== 'main' ? `@${src.revision.trim()}` : ''}`);
}

/** Where the page takes a token (as hub-download.ts says it). */
const TOKEN_HINT = 'enter a Hub access token in the settings';

/** A model folder's files beside its weights; tokenizer files are the family's to require (GPT-2 needs none). */
const MODEL_CONFIG = 'config.json';
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'];

/** Local files by name: the chosen folder's or the dropped files' (the last path part decides). */
function pick(files: File[], name: string): File | undefined {
  return files.find((f) => f.name === name);
}

function requireLocal(files: File[], what: string, names: string[]): void {
  const missing = names.filter((n) => !pick(files, n));
  if (missing.length)
    throw new InputError(
      `${what}: choose a folder or files with ${names.join(' and ')} (missing ${missing.join(', ')}${files.length ? `; got ${files.map((f) => f.name).join(', ')}` : ''})`,
    );
}

const localName = (files: File[], fallback: string) => {
  const rel = (files[0] as (File & { webkitRelativePath?: string }) | undefined)?.webkitRelativePath;
  return rel ? rel.split('/')[0] : fallback;
};

/** The load in progress: a newer load, a cancel, or leaving the scenario stops its downloads. */
let inFlight: AbortController | null = null;

export function cancelDownloads(): void {
  inFlight?.abort();
  inFlight = null;
}

// A download that finished after the user had moved on would load a scenario nobody asked for any more.
useStore.subscribe((s, prev) => {
  if (s.config.scenario !== prev.config.scenario) cancelDownloads();
});

/**
 * The scenario spec for a real-model scenario, or null when it cannot load without a download that the user has not
 * asked for (the panel then says what the button will fetch). Files come from the cache, local files or the Hub.
 */
export async function modelScenarioRequest(id: ModelScenarioId): Promise<ModelScenarioSpec | null> {
  const st = useModelInputs.getState();
  const armed = st.armed;
  st.set({ armed: false, waiting: null, downloads: {} });
  const src = st.sources[id];
  const modelRef = modelHubRef(src.model);
  const saeRef = saeHubRef(src.sae);
  const promptsFromFile = id === 'prompts' && src.prompts === 'file';
  try {
    if (!modelRef) requireLocal(st.localModel, 'the model', [MODEL_CONFIG, ...localWeightNames(st.localModel)]);
    if (!saeRef) requireLocal(st.localSae, 'the SAE', SAE_LAYOUT_FILES[saeLayout(src.sae, st.localSae)].required);
    if (promptsFromFile && !st.promptsFile) throw new InputError('choose a prompt file (JSON lines with prompt, target and contrast)');
  } catch (e) {
    // Without the button (a reload, a link) a missing choice is not an error yet: local files are not kept.
    if (armed) throw e;
    st.set({ waiting: (e as Error).message });
    return null;
  }
  cancelDownloads();
  const ctl = new AbortController();
  inFlight = ctl;
  const opts = {
    endpoint: st.endpoint,
    token: st.token || undefined,
    signal: ctl.signal,
    onProgress: (p: DownloadProgress) => {
      if (!ctl.signal.aborted) useModelInputs.setState((s) => ({ downloads: { ...s.downloads, [p.file]: p } }));
    },
    onPersist: (granted: boolean) => {
      useModelInputs.setState((s) => ({ persistAsked: true, cache: s.cache && { ...s.cache, persisted: granted } }));
    },
  };
  if (!armed) {
    // Without the button nothing is fetched: the files the load needs must all be stored (a folder whose average L0
    // the Hub's listing decides, or a sharded model whose index is not stored yet, needs the button).
    const sae = saeRef && !parseClosestL0(saeRef.path) ? saeRef : null;
    const wanted = [
      ...(modelRef ? [MODEL_CONFIG, WEIGHTS_FILE].map((f) => [modelRef, f] as const) : []),
      ...(sae ? SAE_LAYOUT_FILES[saeLayout(src.sae, st.localSae)].required.map((f) => [sae, f] as const) : []),
    ];
    const have = await Promise.all(wanted.map(([r, f]) => hubCached(r, f, opts).catch(() => false)));
    const missing = wanted.filter((_, i) => !have[i]).map(([r, f]) => `${r.repo}/${[r.path, f].filter(Boolean).join('/')}`);
    if (saeRef && !sae)
      missing.push(`the Hub's listing of ${saeRef.repo}/${parseClosestL0(saeRef.path)?.folder} (the folder closest to the average L0)`);
    if (missing.length) {
      st.set({ waiting: `${missing.length} file${missing.length > 1 ? 's' : ''} to download: ${missing.join(', ')}` });
      return null;
    }
  }
  try {
    // The small files first: a wrong repository or folder fails before the large downloads start.
    const text = async (b: HubBody | null) => (b instanceof Blob ? b.text() : new TextDecoder().decode(b!));
    const modelName = modelRef
      ? `hf:${modelRef.repo}${modelRef.revision === 'main' ? '' : `@${modelRef.revision}`}`
      : localName(st.localModel, 'local model');
    const modelConfig = modelRef
      ? await text(await hubFile(modelRef, MODEL_CONFIG, opts))
      : await pick(st.localModel, MODEL_CONFIG)!.text();
    const tokenizerFiles: Record<string, string | undefined> = {};
    for (const f of TOKENIZER_FILES) {
      const body = modelRef ? await hubFile(modelRef, f, opts, true) : pick(st.localModel, f);
      tokenizerFiles[f] = body ? await text(body) : undefined;
    }
    const layout = saeLayout(src.sae, st.localSae);
    // A folder named by the closest-L0 rule is made concrete through the Hub's listing first (results name it).
    const treeOpts = { endpoint: st.endpoint, token: st.token || undefined, signal: ctl.signal, tokenHint: TOKEN_HINT };
    const sae = saeRef ? (await resolveSaeRef(saeRef, treeOpts)).ref : null;
    const saeName = sae ? hubRefString(sae) : localName(st.localSae, 'local SAE');
    const saeCfg =
      layout === 'saelens' ? (sae ? await text(await hubFile(sae, 'cfg.json', opts)) : await pick(st.localSae, 'cfg.json')!.text()) : null;
    const prompts = promptsFromFile
      ? { text: st.promptsFile!.text, name: st.promptsFile!.name }
      : { text: await paperPrompts(), name: PAPER_IOI.prompts };
    const warnings = await checkRunFits({
      model: {
        name: modelName,
        configJson: modelConfig,
        tokenizerJson: tokenizerFiles['tokenizer.json'],
        tokenizerConfigJson: tokenizerFiles['tokenizer_config.json'],
      },
      sae: layout === 'gemma-scope' ? { layout, path: saeName } : { cfgJson: saeCfg as string },
      prompts,
    });
    st.set({ planWarnings: warnings });
    // The large files stay where they are (Blobs over the stored files, or the chosen Files): the worker reads the
    // tensors it needs from them.
    const weights = modelRef ? await hubWeights(modelRef, opts, text) : await localWeights(st.localModel);
    const saeFile = async (f: string, optional = false) => (sae ? await hubFile(sae, f, opts, optional) : (pick(st.localSae, f) ?? null));
    const saeBytes = async (f: string, optional = false) => {
      const body = await saeFile(f, optional);
      return body && (await loaderBytes(body, sae && hubFileName(sae, f)));
    };
    const saeSpec: ModelScenarioSpec['sae'] =
      layout === 'gemma-scope'
        ? {
            layout,
            params: (await saeBytes('params.npz')) as Uint8Array,
            path: sae ? saeName : (localPath(st.localSae) ?? saeName),
            name: saeName,
          }
        : {
            cfgJson: saeCfg as string,
            weights: (await saeBytes('sae_weights.safetensors')) as Uint8Array,
            sparsity: (await saeBytes('sparsity.safetensors', true)) ?? undefined,
            name: saeName,
          };
    return {
      kind: 'model',
      scenario: id,
      model: {
        configJson: modelConfig,
        weights,
        tokenizerJson: tokenizerFiles['tokenizer.json'],
        tokenizerConfigJson: tokenizerFiles['tokenizer_config.json'],
        name: modelName,
      },
      sae: saeSpec,
      prompts,
    };
  } catch (e) {
    if (ctl.signal.aborted)
      throw new InputError(
        useModelInputs.getState().cache?.kind === 'opfs'
          ? 'the download was cancelled; the files already complete are kept, and the next download continues the others from the parts they had'
          : 'the download was cancelled; the files already complete are kept, the others were not',
      );
    throw e;
  } finally {
    if (inFlight === ctl) inFlight = null;
    void refreshCacheSize();
  }
}

/**
 * What the run needs against what this page's backend allows, from the model's config.json and tokenizer files, the
 * prompts (tokenised here) and the SAE's dimensions (its cfg.json, or a Gemma Scope folder's path): a run that cannot
 * fit is refused, naming the figure and the limit, before the weights are downloaded (src/scenarios/run-memory.ts).
 * The planning modules load on first use (the tokenizers are large): the page's first paint does not wait for them.
 */
export async function checkRunFits(r: {
  model: { name: string; configJson: string; tokenizerJson?: string; tokenizerConfigJson?: string };
  sae: { layout?: 'saelens'; cfgJson: string } | { layout: 'gemma-scope'; path: string };
  prompts: { text: string; name: string };
}): Promise<string[]> {
  const backend = useStore.getState().backend;
  if (!backend) return [];
  const [{ openModel }, { planModelRun, requireFits, saeDimsOf }, { parsePromptLines, tokenisePromptSet }] = await Promise.all([
    import('../model/configs.ts'),
    import('../scenarios/run-memory.ts'),
    import('../scenarios/prompts.ts'),
  ]);
  const opened = openModel(r.model);
  const dims = saeDimsOf(r.sae, opened.config.dModel);
  if (!dims) return []; // the loader says what is wrong with the SAE
  const tok = opened.tokenizer;
  const set = tokenisePromptSet(parsePromptLines(r.prompts.text, r.prompts.name), tok, opened.config.nCtx, {
    prependBos: tok.wantsBos ?? false,
    source: r.prompts.name,
  });
  const name =
    backend.name === 'webgpu' || backend.name === 'webgl' || backend.name === 'wasm' || backend.name === 'cpu' ? backend.name : 'cpu';
  const deviceMemory = (globalThis.navigator as (Navigator & { deviceMemory?: number }) | undefined)?.deviceMemory;
  return requireFits(planModelRun(opened, set, dims, { backend: name }), {
    backend: name,
    label: name === 'webgpu' ? 'WebGPU here' : `this page's ${name} backend`,
    maxBufferSize: backend.maxBufferBytes,
    maxStorageBufferBindingSize: backend.maxBufferBytes,
    deviceMemoryGiB: deviceMemory,
  });
}

/** The weights files a local folder holds: model.safetensors, or the shards its index names (the index read later). */
function localWeightNames(files: File[]): string[] {
  return pick(files, WEIGHTS_FILE) || !pick(files, WEIGHTS_INDEX) ? [WEIGHTS_FILE] : [WEIGHTS_INDEX];
}

/** The chosen folder's path as the browser gives it (webkitRelativePath's folder part), for a Gemma Scope folder's name. */
function localPath(files: File[]): string | null {
  const rel = (files[0] as (File & { webkitRelativePath?: string }) | undefined)?.webkitRelativePath;
  return rel ? rel.split('/').slice(0, -1).join('/') : null;
}

/** A weights file for the worker: a Blob it reads by slices (posted without copying), or bytes it is handed. */
const weightFile = (name: string, body: HubBody): WeightFile | WeightBlob =>
  body instanceof Uint8Array ? { name, bytes: body } : { name, blob: body };

/** The weights of a Hub model: model.safetensors, or the shards its model.safetensors.index.json names. */
async function hubWeights(ref: HubRef, opts: Parameters<typeof hubFile>[2], text: (b: HubBody) => Promise<string>) {
  const index = await hubFile(ref, WEIGHTS_INDEX, opts, true);
  const names = index ? shardNames(await text(index), `hf:${ref.repo}/${WEIGHTS_INDEX}`) : [WEIGHTS_FILE];
  const out: (WeightFile | WeightBlob)[] = [];
  for (const n of names) out.push(weightFile(n, (await hubFile(ref, n, opts)) as HubBody));
  return out;
}

/** The weights of a chosen folder: model.safetensors, or the shards its index names (each must be among the files). */
async function localWeights(files: File[]): Promise<WeightBlob[]> {
  const index = pick(files, WEIGHTS_FILE) ? undefined : pick(files, WEIGHTS_INDEX);
  const names = index ? shardNames(await index.text(), WEIGHTS_INDEX) : [WEIGHTS_FILE];
  requireLocal(files, 'the model', names);
  return names.map((n) => ({ name: n, blob: pick(files, n) as File }));
}

async function paperPrompts(): Promise<string> {
  const res = await fetch(new URL(PAPER_IOI.prompts, document.baseURI));
  if (!res.ok) throw new InputError(`the paper's prompt set (${PAPER_IOI.prompts}) could not be loaded (status ${res.status})`);
  return res.text();
}

/**
 * The one place where a stored or chosen file becomes the bytes the loader takes today (scenarios/model.ts reads a
 * Uint8Array). A Blob (files in the origin-private file system, a Cache Storage body, a File the user chose) is read
 * whole here, once, at disk speed, and its buffer is then transferred to the worker (specTransfer), not copied; the
 * read's time goes on the file's progress line when it came from storage. When the loader reads tensors from Blob
 * slices (src/io/byte-source.ts's blobSource), hand the Blob on instead: postMessage gives a worker a Blob without
 * copying its contents, and the page would then never hold the weights at all.
 */
async function loaderBytes(body: HubBody, row?: string | null): Promise<Uint8Array> {
  if (body instanceof Uint8Array) return body;
  const t0 = performance.now();
  const bytes = new Uint8Array(await body.arrayBuffer());
  const note = `read in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
  if (row)
    useModelInputs.setState((s) => {
      const p = s.downloads[row];
      return p?.state === 'cache' ? { downloads: { ...s.downloads, [row]: { ...p, note } } } : {};
    });
  return bytes;
}

/** The buffers a spec carries, to hand to the worker without a copy (the page keeps none of them). */
export function specTransfer(spec: ModelScenarioSpec): ArrayBuffer[] {
  const sae = spec.sae.layout === 'gemma-scope' ? [spec.sae.params] : [spec.sae.weights, spec.sae.sparsity];
  const { weights } = spec.model;
  const model = Array.isArray(weights) ? weights.map((w) => ('bytes' in w ? w.bytes : undefined)) : [weights];
  const bufs = [...model, ...sae].map((b) => (b instanceof Uint8Array ? b.buffer : b));
  return [...new Set(bufs.filter((b): b is ArrayBuffer => b instanceof ArrayBuffer))];
}

export async function refreshCacheSize(): Promise<void> {
  try {
    useModelInputs.getState().set({ cache: await hubStorage() });
  } catch {
    useModelInputs.getState().set({ cache: null });
  }
}

export async function clearDownloads(): Promise<void> {
  // A download in progress stops first (its open files would keep the folder from being removed).
  cancelDownloads();
  await clearHubCache();
  useModelInputs.getState().set({ downloads: {} });
  await refreshCacheSize();
}
