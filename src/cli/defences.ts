// `unclamp defences`: the defence lab's matrix (docs/defences.md) on a built-in scenario — each defence against the
// paper's attacker and the adaptive one in each projection mode, over seeds, with each defence's cost, a random-δ
// baseline, recovery against budget and the checks of an honest robustness evaluation. The parsers here are shared
// with `unclamp run --defence` and bench/defences.ts.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { defaultWasmThreads } from '../engine/node-backend.ts';
import { runPool, serveJobs, startWorker } from './worker-pool.ts';
import { type BackendFlags, backendOption, startBackend, threadsOption } from './backend.ts';
import { InputError } from '../core/errors.ts';
import {
  DEFAULT_CLIP_PERCENTILE,
  DEFAULT_DETECT_FPR,
  DEFENCE_IDS,
  defenceKey,
  parseDefence,
  type DefenceChoice,
} from '../core/defence-kinds.ts';
import { PROJECTION_MODES, type ProjectionMode } from '../core/options.ts';
import { BUILTIN_SCENARIO_IDS, isBuiltinScenarioId, SCENARIOS, type BuiltinScenarioId, type RunSettings } from '../scenarios/catalog.ts';
import { loadScenario } from '../scenarios/load.ts';
import { runOptions } from '../scenarios/run.ts';
import {
  DEFAULT_BUDGET_MULTIPLES,
  DEFAULT_LAMBDA_DETECT,
  defenceMatrix,
  type DefenceMatrix,
  type MatrixSeedPart,
  type MatrixSpec,
  matrixSeed,
  poolMatrix,
} from '../scenarios/defence-matrix.ts';
import { readPublic, writeOutput } from './fs.ts';
import { integer, number } from './parse.ts';
import { progressBar } from './progress.ts';
import { textTable } from './table.ts';
import { budgetTable, costTable, detectorSentence, failedChecks, matrixSettings, recoveryTable, siteNotes } from './defence-tables.ts';

/** The most seeds a matrix takes (as `report --seeds`). */
export const MAX_SEEDS = 50;
export const DEFAULT_SEED_COUNT = 5;

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function noRepeats<T>(name: string, values: T[], show: (v: T) => string = String): T[] {
  const seen = new Set<string>();
  for (const v of values) {
    const k = show(v);
    if (seen.has(k)) throw new InputError(`${name} lists ${k} twice`);
    seen.add(k);
  }
  return values;
}

/** `5` → seeds 0..4 (a count); `0,3,7` or `2-4` → those seeds. */
export function parseSeeds(v: string): number[] {
  const text = v.trim();
  let seeds: number[];
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (!(n >= 1 && n <= MAX_SEEDS))
      throw new InputError(`--seeds: a count of seeds must be in 1..${MAX_SEEDS}, got ${n} (one seed s alone: --seeds s-s)`);
    seeds = Array.from({ length: n }, (_, i) => i);
  } else {
    seeds = [];
    for (const part of list(text)) {
      const range = /^(\d+)-(\d+)$/.exec(part);
      if (range) {
        const [a, b] = [Number(range[1]), Number(range[2])];
        if (b < a) throw new InputError(`--seeds: range ${part} runs backwards`);
        for (let s = a; s <= b && seeds.length <= MAX_SEEDS; s++) seeds.push(s);
      } else if (/^\d+$/.test(part)) seeds.push(Number(part));
      else throw new InputError(`--seeds must be a count (5) or comma-separated seeds (0,1,2 or 0-4), got "${part}"`);
    }
    if (!seeds.length) throw new InputError('--seeds is empty');
    if (seeds.length > MAX_SEEDS) throw new InputError(`--seeds: at most ${MAX_SEEDS} seeds`);
    if (seeds.some((s) => s > 2 ** 32 - 1)) throw new InputError('--seeds: a seed must be a whole number in 0..4294967295');
    noRepeats('--seeds', seeds);
  }
  return seeds;
}

/** `none,encoder` → the projection modes, in the order given. */
export function parseModes(v: string): ProjectionMode[] {
  const modes = list(v);
  if (!modes.length) throw new InputError(`--modes is empty: choose from ${PROJECTION_MODES.join(', ')}`);
  for (const m of modes)
    if (!(PROJECTION_MODES as readonly string[]).includes(m))
      throw new InputError(`--modes: "${m}" is not a projection mode: choose from ${PROJECTION_MODES.join(', ')}`);
  return noRepeats('--modes', modes as ProjectionMode[]);
}

