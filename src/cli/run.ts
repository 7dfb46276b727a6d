// `unclamp run`: one of the paper's experiments on the built-in model (or the probe example).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { initNodeBackend, type NodeBackend } from '../engine/node-backend.ts';
import { parseClampRule } from '../core/intervention.ts';
import { resolveOptions, type RecoveryOptions } from '../core/recovery.ts';
import { resultToJson, samplesToCsv } from '../io/results.ts';
import { isScenarioId } from '../scenarios/builtin/index.ts';
import { openWorkbench, runScenario } from '../scenarios/run.ts';
import { refusalStage2 } from '../scenarios/builtin/refusal.ts';
import type { ReadAsset } from '../scenarios/builtin/assets.ts';
import { InputError } from './errors.ts';
import { writeOutput } from './fs.ts';
import { indexList, integer, number, oneOf } from './parse.ts';
import { paperTable } from './table.ts';
import { progressBar } from './progress.ts';

export const PUBLIC_MODELS = path.resolve(import.meta.dirname, '../../public/models');

export const readPublicModels: ReadAsset = async (p) => {
  try {
    return new Uint8Array(await readFile(path.join(PUBLIC_MODELS, p)));
  } catch (e) {
    throw new InputError(`cannot read public/models/${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
};

interface RunFlags {
  scenario: string;
  model?: string;
  sae?: string;
  mode?: RecoveryOptions['mode'];
  features?: number[];
  k?: number;
  clamp?: string;
  positiveOnly?: boolean;
  steps?: number;
  lr?: number;
  budget?: number;
  delta?: RecoveryOptions['delta'];
  seed: number;
  n?: number;
  target?: number;
  reproject?: boolean;
  lambdaAct?: number;
  replay?: number;
  stage2: boolean;
  backend: NodeBackend;
  json?: string;
  csv?: string;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('run')
    .description('Run one of the paper\'s experiments (ioi, refusal, tpp, unlearning) on the built-in model.')
    .requiredOption('--scenario <id>', 'ioi | refusal | tpp | unlearning')
    .option('--model <name>', 'built-in model (public/models/index.json)')
    .option('--sae <id>', 'SAE id from the model\'s list (default: the model\'s default SAE)')
    .option('--mode <mode>', 'none | encoder | jacobian', oneOf('--mode', ['none', 'encoder', 'jacobian'] as const))
    .option('--features <list>', 'defended features instead of the scenario\'s selection', indexList('--features'))
    .option('--k <k>', 'size of the scenario\'s default defended set', integer('--k'))
    .option('--clamp <rule>', 'zero | set:C | multiply:A (default: the scenario\'s)')
    .option('--positive-only', 'with --clamp set/zero: only where the feature is active')
    .option('--steps <n>', 'Adam steps', integer('--steps'))
    .option('--lr <x>', 'learning rate', number('--lr'))
    .option('--budget <r>', 'budget ρ', number('--budget'))
    .option('--delta <kind>', 'per-sample | shared', oneOf('--delta', ['per-sample', 'shared'] as const))
    .option('--reproject', 'encoder mode: re-project δ after each step (default for refusal and unlearning)')
    .option('--no-reproject', 'encoder mode: project the gradient only (the paper\'s variant)')
    .option('--lambda-act <x>', 'drift penalty weight', number('--lambda-act'))
    .option('--seed <s>', 'seed (data and optimiser)', integer('--seed'), 0)
    .option('--n <n>', 'number of held-out samples', integer('--n'))
    .option('--target <c>', 'TPP: class whose features are ablated (0..4)', integer('--target'))
    .option('--replay <k>', 'also replay the recovery path (top-k for the non-clamped part)', integer('--replay'))
    .option('--no-stage2', 'refusal: skip the second stage (answer positions)')
    .option('--backend <name>', 'wasm | cpu', oneOf('--backend', ['wasm', 'cpu'] as const), 'wasm')
    .option('--json <out>', 'write the result JSON')
    .option('--csv <out>', 'write per-sample metrics as CSV')
    .option('--quiet', 'no progress bar')
    .action(async (flags: RunFlags) => runCommand(flags));
}

async function runCommand(flags: RunFlags): Promise<void> {
  if (!isScenarioId(flags.scenario)) throw new InputError(`--scenario must be one of ioi, refusal, tpp, unlearning (got "${flags.scenario}"); the probe scenario is \`unclamp recover\``);
  const options: Partial<RecoveryOptions> = {};
  for (const [k, v] of Object.entries({ mode: flags.mode, steps: flags.steps, lr: flags.lr, budget: flags.budget, delta: flags.delta, seed: flags.seed, lambdaAct: flags.lambdaAct })) {
    if (v !== undefined) (options as Record<string, unknown>)[k] = v;
  }
  if (flags.reproject !== undefined) options.reproject = flags.reproject;
  resolveOptions(options); // validate before loading anything
  const clamp = flags.clamp ? parseClampRule(flags.clamp, Boolean(flags.positiveOnly)) : undefined;
  if (flags.n !== undefined && !(flags.n >= 1 && flags.n <= 512)) throw new InputError('--n must be in 1..512');
  const { backend } = await initNodeBackend(flags.backend);
  const wb = await openWorkbench(readPublicModels, flags.model, flags.sae);
  try {
    const bar = flags.quiet ? null : progressBar(100, `${flags.scenario} (${backend})`);
    const params = { seed: flags.seed, n: flags.n, k: flags.k, targetClass: flags.target };
    const out = await runScenario(wb, { scenario: flags.scenario, params, features: flags.features, clamp, options, replayTopK: flags.replay }, (s, total) => bar?.update(Math.round((100 * s) / total)));
    bar?.done();
    const result = { ...out.result, extras: out.extras, replay: out.replay } as typeof out.result & Record<string, unknown>;
    if (flags.scenario === 'refusal' && flags.stage2 && out.result.aggregate.validFlips > 0) {
      const ctx = { model: wb.builtin.model, tokenizer: wb.builtin.tokenizer, sae: wb.sae.loaded.sae, hook: out.scenario.hook };
      const s2 = await refusalStage2(ctx, out.scenario, flags.features ?? out.scenario.features, clamp ?? out.scenario.clamp, out.result.samples.map((s) => s.valid), out.delta, out.deltaShape, { seed: flags.seed });
      result.stage2 = s2;
      process.stdout.write(`refusal stage 2: non-refusal ${s2.nonRefusal}/${s2.validFlips} (stage 1 alone ${s2.nonRefusalStage1}), base-like ${s2.baseLike}/${s2.validFlips}\n`);
    }
    process.stdout.write(paperTable([{ label: `${flags.scenario} ${out.result.config.mode}`, agg: out.result.aggregate }]));
    if (Object.keys(out.extras).length) process.stdout.write(`${Object.entries(out.extras).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(3) : v}`).join('  ')}\n`);
    if (out.replay) process.stdout.write(out.replay.map((r) => `replay ${r.part}: ${r.recovered}/${r.validFlips}`).join('\n') + '\n');
    if (flags.json) writeOutput(flags.json, resultToJson(result));
    if (flags.csv) writeOutput(flags.csv, samplesToCsv(out.result.samples));
  } finally {
    wb.dispose();
  }
}
