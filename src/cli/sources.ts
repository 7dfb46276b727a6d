// Where a real model and an SAE come from on the command line: a local folder, or an hf: reference downloaded
// into the cache first (progress on stderr); and the flags that go with them, declared once for `run` and
// `inspect`.
import type { Command } from 'commander';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../core/errors.ts';
import { formatBytes } from '../core/format.ts';
import { HubInputError, type HubRef, isHubRef, parseHubRef } from '../io/hub.ts';
import type { SaeFolder } from '../io/sae-folder.ts';
import { hubRefString, isGemmaScopePath, parseClosestL0, pickClosestL0, SAE_LAYOUT_FILES } from '../io/sae-ref.ts';
import { shardNames, WEIGHTS_FILE, WEIGHTS_INDEX } from '../model/checkpoint.ts';
import type { WeightProcessing } from '../model/family.ts';
import type { ModelFolder } from '../model/registry.ts';
import { readBytes, readModelDir, readModelMeta, readSaeDir, readSaeFolder } from './fs.ts';
import os from 'node:os';
import type { Backend, Limits, MemoryPlan } from '../model/memory-plan.ts';
import { type OpenedModel, openModel } from '../model/configs.ts';
import type { ModelScenarioSpec } from '../scenarios/model.ts';
import { type PromptSet, parsePromptLines, tokenisePromptSet } from '../scenarios/prompts.ts';
import { planModelRun, requireFits, type SaeDims, saeDimsOf } from '../scenarios/run-memory.ts';
import { cachePath, type HubOptions, hubFile, hubFolder, hubOptionsFrom } from './hub-cache.ts';
import { resolveHubSaeRef } from './hub-resolve.ts';
import { oneOf } from './parse.ts';

export interface SourceFlags {
  processing: WeightProcessing;
  prependBos?: boolean;
  chat?: boolean;
  hubEndpoint?: string;
  hubToken?: string;
  cacheDir?: string;
  quiet?: boolean;
}

export function addSourceOptions(cmd: Command, when: string): Command {
  return cmd
    .option(
      '--processing <kind>',
      `${when}: the model's weights as TransformerLens processes them (what SAELens SAEs were trained on), or as stored`,
      oneOf('--processing', ['transformer-lens', 'none'] as const),
      'transformer-lens',
    )
    .option(
      '--prepend-bos',
      `${when}: start every prompt with the tokenizer's BOS token (default: when the model was trained so, e.g. Gemma)`,
    )
    .option('--no-prepend-bos', `${when}: no BOS token, even for a model trained with one`)
    .option(
      '--chat',
      `${when}: write each prompt into the model's chat template (instruction-tuned models: one user turn, then the model's)`,
    )
    .option('--hub-endpoint <url>', 'with hf: references: the Hub or a mirror (default: $HF_ENDPOINT, else https://huggingface.co)')
    .option('--hub-token <token>', 'with hf: references: an access token for gated repositories (default: $HF_TOKEN)')
    .option('--cache-dir <dir>', 'with hf: references: the download cache (default: $UNCLAMP_CACHE, else ~/.cache/unclamp/hub)');
}

async function localFolder(ref: string, files: { required: string[]; optional?: string[] }, flags: SourceFlags): Promise<string> {
  if (!isHubRef(ref)) return ref;
  return hubFolder(parseHubRef(ref), files, progressOptions(ref, flags));
}

/**
 * A model folder (config.json, the weights: model.safetensors or the shards of model.safetensors.index.json, and the
 * tokenizer files it has), local or from the Hub; `name` is the reference as given.
 */
export async function readModelSource(ref: string, flags: SourceFlags): Promise<ModelFolder> {
  if (isHubRef(ref)) {
    // The small files first: the index, when the repository has one, names the shards to fetch.
    const first = await localFolder(ref, { required: ['config.json'], optional: [WEIGHTS_INDEX, ...TOKENIZER_FILES] }, flags);
    const index = path.join(first, WEIGHTS_INDEX);
    const weights = existsSync(index) ? shardNames(readFileSync(index, 'utf8'), `${ref}/${WEIGHTS_INDEX}`) : [WEIGHTS_FILE];
    await localFolder(ref, { required: ['config.json', ...weights] }, flags);
    return { ...(await readModelDir(first)), name: ref };
  }
  return { ...(await readModelDir(ref)), name: ref };
}

/**
 * A real-model scenario's spec from the command line: the run's memory planned from the small files against where it
 * runs (planFromSources, src/scenarios/run-memory.ts) — refused there, before any weights are downloaded or read, when
 * it cannot fit — then the SAE and the model.
 */
