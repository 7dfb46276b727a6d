// `unclamp recover`: the probe scenario (bring your own activations) from the command line.
import type { Command } from 'commander';
import { tf } from '../core/tf.ts';
import { initNodeBackend, type NodeBackend } from '../engine/node-backend.ts';
import { loadSaeLens } from '../io/saelens.ts';
import { parseClampRule, describeClamp } from '../core/intervention.ts';
import { RecoverySite } from '../core/site.ts';
import { RecoveryRun, resolveOptions, type RecoveryOptions } from '../core/recovery.ts';
import { featureAttribution, topKPositive } from '../core/attribution.ts';
import { activationsTensor, allTokenPositions, checkProbeScenario, parseActivations, parseProbe, probeBehaviour } from '../scenarios/probe.ts';
import { resultToJson, samplesToCsv } from '../io/results.ts';
import { InputError } from './errors.ts';
import { readBytes, readSaeDir, writeOutput } from './fs.ts';
import { indexList, integer, number, oneOf } from './parse.ts';
import { progressBar } from './progress.ts';
import { paperTable } from './table.ts';

interface RecoverFlags {
  sae: string;
  activations: string;
  probe: string;
  target?: number;
  features?: number[];
  topK?: number;
  clamp: string;
  positiveOnly?: boolean;
  mode: RecoveryOptions['mode'];
  reproject?: boolean;
  steps: number;
  lr: number;
  budget: number;
  delta: RecoveryOptions['delta'];
  seed: number;
  lambdaAct: number;
  lambdaDec: number;
  ridge: number;
  checkpointDrift?: number;
  positions: 'all' | 'last';
  center?: boolean;
  normScalingFactor?: number;
  backend: NodeBackend;
  json?: string;
  csv?: string;
  metricsEvery: number;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('recover')
    .description('Clamp SAE features on your activations and optimise a residual perturbation that brings the probe behaviour back.')
    .requiredOption('--sae <dir>', 'SAELens SAE folder (cfg.json + sae_weights.safetensors)')
    .requiredOption('--activations <file>', 'safetensors with h [N, d] or [N, T, d] and optional mask [N, T]')
    .requiredOption('--probe <file>', 'safetensors with w [d] and b [] / [1], or w [d, C] and b [C]')
    .option('--target <c>', 'probe class whose logit is the behaviour (needed for multi-class probes)', integer('--target'))
    .option('--features <list>', 'defended SAE features, e.g. 3,17,40-43', indexList('--features'))
    .option('--top-k <k>', 'defend the K features with the largest positive attribution to the behaviour', integer('--top-k'))
    .option('--clamp <rule>', 'zero | set:C | multiply:A', 'zero')
    .option('--positive-only', 'apply set/zero only where the feature is active (z > 0)')
    .option('--mode <mode>', 'none | encoder | jacobian', oneOf('--mode', ['none', 'encoder', 'jacobian'] as const), 'encoder')
    .option('--reproject', 'encoder mode: also project δ itself after each step (exact encoder orthogonality)')
    .option('--steps <n>', 'Adam steps', integer('--steps'), 100)
    .option('--lr <x>', 'Adam learning rate', number('--lr'), 0.1)
    .option('--budget <r>', 'budget ρ: ‖δ‖ ≤ ρ per sample (or for the shared δ)', number('--budget'), 20)
    .option('--delta <kind>', 'per-sample | shared', oneOf('--delta', ['per-sample', 'shared'] as const), 'per-sample')
    .option('--seed <s>', 'random seed', integer('--seed'), 0)
    .option('--lambda-act <x>', 'weight of the relative drift penalty', number('--lambda-act'), 0)
    .option('--lambda-dec <x>', 'weight of the decode drift penalty', number('--lambda-dec'), 0)
    .option('--ridge <x>', 'ridge of the encoder projection', number('--ridge'), 1e-4)
    .option('--checkpoint-drift <x>', 'report, per sample, the best δ whose relative drift is ≤ x', number('--checkpoint-drift'))
    .option('--positions <which>', 'δ at all real tokens or only the last one', oneOf('--positions', ['all', 'last'] as const), 'all')
    .option('--center', 'centre each token (remove its mean over d) before encoding (SAEs trained on centred TransformerLens streams)')
    .option('--no-center', 'do not centre, whatever the cfg says')
    .option('--norm-scaling-factor <x>', 'scalar for normalize_activations = expected_average_only_in', number('--norm-scaling-factor'))
    .option('--backend <name>', 'wasm | cpu', oneOf('--backend', ['wasm', 'cpu'] as const), 'wasm')
    .option('--metrics-every <n>', 'record metrics every n steps', integer('--metrics-every'), 1)
    .option('--json <out>', 'write the result JSON (public/schemas/recovery-result.schema.json)')
    .option('--csv <out>', 'write per-sample metrics as CSV')
    .option('--quiet', 'no progress bar')
    .action(async (flags: RecoverFlags) => {
      await recover(flags);
    });
}