/** `0.25,0.5,1,2` → positive multiples of the scenario's budget, ascending (the curve's order). */
export function parseBudgets(v: string): number[] {
  const parts = list(v);
  if (!parts.length) throw new InputError('--budgets is empty');
  const out = parts.map((p) => {
    const x = Number(p);
    if (!Number.isFinite(x) || x <= 0 || x > 100)
      throw new InputError(`--budgets: each multiple of the budget must be a number in (0, 100], got "${p}"`);
    return x;
  });
  return noRepeats('--budgets', out).sort((a, b) => a - b);
}

export interface DefenceSettingFlags {
  clipPercentile?: number;
  detectFpr?: number;
}

/** The two defence settings' flags, declared once for `run` and `defences`. */
export const clipPercentileOption = () =>
  new Option(
    '--clip-percentile <p>',
    `clip-error: the percentile of clean error norms the cap sits at (default ${DEFAULT_CLIP_PERCENTILE})`,
  ).argParser(number('--clip-percentile'));
export const detectFprOption = () =>
  new Option(
    '--detect-fpr <a>',
    `detect: the false-positive rate on clean inputs the threshold is set at (default ${DEFAULT_DETECT_FPR})`,
  ).argParser(number('--detect-fpr'));

/**
 * `clamp,no-error-term+detect` → one defence per comma-separated entry (an entry combines ids with +). The clip
 * percentile and the false-positive rate apply to every entry with clip-error or detect, and must have one.
 */
export function parseDefenceList(v: string, flags: DefenceSettingFlags = {}): DefenceChoice[] {
  const entries = list(v);
  if (!entries.length) throw new InputError(`--defences is empty: choose from ${DEFENCE_IDS.join(', ')}`);
  const choices = entries.map((e) => parseDefence(e, flags));
  noRepeats('--defences', choices, defenceKey);
  checkDefenceSettings(choices, flags, '--defences');
  return choices;
}

/** --clip-percentile and --detect-fpr say something only with clip-error and detect: refuse them otherwise. */
export function checkDefenceSettings(choices: DefenceChoice[], flags: DefenceSettingFlags, where: string): void {
  if (flags.clipPercentile !== undefined && !choices.some((c) => c.hook === 'clip-error'))
    throw new InputError(`--clip-percentile sets the clip-error defence's cap: add clip-error to ${where}`);
  if (flags.detectFpr !== undefined && !choices.some((c) => c.detect))
    throw new InputError(`--detect-fpr sets the detect defence's threshold: add detect to ${where}`);
}

/** The matrix's progress messages for a spec: one per optimiser run, and one per defence for its cost. */
export function matrixWork(spec: { seeds: number[]; modes: readonly ProjectionMode[]; defences: DefenceChoice[]; budgets: number[] }): {
  messages: number;
  runs: number;
} {
  const d = spec.defences.length;
  const attacked = spec.defences.filter((c) => defenceKey(c) !== 'clamp').length;
  const perSeed = spec.modes.length + attacked * spec.modes.length;
  const firstSeed = d * (spec.budgets.length + 1);
  const runs = spec.seeds.length * perSeed + firstSeed;
  return { runs, messages: runs + d };
}

export interface DefencesFlags extends BackendFlags, DefenceSettingFlags {
  scenario?: string;
  json?: string;
  seeds: string;
  modes: string;
  defences: string;
  budgets: string;
  lambdaDetect: number;
  steps?: number;
  quiet?: boolean;
  jobs: number;
  worker?: boolean;
}

/** Everything a matrix run needs, checked before anything loads. */
export interface DefencesPlan {
  scenario: BuiltinScenarioId;
  seeds: number[];
  modes: ProjectionMode[];
  defences: DefenceChoice[];
  budgets: number[];
  lambdaDetect: number;
  settings: Partial<RunSettings>;
  /** Said on stderr before the run (a fixed-data scenario's one seed). */
  notes: string[];
}

