// `unclamp inspect`: what the model and the SAE see on one prompt, for checking Unclamp against your own notebook:
// the token ids, the top-k next tokens with their logits and probabilities, and at every position the hook
// activation's norm and the SAE features active there (index, value).
import type { Command } from 'commander';
import { type BackendFlags, backendOption, startBackend, threadsOption } from './backend.ts';
import { InputError } from '../core/errors.ts';
import { formatNumber } from '../core/format.ts';
import { tf, type Tensor3D } from '../core/tf.ts';
import { loadSaeFolder } from '../io/sae-folder.ts';
import { loadModel } from '../model/registry.ts';
import type { LanguageModel } from '../model/types.ts';
import { writeOutput } from './fs.ts';
import { indexList, integer } from './parse.ts';
import { addSourceOptions, readModelSource, readSaeSource, type SourceFlags } from './sources.ts';

interface InspectFlags extends SourceFlags, BackendFlags {
  model: string;
  sae: string;
  prompt?: string;
  ids?: number[];
  topK: number;
  features: number;
  json?: string;
}

export interface InspectReport {
  model: string;
  sae: string;
  hook: string;
  processing: string;
  tokens: { id: number; text: string }[];
  nextTokens: { id: number; text: string; logit: number; prob: number }[];
  positions: { index: number; token: string; hookNorm: number; activeFeatures: number; features: { index: number; value: number }[] }[];
}

export function register(program: Command): void {
  const cmd = program
    .command('inspect')
    .description(
      "One prompt through a real model and SAE: token ids, the top next tokens, and per position the hook's norm and the active features.",
    )
    .requiredOption('--model <dir|hf:…>', 'a model folder (config.json, model.safetensors, tokenizer files) or hf:owner/name')
    .requiredOption(
      '--sae <dir|hf:…>',
      'a SAELens or Gemma Scope folder, or hf:owner/name/folder (its hook is where the activations are read)',
    )
    .option('--prompt <text>', 'the prompt')
    .option('--ids <list>', 'token ids instead of a prompt, e.g. 464,3290,318', indexList('--ids'))
    .option('--top-k <k>', 'next tokens to list', integer('--top-k'), 10)
    .option('--features <k>', 'active features to list per position (largest first)', integer('--features'), 10);
  addSourceOptions(cmd, 'the model')
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--json <out>', 'write the report as JSON')
    .option('--quiet', 'no download progress')
    .action(async (flags: InspectFlags) => inspectCommand(flags));
}

async function inspectCommand(flags: InspectFlags): Promise<void> {
  if ((flags.prompt === undefined) === (flags.ids === undefined)) throw new InputError('give --prompt TEXT or --ids LIST (one of them)');
  if (flags.topK < 1 || flags.features < 0) throw new InputError('--top-k must be at least 1 and --features at least 0');
  await startBackend(flags);
  const modelFiles = await readModelSource(flags.model, flags);
  const saeFiles = await readSaeSource(flags.sae, flags);
  const { sae, config: saeCfg } = loadSaeFolder(saeFiles, { source: saeFiles.name });
  let model: LanguageModel | null = null;
  try {
    const loaded = await loadModel(modelFiles, flags.processing);
    model = loaded.model;
    const tok = loaded.tokenizer;
    const hook = saeCfg.hookName;
    if (!hook) throw new InputError(`${saeFiles.name}: cfg.json names no hook (hook_name)`);
    model.residHook(hook);
    if (sae.dIn !== model.config.dModel)
      throw new InputError(`${saeFiles.name} reads d_in = ${sae.dIn} but ${modelFiles.name} has d_model = ${model.config.dModel}`);
    if (flags.chat && !tok.chat) throw new InputError(`${modelFiles.name} has no chat template (tokenizer_config.json's chat_template)`);
    const text = flags.prompt ?? '';
    const body = flags.ids ?? tok.encode(flags.chat && tok.chat ? tok.chat(text) : text);
    const bosWritten = flags.chat && body[0] === tok.bosId;
    const ids = (flags.prependBos ?? tok.wantsBos) && tok.bosId !== undefined && !bosWritten ? [tok.bosId, ...body] : body;
    const report = await inspect(model, sae, hook, ids, (xs) => tok.tokenStrings(xs), flags.topK, flags.features);
    const full: InspectReport = { model: modelFiles.name, sae: saeFiles.name, hook, processing: flags.processing, ...report };
    printReport(full);
    if (flags.json) writeOutput(flags.json, `${JSON.stringify(full, null, 2)}\n`);
  } finally {
    model?.dispose();
    sae.dispose();
  }
}