export async function modelRunSpec(
  what: ModelRunRequest & { scenario?: 'paper-ioi' },
  flags: SourceFlags & { n?: number },
  backend: Backend,
): Promise<ModelScenarioSpec> {
  const limits = cliLimits(backend);
  // The plan first, from the small files only (the SAE's cfg.json or Gemma Scope path, the model's config.json
  // and tokenizer files): nothing large is downloaded for a run that cannot fit.
  const planned = await planFromSources(what, flags, backend);
  if (planned) for (const w of requireFits(planned.plan, limits)) if (!flags.quiet) process.stderr.write(`unclamp: warning: ${w}\n`);
  const sae = await readSaeSource(what.sae, flags);
  const model = await readModelSource(what.model, flags);
  return {
    kind: 'model',
    ...(what.scenario ? { scenario: what.scenario } : {}),
    model,
    sae,
    prompts: what.prompts,
    processing: flags.processing,
    prependBos: what.prependBos,
    chat: what.chat,
    n: flags.n,
    limits,
  };
}

/** What a prompt-set run is, for a plan: the model, the SAE and the prompts as references, and how the prompts are read. */
export interface ModelRunRequest {
  model: string;
  sae: string;
  prompts: { text: string; name: string };
  prependBos?: boolean;
  chat?: boolean;
}

/**
 * The memory plan of a prompt-set run from the small files alone: the SAE's dimensions (its cfg.json, or a Gemma
 * Scope folder's path), the model's config.json and tokenizer files (the prompts tokenised). Null when the SAE's
 * dimensions cannot be told without its weights (the loader then reports what is wrong with it).
 */
export async function planFromSources(
  what: ModelRunRequest,
  flags: SourceFlags & { n?: number },
  backend: Backend,
): Promise<{ plan: MemoryPlan; opened: OpenedModel; set: PromptSet; sae: SaeDims } | null> {
  const lines = parsePromptLines(what.prompts.text, what.prompts.name).slice(0, flags.n);
  const opened = openModel(await readModelMetaSource(what.model, flags));
  const sae = await saeDimsSource(what.sae, flags, opened.config.dModel);
  if (!sae) return null;
  const tok = opened.tokenizer;
  const set = tokenisePromptSet(lines, tok, opened.config.nCtx, {
    prependBos: what.prependBos ?? tok.wantsBos ?? false,
    chat: what.chat ? tok.chat : undefined,
    source: what.prompts.name,
  });
  return { plan: planModelRun(opened, set, sae, { backend, processing: flags.processing }), opened, set, sae };
}

/** A model folder's config.json and tokenizer files, local or from the Hub (the weights not fetched). */
export async function readModelMetaSource(ref: string, flags: SourceFlags): Promise<Omit<ModelFolder, 'weights'>> {
  if (!isHubRef(ref)) return readModelMeta(ref);
  const dir = await localFolder(ref, { required: ['config.json'], optional: [WEIGHTS_INDEX, ...TOKENIZER_FILES] }, flags);
  return { ...readModelMeta(dir), name: ref };
}

/**
 * An SAE's dimensions and hook without its weights: a SAELens folder's cfg.json (from the Hub, that one small file)
 * or a Gemma Scope folder's path (resolved first when it names the closest-L0 folder).
 */
export async function saeDimsSource(ref: string, flags: SourceFlags, dModel: number): Promise<SaeDims | null> {
  if (!isHubRef(ref)) {
    const dir = localClosestL0(ref, { ...flags, quiet: true });
    const cfg = path.join(dir, 'cfg.json');
    return existsSync(cfg)
      ? saeDimsOf({ cfgJson: readFileSync(cfg, 'utf8') }, dModel)
      : saeDimsOf({ layout: 'gemma-scope', path: dir }, dModel);
  }
  const opts = hubOptionsFrom(flags);
  const { ref: hubRef } = await resolveHubSaeRef(parseHubRef(ref), opts);
  if (isGemmaScopePath(hubRef.path)) return saeDimsOf({ layout: 'gemma-scope', path: hubRefString(hubRef) }, dModel);
  const cfg = await hubFile(hubRef, 'cfg.json', progressOptions(ref, flags), true);
  return cfg ? saeDimsOf({ cfgJson: readFileSync(cfg, 'utf8') }, dModel) : null;
}

/** Where a run on this Node process goes: the backend, and the machine's memory (its container's limit when lower). */
export function cliLimits(backend: Backend): Limits {
  const constrained = process.constrainedMemory?.();
  const total = os.totalmem();
  return {
    backend,
    label: backend === 'wasm' ? "the wasm backend (TF.js's 4 GB heap)" : `the ${backend} backend`,
    hostTotalBytes: constrained && constrained > 0 && constrained < total ? constrained : total,
    hostAvailableBytes: os.freemem(),
  };
}

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'];

/** An SAE as read: a folder of either layout (src/io/sae-folder.ts), and how results cite it. */
export type SaeSource = SaeFolder & { name: string };