export function planDefences(flags: Omit<DefencesFlags, keyof BackendFlags | 'jobs' | 'worker'>): DefencesPlan {
  const named = flags.scenario;
  if (named === undefined) throw new InputError(`give --scenario (${BUILTIN_SCENARIO_IDS.join(', ')})`);
  if (!isBuiltinScenarioId(named))
    throw new InputError(`--scenario must be one of ${BUILTIN_SCENARIO_IDS.join(', ')} (the built-in scenarios), got "${named}"`);
  const notes: string[] = [];
  let seeds = parseSeeds(flags.seeds);
  if (SCENARIOS[named].fixedData && seeds.length > 1) {
    notes.push(`${named}'s held-out data does not depend on the seed: seed ${seeds[0]} only (more would repeat the same runs)`);
    seeds = seeds.slice(0, 1);
  }
  const modes = parseModes(flags.modes);
  const defences = parseDefenceList(flags.defences, flags);
  const budgets = parseBudgets(flags.budgets);
  const settings: Partial<RunSettings> = flags.steps !== undefined ? { steps: flags.steps } : {};
  // The settings and λ_detect, resolved as each run will: a bad value is refused here, with the engine's words.
  runOptions(named, settings, { lambdaDetect: flags.lambdaDetect });
  return { scenario: named, seeds, modes, defences, budgets, lambdaDetect: flags.lambdaDetect, settings, notes };
}

/** The matrix for a plan on the running backend (the loader per seed is the CLI's; no tensors outlive it). */
export function runPlan(plan: DefencesPlan, onProgress?: (what: string) => void): Promise<DefenceMatrix> {
  return defenceMatrix(planSpec(plan, onProgress));
}

function planSpec(plan: DefencesPlan, onProgress?: (what: string) => void): MatrixSpec {
  return {
    scenario: plan.scenario,
    load: (seed) => loadScenario({ kind: 'builtin', scenario: plan.scenario, seed }, readPublic),
    defences: plan.defences,
    modes: plan.modes,
    seeds: plan.seeds,
    budgets: plan.budgets,
    settings: plan.settings,
    lambdaDetect: plan.lambdaDetect,
    onProgress,
  };
}

/** One seed of a plan, for a worker process; `first` adds the cost, curves and checks. */
interface SeedJob {
  plan: DefencesPlan;
  seed: number;
  first: boolean;
  file: string;
}

/**
 * The matrix with its seeds spread over `jobs` worker processes (each its own wasm instance, its own core), pooled
 * here: the same numbers as runPlan (each seed is computed alone either way). `onSeed` says when a seed ends.
 */