/** The numbers of the report (no I/O). */
export async function inspect(
  model: LanguageModel,
  sae: { encode: (h: tf.Tensor) => tf.Tensor; dSae: number },
  hook: string,
  ids: number[],
  text: (ids: number[]) => string[],
  topK: number,
  nFeatures: number,
): Promise<Omit<InspectReport, 'model' | 'sae' | 'hook' | 'processing'>> {
  const T = ids.length;
  const cache = new Map<string, tf.Tensor>([[hook, tf.scalar(0)]]);
  const placeholder = cache.get(hook)!;
  const [logitsT, hT] = tf.tidy(() => {
    // The last position's logits only: a 256,000-token vocabulary at every position is not needed.
    return [model.forward([ids], { cache, logitsAt: [T - 1] }), cache.get(hook) as Tensor3D];
  });
  placeholder.dispose();
  const logits = (await logitsT.data()) as Float32Array;
  const [norms, z] = tf.tidy(() => [tf.norm(hT, 'euclidean', -1), sae.encode(hT)]);
  const normData = await norms.data();
  const zData = (await z.data()) as Float32Array;
  tf.dispose([logitsT, hT, norms, z]);
  const order = Array.from(logits.keys())
    .sort((a, b) => logits[b] - logits[a])
    .slice(0, topK);
  const max = logits[order[0]];
  let partition = 0;
  for (const l of logits) partition += Math.exp(l - max);
  const nextText = text(order);
  const tokText = text(ids);
  const m = sae.dSae;
  return {
    tokens: ids.map((id, i) => ({ id, text: tokText[i] })),
    nextTokens: order.map((id, i) => ({ id, text: nextText[i], logit: logits[id], prob: Math.exp(logits[id] - max) / partition })),
    positions: ids.map((_, p) => {
      const row = zData.subarray(p * m, (p + 1) * m);
      const active = Array.from(row.keys()).filter((f) => row[f] > 0);
      return {
        index: p,
        token: tokText[p],
        hookNorm: normData[p],
        activeFeatures: active.length,
        features: active
          .sort((a, b) => row[b] - row[a])
          .slice(0, nFeatures)
          .map((f) => ({ index: f, value: row[f] })),
      };
    }),
  };
}

function printReport(r: InspectReport): void {
  const q = (s: string) => JSON.stringify(s);
  const out = [
    `${r.model} (${r.processing} weights), ${r.sae} at ${r.hook}`,
    `tokens: ${r.tokens.map((t) => `${t.id} ${q(t.text)}`).join(', ')}`,
    'next token:',
  ];
  for (const t of r.nextTokens)
    out.push(`  ${q(t.text).padEnd(16)} id ${String(t.id).padEnd(6)} logit ${formatNumber(t.logit)}  p ${formatNumber(t.prob)}`);
  out.push(`at ${r.hook}:`);
  for (const p of r.positions) {
    const feats = p.features.map((f) => `${f.index}:${formatNumber(f.value)}`).join(' ');
    out.push(
      `  ${String(p.index).padStart(3)} ${q(p.token).padEnd(14)} ‖h‖ ${formatNumber(p.hookNorm)}  ${p.activeFeatures} active  ${feats}`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}
