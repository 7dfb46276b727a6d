// `unclamp plan`: what a real-model run would need and where it can run, before anything large is downloaded — per
// backend this Node process could use (WebGPU through Dawn when the optional `webgpu` package finds an adapter, wasm
// with its 4 GB heap, cpu), the peak device memory, host memory and the verdict; and for one backend the breakdown.
import os from 'node:os';
import type { Command } from 'commander';
import { formatBytes } from '../core/format.ts';
import { type MemoryPlan, probeNodeHost, whatRunsWhere } from '../model/memory-plan.ts';
import { readText, writeOutput } from './fs.ts';
import { oneOf } from './parse.ts';
import { addSourceOptions, planFromSources, type SourceFlags } from './sources.ts';
import { InputError } from '../core/errors.ts';

interface PlanFlags extends SourceFlags {
  model: string;
  sae: string;
  prompts: string;
  backend: 'wasm' | 'webgpu' | 'cpu';
  dawn: boolean;
  json?: string;
}

/** Dawn's Node addon, when installed (an optional package: bench/dawn.bench.ts). The name in a variable keeps the type checker from looking for it. */
const DAWN_PACKAGE = 'webgpu';

export function register(program: Command): void {
  const cmd = program
    .command('plan')
    .description(
      "What a run of your prompts on a real model and SAE needs (device and host memory) and where it can run (wasm's 4 GB heap, a GPU through Dawn, cpu), read from config.json, the tokenizer and the SAE's cfg.json or path: no weights are downloaded.",
    )
    .requiredOption('--model <dir|hf:…>', 'a model folder or hf:owner/name')
    .requiredOption('--sae <dir|hf:…>', 'a SAELens or Gemma Scope folder, or hf:owner/name/folder')
    .requiredOption('--prompts <file>', 'the prompt set (JSON lines: prompt, target, contrast)')
    .option('--backend <name>', 'the backend whose plan is broken down', oneOf('--backend', ['wasm', 'webgpu', 'cpu'] as const), 'wasm')
    .option('--no-dawn', 'do not look for a GPU through Dawn');
  addSourceOptions(cmd, 'the model')
    .option('--json <out>', 'write the plans as JSON')
    .option('--quiet', 'no download progress')
    .action(async (flags: PlanFlags) => planCommand(flags));
}

async function planCommand(flags: PlanFlags): Promise<void> {
  const what = { model: flags.model, sae: flags.sae, prompts: { text: readText(flags.prompts, 'prompt set'), name: flags.prompts } };
  const planned = await planFromSources({ ...what, prependBos: flags.prependBos, chat: flags.chat }, flags, flags.backend);
  if (!planned) throw new InputError(`${flags.sae}: its dimensions cannot be told from its cfg.json or path`);
  const host = await probeNodeHost({
    totalmem: os.totalmem,
    freemem: os.freemem,
    cores: os.availableParallelism(),
    constrainedMemory: process.constrainedMemory,
    loadDawn: flags.dawn ? () => import(DAWN_PACKAGE) : undefined,
  });
  const { plan, set, sae } = planned;
  const rows = whatRunsWhere(plan.model, { ...plan.run, sae: { dIn: sae.dIn, dSae: sae.dSae, threshold: sae.threshold } }, host);
  const out = [
    `${plan.description}: ${set.ids.length} prompts of up to ${plan.run.tokens} tokens, the SAE (${sae.dSae.toLocaleString('en')} features) at ${sae.hook}`,
    `parameters ${plan.params.total.toLocaleString('en')}; GPU through Dawn: ${host.gpu ? host.gpu.adapter : 'none found'}; RAM ${formatBytes(host.totalBytes)}`,
    '',
  ];
  for (const r of rows) {
    out.push(`${r.how} (${r.ceiling}): peak ${formatBytes(r.devicePeak)} on the device, ${formatBytes(r.hostPeak)} of RAM`);
    out.push(`  ${r.fits.ok ? 'fits' : `does not fit: ${r.fits.message}`}`);
    for (const w of r.fits.warnings) out.push(`  warning: ${w}`);
  }
  out.push('', `on ${flags.backend}:`, ...breakdown(plan));
  process.stdout.write(`${out.join('\n')}\n`);
  if (flags.json) writeOutput(flags.json, `${JSON.stringify({ plan, rows }, null, 2)}\n`);
}

/** The plan's items, largest first, with the peak's phase. */
function breakdown(plan: MemoryPlan): string[] {
  const items = [...plan.device.items].sort((a, b) => b.bytes - a.bytes);
  return [
    ...items.map((i) => `  ${formatBytes(i.bytes).padStart(9)}  ${i.what}${i.phase === 'resident' ? '' : ` (during ${i.phase})`}`),
    `  peak ${formatBytes(plan.device.peak)} during ${plan.device.peakPhase}; resident ${formatBytes(plan.device.resident)}`,
  ];
}