async function recover(flags: RecoverFlags): Promise<void> {
  if ((flags.features === undefined) === (flags.topK === undefined)) {
    throw new InputError('choose the defended features with exactly one of --features or --top-k');
  }
  if (flags.metricsEvery < 1) throw new InputError(`--metrics-every must be ≥ 1, got ${flags.metricsEvery}`);
  // Validate the cheap things before touching files or the backend.
  const options = resolveOptions({
    mode: flags.mode,
    steps: flags.steps,
    lr: flags.lr,
    budget: flags.budget,
    delta: flags.delta,
    seed: flags.seed,
    reproject: Boolean(flags.reproject),
    lambdaAct: flags.lambdaAct,
    lambdaDec: flags.lambdaDec,
    ridge: flags.ridge,
    checkpointMaxRelDrift: flags.checkpointDrift ?? null,
  });
  const clamp = parseClampRule(flags.clamp, Boolean(flags.positiveOnly));
  const acts = parseActivations(readBytes(flags.activations, 'activations file'), flags.activations);
  const probe = parseProbe(readBytes(flags.probe, 'probe file'), flags.probe);
  const saeFiles = readSaeDir(flags.sae);

  const { backend, reason } = await initNodeBackend(flags.backend);
  if (reason && !flags.quiet) process.stderr.write(`unclamp: using the ${backend} backend (${reason})\n`);
  const loaded = loadSaeLens(saeFiles, { source: flags.sae, centerInput: flags.center, normScalingFactor: flags.normScalingFactor });
  const { sae } = loaded;
  const target = checkProbeScenario(acts, probe, sae.dIn, flags.target);
  const pb = probeBehaviour(probe, target, acts);
  const h = activationsTensor(acts);
  let positions = allTokenPositions(acts);
  if (flags.positions === 'last') positions = positions.map((row) => [Math.max(...row)]);

  let features = flags.features!;
  if (flags.topK !== undefined) features = topKPositive(await featureAttribution(sae, h, pb.behaviour), flags.topK);

  const site = await RecoverySite.create({ sae, features, clamp, h, positions, behaviour: pb.behaviour });
  h.dispose();
  const run = await RecoveryRun.create(site, options);
  const bar = flags.quiet ? null : progressBar(options.steps, `recover (${options.mode}, ${backend})`);
  const started = performance.now();
  await run.run({
    metricsEvery: flags.metricsEvery,
    onMetrics: (e) => bar?.update(e.step, e.recoveryRate === null ? '' : `rate ${(100 * e.recoveryRate).toFixed(1)}%`),
  });
  bar?.done();
  const seconds = (performance.now() - started) / 1000;
  const result = await run.result({
    scenario: 'probe',
    sae: flags.sae,
    activations: flags.activations,
    probe: flags.probe,
    target,
    clamp: { ...clamp, description: describeClamp(clamp) },
    positions: flags.positions,
    backend,
    saeNotes: loaded.notes,
  });
  process.stdout.write(paperTable([{ label: options.mode, agg: result.aggregate }]));
  if (!flags.quiet) process.stderr.write(`${options.steps} steps in ${seconds.toFixed(2)} s (${(options.steps / seconds).toFixed(1)} steps/s) on ${backend}\n`);
  if (flags.json) writeOutput(flags.json, resultToJson(result));
  if (flags.csv) writeOutput(flags.csv, samplesToCsv(result.samples));
  run.dispose();
  site.dispose();
  pb.dispose();
  sae.dispose();
  if (tf.memory().numTensors > 0 && process.env.UNCLAMP_DEBUG) process.stderr.write(`tensors left: ${tf.memory().numTensors}\n`);
}
