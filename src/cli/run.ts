// `unclamp run`: one of the paper's experiments on the built-in model (or the probe example), with the
// scenario's defaults unless a flag changes them.
import type { Command } from 'commander';
import { type BackendFlags, backendOption, startBackend, threadsOption } from './backend.ts';
import { parseClampRule } from '../core/clamp.ts';
import { InputError } from '../core/errors.ts';
import { formatNumber } from '../core/format.ts';
import { resultToJson, samplesToCsv } from '../io/results.ts';
import { isBuiltinScenarioId, isScenarioId, PAPER_IOI, SCENARIO_IDS, type ScenarioId } from '../scenarios/catalog.ts';
import { loadScenario, topFeatures, type ScenarioSpec } from '../scenarios/load.ts';
import { runOptions, runScenario } from '../scenarios/run.ts';
import { refusalStage2 } from '../scenarios/builtin/refusal.ts';
import { readPublic, readText, writeOutput } from './fs.ts';
import { HubInputError } from '../io/hub.ts';
import { addSourceOptions, modelRunSpec, type SourceFlags } from './sources.ts';
import type { Backend } from '../model/memory-plan.ts';
import { integer } from './parse.ts';
import { paperTable } from './table.ts';
import { checkDefenceSettings, clipPercentileOption, detectFprOption } from './defences.ts';
import { DEFENCE_IDS, defenceKey, describeDefence, parseDefence, type DefenceChoice } from '../core/defence-kinds.ts';
import { paperIoiLine } from './reference.ts';
import { progressBar } from './progress.ts';
import { addDefenceOptions, addSettingOptions, settingsFromFlags, settingsLine, type SettingFlags } from './settings.ts';

interface RunFlags extends SettingFlags, SourceFlags, BackendFlags {
  scenario?: string;
  prompts?: string;
  model?: string;
  sae?: string;
  features?: number[];
  k?: number;
  clamp?: string;
  positiveOnly?: boolean;
  n?: number;
  target?: number;
  replay?: number;
  stage2: boolean;
  json?: string;
  csv?: string;
  quiet?: boolean;
  defence?: string;
  clipPercentile?: number;
  detectFpr?: number;
}

const RUNNABLE = SCENARIO_IDS.filter((id) => id !== 'probe' && id !== 'prompts');

/** What paper-ioi needs when the Hub cannot be reached. */
const PAPER_IOI_OFFLINE = `the paper-ioi scenario needs GPT-2 small (${PAPER_IOI.model}) and its SAE (${PAPER_IOI.sae}): from the Hub, or give local copies with --model DIR --sae DIR`;

export function register(program: Command): void {
  const cmd = program
    .command('run')
    .description(
      "Run one of the paper's experiments (ioi, refusal, tpp, unlearning) on the built-in model, the probe example, the paper's IOI on GPT-2 small (paper-ioi), or your own model, SAE and prompts (--prompts), with the scenario's defaults.",
    )
    .option('--scenario <id>', `${RUNNABLE.join(' | ')} (or give --prompts)`)
    .option(
      '--model <name|dir>',
      'built-in model (public/models/index.json); with --prompts, a model folder or hf:owner/name (GPT-2, Gemma-2, GPT-NeoX/Pythia)',
    )
    .option(
      '--sae <id|dir>',
      "SAE id from the model's list (default: the scenario's SAE); with --prompts, a SAELens or Gemma Scope folder, or hf:owner/name/folder",
    )
    .option('--prompts <file>', 'your prompt set (JSON lines: prompt, target, contrast) on --model with --sae')
    .option('--k <k>', "size of the scenario's default defended set (its top K)", integer('--k'));
  addSettingOptions(addDefenceOptions(addSourceOptions(cmd, 'with --prompts or paper-ioi'), "the scenario's"))
    .option('--n <n>', 'number of held-out samples', integer('--n'))
    .option('--target <c>', 'TPP: class whose features are ablated (0..4)', integer('--target'))
    .option('--replay <k>', 'also replay the recovery path (top-k for the non-clamped part)', integer('--replay'))
    .option('--no-stage2', 'refusal: skip the second stage (answer positions)')
    .option(
      '--defence <ids>',
      `the defence instead of the paper's clamp: one of ${DEFENCE_IDS.join(', ')}, or a combination such as no-error-term,detect (docs/defences.md)`,
    )
    .addOption(clipPercentileOption())
    .addOption(detectFprOption())
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--json <out>', 'write the result JSON')
    .option('--csv <out>', 'write per-sample metrics as CSV')
    .option('--quiet', 'no progress bar')
    .action(async (flags: RunFlags) => runCommand(flags));
}