/**
 * An SAE folder, local or from the Hub, of either layout: SAELens (cfg.json, sae_weights.safetensors, optional
 * sparsity.safetensors) or Gemma Scope (params.npz, in layer_L/width_W/average_l0_N). An hf: folder ending in
 * average_l0_closest_N is first resolved to the folder whose average L0 is closest to N (the paper's rule,
 * src/io/sae-ref.ts; the answer is kept in the cache for offline reruns) and `name` is then that folder; otherwise
 * `name` is the reference as given. A local …/average_l0_closest_N is chosen the same way among the folders there.
 * A Hub folder named like Gemma Scope's (…/average_l0_N) is fetched as one; any other is SAELens unless the Hub has
 * no cfg.json there but a params.npz.
 */
export async function readSaeSource(ref: string, flags: SourceFlags): Promise<SaeSource> {
  if (!isHubRef(ref)) {
    const dir = localClosestL0(ref, flags);
    return { ...readSaeFolder(dir), name: dir };
  }
  const opts = hubOptionsFrom(flags);
  const { ref: hubRef, choice, cached } = await resolveHubSaeRef(parseHubRef(ref), opts);
  const name = choice ? hubRefString(hubRef) : ref;
  if (choice && !flags.quiet) {
    const of = choice.candidates.map((c) => c.averageL0).join(', ');
    process.stderr.write(
      `${ref}: ${hubRef.path} (average L0 ${choice.averageL0}, the closest to ${choice.target} of ${of}${cached ? '; as resolved before' : ''})\n`,
    );
  }
  const gemmaScope = (params: string): SaeSource => ({
    layout: 'gemma-scope',
    params: readBytes(params, 'Gemma Scope weights'),
    path: name,
    name,
  });
  const layout = SAE_LAYOUT_FILES;
  if (isGemmaScopePath(hubRef.path)) return gemmaScope(path.join(await localFolder(name, layout['gemma-scope'], flags), 'params.npz'));
  // Not named like Gemma Scope: SAELens, unless there is no cfg.json but a params.npz (each answer kept in the cache).
  const progress = progressOptions(name, flags);
  if ((await hubFile(hubRef, 'cfg.json', progress, true)) === null) {
    const params = await hubFile(hubRef, 'params.npz', progress, true);
    if (params) return gemmaScope(params);
    if (knownAbsent(hubRef, 'cfg.json', progress) && knownAbsent(hubRef, 'params.npz', progress)) {
      throw new HubInputError(
        `${name}: the Hub has neither cfg.json + sae_weights.safetensors (a SAELens folder) nor params.npz (a Gemma Scope folder) there (check the repository id, the folder and the revision)`,
      );
    }
  }
  const dir = await localFolder(name, layout.saelens, flags);
  return { ...readSaeDir(dir), name };
}

/** A local …/average_l0_closest_N (that is not itself a folder): the same rule over the params.npz files under its parent. */
function localClosestL0(ref: string, flags: SourceFlags): string {
  const want = parseClosestL0(ref.split(path.sep).join('/'));
  if (!want || existsSync(ref)) return ref;
  const parent = path.dirname(ref);
  if (!existsSync(parent)) throw new InputError(`SAE directory ${parent} does not exist (to choose ${path.basename(ref)} in it)`);
  const files = readdirSync(parent, { recursive: true, encoding: 'utf8' }).map((f) => `${want.folder}/${f.split(path.sep).join('/')}`);
  const choice = pickClosestL0(files, want.folder, want.target, ref);
  const dir = choice.path.split('/').join(path.sep);
  if (!flags.quiet) {
    const of = choice.candidates.map((c) => c.averageL0).join(', ');
    process.stderr.write(`${ref}: ${dir} (average L0 ${choice.averageL0}, the closest to ${choice.target} of ${of})\n`);
  }
  return dir;
}

/** Hub options that print a line per file as it starts and as it completes, `label` first (none when quiet). */
function progressOptions(label: string, flags: SourceFlags): HubOptions {
  const opts = hubOptionsFrom(flags);
  const shown = new Set<string>();
  opts.onProgress = flags.quiet
    ? undefined
    : ({ file, received, total }) => {
        if (received === total || !shown.has(file))
          process.stderr.write(`${label}: ${file} ${formatBytes(received)}${total ? ` of ${formatBytes(total)}` : ''}\n`);
        shown.add(file);
      };
  return opts;
}

/** Has the cache recorded that the Hub answered 404 for this file (hub-cache.ts's record beside the file)? */
function knownAbsent(ref: HubRef, file: string, opts: HubOptions): boolean {
  try {
    return JSON.parse(readFileSync(`${cachePath(opts, ref, file)}.json`, 'utf8')).absent === true;
  } catch {
    return false;
  }
}
