// `unclamp recover`: the probe scenario (bring your own SAE, activations and probe) from the command line.
// The same loader and run as `unclamp run` and the page; the probe scenario's table gives the defaults.
import type { Command } from 'commander';
import { tf } from '../core/tf.ts';
import { type BackendFlags, backendOption, startBackend, threadsOption } from './backend.ts';
import { parseClampRule } from '../core/clamp.ts';
import { InputError } from '../core/errors.ts';
import { resultToJson, samplesToCsv } from '../io/results.ts';
import { loadScenario, topFeatures } from '../scenarios/load.ts';
import { runOptions, runScenario } from '../scenarios/run.ts';
import { readPublic, readProbeFiles, writeOutput } from './fs.ts';
import { integer, number } from './parse.ts';
import { progressBar } from './progress.ts';
import { paperTable } from './table.ts';
import { addDefenceOptions, addSettingOptions, settingsFromFlags, settingsLine, type SettingFlags } from './settings.ts';

interface RecoverFlags extends SettingFlags, BackendFlags {
  sae: string;
  activations: string;
  probe: string;
  target?: number;
  features?: number[];
  topK?: number;
  clamp?: string;
  positiveOnly?: boolean;
  lambdaDec?: number;
  ridge?: number;
  center?: boolean;
  normScalingFactor?: number;
  json?: string;
  csv?: string;
  metricsEvery: number;
  quiet?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('recover')
    .description('Clamp SAE features on your activations and optimise a residual perturbation that brings the probe behaviour back.')
    .requiredOption('--sae <dir>', 'SAELens SAE folder (cfg.json + sae_weights.safetensors)')
    .requiredOption('--activations <file>', 'safetensors with h [N, d] or [N, T, d] and optional mask [N, T]')
    .requiredOption('--probe <file>', 'safetensors with w [d] and b [] / [1], or w [d, C] and b [C]')
    .option('--target <c>', 'probe class whose logit is the behaviour (needed for multi-class probes)', integer('--target'))
    .option('--top-k <k>', 'defend the K features with the largest positive attribution to the behaviour (default 4)', integer('--top-k'));
  addSettingOptions(addDefenceOptions(cmd, 'zero'))
    .option('--lambda-dec <x>', 'weight of the decode drift penalty', number('--lambda-dec'))
    .option('--ridge <x>', 'ridge of the encoder projection', number('--ridge'))
    .option('--center', 'centre each token (remove its mean over d) before encoding (SAEs trained on centred TransformerLens streams)')
    .option('--no-center', 'do not centre, whatever the cfg says')
    .option('--norm-scaling-factor <x>', 'scalar for normalize_activations = expected_average_only_in', number('--norm-scaling-factor'))
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--metrics-every <n>', 'record metrics every n steps', integer('--metrics-every'), 1)
    .option('--json <out>', 'write the result JSON (public/schemas/recovery-result.schema.json)')
    .option('--csv <out>', 'write per-sample metrics as CSV')
    .option('--quiet', 'no progress bar')
    .action(async (flags: RecoverFlags) => recover(flags));
}

async function recover(flags: RecoverFlags): Promise<void> {
  if (flags.features !== undefined && flags.topK !== undefined)
    throw new InputError('choose the defended features with --features or --top-k, not both');
  if (flags.metricsEvery < 1) throw new InputError(`--metrics-every must be ≥ 1, got ${flags.metricsEvery}`);
  // Validate the cheap things before touching files or the backend.
  const settings = settingsFromFlags(flags);
  const advanced = {
    ...(flags.lambdaDec !== undefined && { lambdaDec: flags.lambdaDec }),
    ...(flags.ridge !== undefined && { ridge: flags.ridge }),
  };
  const options = runOptions('probe', settings, advanced);
  const clamp = flags.clamp ? parseClampRule(flags.clamp, Boolean(flags.positiveOnly)) : undefined;
  const files = readProbeFiles(flags.sae, flags.activations, flags.probe);

  const { backend } = await startBackend(flags);
  const spec = {
    kind: 'probe',
    files,
    target: flags.target,
    centerInput: flags.center,
    normScalingFactor: flags.normScalingFactor,
    names: { sae: flags.sae, activations: flags.activations, probe: flags.probe },
  } as const;
  const sc = await loadScenario(spec, readPublic);
  try {
    const features = flags.features ?? (flags.topK !== undefined ? topFeatures(sc, flags.topK) : undefined);
    const bar = flags.quiet ? null : progressBar(options.steps, `recover (${options.mode}, ${backend})`);
    const started = performance.now();
    const out = await runScenario(
      sc,
      { features, clamp, settings, advanced },
      {
        metricsEvery: flags.metricsEvery,
        onMetrics: (e) => bar?.update(e.step, e.recoveryRate === null ? '' : `rate ${(100 * e.recoveryRate).toFixed(1)}%`),
      },
    );
    bar?.done();
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(`${settingsLine('probe', settings, out.result.config.budget as number)}\n`);
    process.stdout.write(paperTable([{ label: options.mode, agg: out.result.aggregate }]));
    if (!flags.quiet)
      process.stderr.write(
        `${options.steps} steps in ${seconds.toFixed(2)} s (${(options.steps / seconds).toFixed(1)} steps/s) on ${backend}\n`,
      );
    if (flags.json) writeOutput(flags.json, resultToJson(out.result));
    if (flags.csv) writeOutput(flags.csv, samplesToCsv(out.result.samples));
  } finally {
    sc.dispose();
  }
  if (tf.memory().numTensors > 0 && process.env.UNCLAMP_DEBUG) process.stderr.write(`tensors left: ${tf.memory().numTensors}\n`);
}