async function specFor(id: ScenarioId, flags: RunFlags, backend: Backend, seed: number): Promise<ScenarioSpec> {
  if (id === 'probe-example') return { kind: 'probe-example' };
  if (id === 'paper-ioi') {
    try {
      return await modelRunSpec(
        {
          scenario: 'paper-ioi',
          model: flags.model ?? PAPER_IOI.model,
          sae: flags.sae ?? PAPER_IOI.sae,
          prompts: { text: new TextDecoder().decode(await readPublic(PAPER_IOI.prompts)), name: PAPER_IOI.prompts },
          prependBos: false,
        },
        flags,
        backend,
      );
    } catch (e) {
      if (e instanceof HubInputError) throw new InputError(`${e.message}; ${PAPER_IOI_OFFLINE}`);
      throw e;
    }
  }
  if (id === 'prompts') {
    if (!flags.prompts || !flags.model || !flags.sae)
      throw new InputError(
        'your own prompts need --model (a folder or hf:owner/name), --sae (a folder or hf:owner/name/folder) and --prompts FILE',
      );
    return modelRunSpec(
      {
        model: flags.model,
        sae: flags.sae,
        prompts: { text: readText(flags.prompts, 'prompt set'), name: flags.prompts },
        prependBos: flags.prependBos,
        chat: flags.chat,
      },
      flags,
      backend,
    );
  }
  if (id === 'probe') throw new InputError('--scenario probe needs your files: use `unclamp recover`');
  return {
    kind: 'builtin',
    scenario: id,
    model: flags.model,
    sae: flags.sae,
    seed,
    n: flags.n,
    targetClass: flags.target,
  };
}

