// Where a real model and an SAE come from on the command line: a local folder, or an hf: reference downloaded
// into the cache first (progress on stderr); and the flags that go with them, declared once for `run` and
// `inspect`.
import type { Command } from 'commander';
import { formatBytes } from '../core/format.ts';
import { isHubRef, parseHubRef } from '../io/hub.ts';
import type { SaeFolderFiles } from '../io/saelens.ts';
import type { WeightProcessing } from '../scenarios/model.ts';
import { readModelDir, readSaeDir } from './fs.ts';
import { hubFolder, hubOptionsFrom } from './hub-cache.ts';
import { oneOf } from './parse.ts';

export interface SourceFlags {
  processing: WeightProcessing;
  prependBos?: boolean;
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
    .option('--prepend-bos', `${when}: start every prompt with the tokenizer's BOS token`)
    .option('--hub-endpoint <url>', 'with hf: references: the Hub or a mirror (default: $HF_ENDPOINT, else https://huggingface.co)')
    .option('--hub-token <token>', 'with hf: references: an access token for gated repositories (default: $HF_TOKEN)')
    .option('--cache-dir <dir>', 'with hf: references: the download cache (default: $UNCLAMP_CACHE, else ~/.cache/unclamp/hub)');
}

async function localFolder(ref: string, files: { required: string[]; optional?: string[] }, flags: SourceFlags): Promise<string> {
  if (!isHubRef(ref)) return ref;
  const opts = hubOptionsFrom(flags);
  const shown = new Set<string>();
  opts.onProgress = flags.quiet
    ? undefined
    : ({ file, received, total }) => {
        if (received === total || !shown.has(file))
          process.stderr.write(`${ref}: ${file} ${formatBytes(received)}${total ? ` of ${formatBytes(total)}` : ''}\n`);
        shown.add(file);
      };
  return hubFolder(parseHubRef(ref), files, opts);
}

/** A GPT-2 folder (config.json, model.safetensors), local or from the Hub; `name` is the reference as given. */
export async function readModelSource(ref: string, flags: SourceFlags): Promise<ReturnType<typeof readModelDir>> {
  const dir = await localFolder(ref, { required: ['config.json', 'model.safetensors'] }, flags);
  return { ...readModelDir(dir), name: ref };
}

/** A SAELens folder (cfg.json, sae_weights.safetensors, optional sparsity), local or from the Hub. */
export async function readSaeSource(ref: string, flags: SourceFlags): Promise<SaeFolderFiles & { name: string }> {
  const dir = await localFolder(ref, { required: ['cfg.json', 'sae_weights.safetensors'], optional: ['sparsity.safetensors'] }, flags);
  return { ...readSaeDir(dir), name: ref };
}