export async function runPlanInWorkers(
  plan: DefencesPlan,
  jobs: number,
  backend: BackendFlags,
  onSeed?: (seed: number, wallS: number) => void,
): Promise<DefenceMatrix> {
  const dir = mkdtempSync(path.join(tmpdir(), 'unclamp-defences-'));
  try {
    const started = performance.now();
    // The first seed carries the curves and checks: the longest, so it starts first.
    const queue: SeedJob[] = plan.seeds.map((seed, i) => ({ plan, seed, first: i === 0, file: path.join(dir, `seed-${seed}.json`) }));
    const args = ['defences', '--worker', '--backend', backend.backend, '--threads', String(backend.threads ?? 1)];
    await runPool(queue.slice(), jobs, () => startWorker<SeedJob>(args, (j) => `seed ${j.seed}`), {
      onEnd: (j, wallS) => onSeed?.(j.seed, wallS),
    });
    const parts = queue.map((j) => JSON.parse(readFileSync(j.file, 'utf8')) as MatrixSeedPart);
    return poolMatrix(planSpec(plan), parts, (performance.now() - started) / 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The worker's side of runPlanInWorkers. */
async function serveSeeds(flags: DefencesFlags): Promise<void> {
  await startBackend(flags, { smallModel: true });
  await serveJobs<SeedJob>(async (job) => {
    const part = await matrixSeed(planSpec(job.plan), job.seed, job.first);
    writeOutput(job.file, JSON.stringify(part));
  });
}

/** The matrix as the terminal shows it: a recovery table per mode, then cost and checks, the budget curve, notes. */
export function matrixText(m: DefenceMatrix): string {
  const out: string[] = [`defence matrix: ${matrixSettings(m)}`, ''];
  for (const mode of m.modes) {
    const t = recoveryTable(m, mode);
    out.push(`recovery in ${mode} mode (valid flips recovered, pooled over seeds; 95% Wilson interval)`, textTable(t.head, t.rows));
  }
  const cost = costTable(m);
  out.push('cost on clean text, random δ of the budget’s norm, and the checks', textTable(cost.head, cost.rows));
  const curve = budgetTable(m);
  out.push(`adaptive attacker against budget (seed ${m.seeds[0]}, ${m.curveMode} mode)`, textTable(curve.head, curve.rows));
  const lines: string[] = [];
  for (const d of m.defences) {
    for (const f of failedChecks(m, d)) lines.push(`! ${d.defence}: ${f.sentence}.`);
    const det = detectorSentence(d);
    if (det) lines.push(`monitor ${det}.`);
    for (const n of siteNotes(d)) lines.push(`${d.defence}: ${n}`);
  }
  if (lines.length) out.push(lines.join('\n'), '');
  out.push(`${m.durationS.toFixed(1)} s`);
  return `${out.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('defences')
    .description(
      "Compare defences on a built-in scenario: each against the paper's attacker and an adaptive one, per projection mode, over seeds, with its cost, a random-δ baseline, a budget curve and the checks (docs/defences.md).",
    )
    .option('--scenario <id>', BUILTIN_SCENARIO_IDS.join(' | '))
    .option('--seeds <n|list>', `a count (seeds 0..n−1, 1..${MAX_SEEDS}) or a list such as 0,3,7 or 2-4`, String(DEFAULT_SEED_COUNT))
    .option('--modes <list>', `projection modes, of ${PROJECTION_MODES.join(', ')}`, PROJECTION_MODES.join(','))
    .option(
      '--defences <list>',
      `defences, one per comma-separated entry; an entry combines ids with + (e.g. no-error-term+detect). Ids: ${DEFENCE_IDS.join(', ')}`,
      DEFENCE_IDS.join(','),
    )
    .option('--budgets <list>', "the budget curve's multiples of the scenario's budget", DEFAULT_BUDGET_MULTIPLES.join(','))
    .option(
      '--lambda-detect <x>',
      "the adaptive attacker's weight on the monitor's excess score",
      number('--lambda-detect'),
      DEFAULT_LAMBDA_DETECT,
    )
    .addOption(clipPercentileOption())
    .addOption(detectFprOption())
    .option('--steps <n>', "optimiser steps of every run (default: the scenario's)", integer('--steps'))
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--json <out>', 'write the matrix as JSON')
    .option('--jobs <n>', 'seeds at once, in worker processes (wasm uses one core each); 1 runs here', integer('--jobs'), 2)
    .option('--worker', '(internal) run the seeds the parent process sends')
    .option('--quiet', 'no progress bar')
    .action(async (flags: DefencesFlags) => defencesCommand(flags));
}

async function defencesCommand(flags: DefencesFlags): Promise<void> {
  if (flags.worker) return serveSeeds(flags);
  const plan = planDefences(flags);
  for (const n of plan.notes) process.stderr.write(`unclamp: ${n}\n`);
  const jobs = Math.min(flags.jobs, plan.seeds.length);
  let matrix: DefenceMatrix;
  let backend: string;
  if (jobs > 1) {
    // Each worker starts its own backend; the threads are shared out between them.
    backend = flags.backend;
    const threads = Math.max(1, Math.floor((flags.threads ?? defaultWasmThreads({ smallModel: true })) / jobs));
    const bar = flags.quiet
      ? null
      : progressBar(plan.seeds.length, `${plan.scenario} defences (${backend}, ${jobs} workers)`, process.stderr, 'seeds');
    let done = 0;
    matrix = await runPlanInWorkers(plan, jobs, { ...flags, threads }, (seed) => bar?.update(++done, `seed ${seed} done`));
    bar?.done();
  } else {
    backend = (await startBackend(flags, { smallModel: true })).backend;
    const work = matrixWork(plan);
    const bar = flags.quiet ? null : progressBar(work.messages, `${plan.scenario} defences (${backend})`, process.stderr, 'tasks');
    let done = 0;
    matrix = await runPlan(plan, (what) => bar?.update(Math.min(++done, work.messages - 1), what));
    bar?.update(work.messages);
    bar?.done();
  }
  process.stdout.write(matrixText(matrix));
  if (flags.json) writeOutput(flags.json, `${JSON.stringify({ ...matrix, backend })}\n`);
}