async function runCommand(flags: RunFlags): Promise<void> {
  const named = flags.scenario ?? (flags.prompts ? 'prompts' : undefined);
  if (named === undefined) throw new InputError(`give --scenario (${RUNNABLE.join(', ')}) or your own --prompts`);
  if (flags.prompts && named !== 'prompts') throw new InputError(`--prompts runs your own prompts: leave out --scenario ${named}`);
  if (!isScenarioId(named) || named === 'probe') {
    throw new InputError(
      `--scenario must be one of ${RUNNABLE.join(', ')} (got "${named}"); your own probe files go to \`unclamp recover\`, your own prompts to --prompts`,
    );
  }
  const id = named;
  if (flags.features && flags.k !== undefined) throw new InputError('give --features or --k, not both');
  const settings = settingsFromFlags(flags);
  // Resolved (and so validated) before anything loads; the run resolves the same settings the same way.
  const options = runOptions(id, settings);
  const clamp = flags.clamp ? parseClampRule(flags.clamp, Boolean(flags.positiveOnly)) : undefined;
  if (flags.n !== undefined && !(flags.n >= 1 && flags.n <= 512)) throw new InputError('--n must be in 1..512');
  const defence = defenceFromFlags(flags);
  const { backend, threads } = await startBackend(flags, { smallModel: isBuiltinScenarioId(id) || id === 'probe-example' });
  const sc = await loadScenario(await specFor(id, flags, backend as Backend, options.seed), readPublic);
  try {
    const features = flags.features ?? (flags.k !== undefined ? topFeatures(sc, flags.k) : undefined);
    const bar = flags.quiet ? null : progressBar(100, `${id} (${backend})`);
    const out = await runScenario(
      sc,
      { features, clamp, settings, replayTopK: flags.replay, defence },
      { onMetrics: (e) => bar?.update(Math.round((100 * e.step) / options.steps)) },
    );
    bar?.done();
    // The thread count goes with the backend, for whoever compares timings or checks that a count changes nothing.
    const config = { ...out.result.config, threads };
    const result = { ...out.result, config, extras: out.extras, replay: out.replay } as typeof out.result & Record<string, unknown>;
    // Stage 2 generates under the paper's clamp: under another defence its figures would be about the wrong one.
    if (id === 'refusal' && flags.stage2 && defence && out.result.aggregate.validFlips > 0)
      process.stderr.write(
        `unclamp: refusal's second stage generates under the paper's clamp only: skipped under ${defenceKey(defence)}\n`,
      );
    else if (id === 'refusal' && flags.stage2 && out.result.aggregate.validFlips > 0) {
      const s2 = await refusalStage2(
        sc,
        features ?? sc.defaults.features,
        clamp ?? sc.defaults.clamp,
        out.result.samples.map((s) => s.valid),
        out.delta,
        out.deltaShape,
        { seed: options.seed },
      );
      result.stage2 = s2;
      process.stdout.write(
        `refusal stage 2: non-refusal ${s2.nonRefusal}/${s2.validFlips} (stage 1 alone ${s2.nonRefusalStage1}), base-like ${s2.baseLike}/${s2.validFlips}\n`,
      );
    }
    for (const w of sc.warnings ?? []) process.stderr.write(`unclamp: warning: ${w}\n`);
    if (sc.saeCheck) {
      const c = sc.saeCheck;
      process.stdout.write(
        `SAE check on the prompts: L0 ${formatNumber(c.l0)}, explained variance ${formatNumber(c.explainedVariance)}${c.lossClean === null || c.lossSpliced === null ? '' : `, next-token loss ${formatNumber(c.lossClean)} → ${formatNumber(c.lossSpliced)} with the SAE spliced in`}\n`,
      );
      for (const w of c.warnings) process.stderr.write(`unclamp: warning: ${w}\n`);
    }
    process.stdout.write(`${settingsLine(id, settings, out.result.config.budget as number)}\n`);
    if (defence) process.stdout.write(`defence: ${describeDefence(defence)}\n`);
    const label = `${id} ${out.result.config.mode}${defence ? ` ${defenceKey(defence)}` : ''}`;
    process.stdout.write(paperTable([{ label, agg: out.result.aggregate }]));
    if (id === 'paper-ioi') process.stdout.write(`${paperIoiLine(String(out.result.config.mode))}\n`);
    const extras = Object.entries(out.extras).map(([k, v]) => `${k} ${typeof v === 'number' ? formatNumber(v) : v}`);
    if (extras.length) process.stdout.write(`${extras.join('  ')}\n`);
    if (out.replay) process.stdout.write(`${out.replay.map((r) => `replay ${r.part}: ${r.recovered}/${r.validFlips}`).join('\n')}\n`);
    if (flags.json) writeOutput(flags.json, resultToJson(result));
    if (flags.csv) writeOutput(flags.csv, samplesToCsv(out.result.samples));
  } finally {
    sc.dispose();
  }
}

/** --defence (with --clip-percentile, --detect-fpr), checked before anything loads; undefined for the paper's clamp. */
export function defenceFromFlags(flags: Pick<RunFlags, 'defence' | 'clipPercentile' | 'detectFpr'>): DefenceChoice | undefined {
  if (flags.defence === undefined) {
    checkDefenceSettings([], flags, '--defence');
    return undefined;
  }
  const choice = parseDefence(flags.defence, flags);
  checkDefenceSettings([choice], flags, '--defence');
  return defenceKey(choice) === 'clamp' ? undefined : choice;
}
