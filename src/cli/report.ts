// `unclamp report --all`: every scenario on the built-in model over several seeds — modes none / encoder /
// jacobian and a random-feature control, a budget sweep over κ with Adam and projected gradient, the TopK
// extension and the recovery-path replay across the quality ladder — written to docs/results.md (pooled, with
// intervals, beside the paper's numbers) and docs/results.json (per seed, per sample). Each (scenario, seed,
// part) is one unit of work; worker processes (wasm uses one core each) take them longest first. With every scenario
// (--all), the defence matrix on IOI over the same seeds (scenarios/defence-matrix.ts) is one more unit, written under
// `defences` and rendered as results.md's Defences section. Deterministic: regenerating gives the same figures.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { defaultWasmThreads } from '../engine/node-backend.ts';
import { type BackendFlags, backendOption, startBackend, threadsOption } from './backend.ts';
import { InputError } from '../core/errors.ts';
import { readModelIndex, type ModelIndexEntry } from '../scenarios/builtin/assets.ts';
import { BUILTIN_SCENARIO_IDS, SCENARIOS, type BuiltinScenarioId } from '../scenarios/catalog.ts';
import { readPublic, writeOutput } from './fs.ts';
import { integer, oneOf } from './parse.ts';
import { collectScenario, mergeParts, PARTS, type Part, type ScenarioData, type ScenarioPartData } from './report-runs.ts';
import { reportDocument } from './report-markdown.ts';
import { DEFENCE_IDS, parseDefence } from '../core/defence-kinds.ts';
import { type DefenceMatrix, type MatrixSeedPart, type MatrixSpec, matrixSeed, poolMatrix } from '../scenarios/defence-matrix.ts';
import { runPool, serveJobs, startWorker } from './worker-pool.ts';
import { loadScenario } from '../scenarios/load.ts';

interface ReportFlags extends BackendFlags {
  scenario?: BuiltinScenarioId;
  out: string;
  seeds: number;
  /** (internal) with dataOut: just this seed. */
  seed?: number;
  /** (internal) with dataOut: just this part. */
  part?: Part;
  /** (internal) run the units the parent process sends. */
  worker?: boolean;
  jobs: number;
  render?: boolean;
  dataOut?: string;
}

interface ReportData {
  meta: { seeds: number[]; backend: string; model: string; seconds: number };
  scenarios: ScenarioData[];
  /** The defence matrix (--all only; an older results.json has none). */
  defences?: DefenceMatrix;
}

/** The scenario the report's defence matrix runs on: every defence, every mode, the report's seeds. */
const DEFENCES_SCENARIO: BuiltinScenarioId = 'ioi';

const log = (s: string) => process.stderr.write(`${s}\n`);
const dataPath = (out: string) => `${out.replace(/\.md$/, '')}.json`;

/** One (scenario, seed, part), or one seed of the defence matrix (the parent pools the seeds). */
type Unit = { id: BuiltinScenarioId; seed: number; part: Part } | { matrix: BuiltinScenarioId; seed: number; first: boolean };

const unitName = (u: Unit) => ('matrix' in u ? `${u.matrix} defence matrix, seed ${u.seed}` : `${u.id} seed ${u.seed} (${u.part})`);

/** The defence matrix of the report: every single defence on the built-in model, the scenario's settings. */
function reportMatrixSpec(entry: ModelIndexEntry, id: BuiltinScenarioId, seeds: number[]): MatrixSpec {
  return {
    scenario: id,
    load: (seed) => loadScenario({ kind: 'builtin', scenario: id, model: entry.name, seed }, readPublic),
    defences: DEFENCE_IDS.map((d) => parseDefence(d)),
    seeds,
  };
}

/** What the parent asks a worker to run, and where to write it. */
interface Job {
  unit: Unit;
  file: string;
  /** The report's seeds (the matrix's spec names them). */
  seeds: number[];
}

/** The worker's side: run each unit the parent sends and write its data. */
async function serveUnits(flags: ReportFlags): Promise<void> {
  await startBackend(flags, { smallModel: true });
  const entry = await builtinModel();
  await serveJobs<Job>(async ({ unit: u, file, seeds }) => {
    const data =
      'matrix' in u
        ? await matrixSeed(reportMatrixSpec(entry, u.matrix, seeds), u.seed, u.first)
        : await collectScenario(entry, u.id, [u.seed], log, [u.part]);
    writeOutput(file, JSON.stringify(data));
  });
}

async function builtinModel(): Promise<ModelIndexEntry> {
  const entry = (await readModelIndex(readPublic))[0];
  if (!entry) throw new InputError('no built-in model in public/models/index.json');
  return entry;
}

/**
 * CPU seconds one seed of each part took in `report --all` on the 2-core development machine (the log prints
 * them). Only the order matters: the longest go first, so the last to finish are short and both cores stay busy.
 */
const COST: Record<BuiltinScenarioId, Record<Part, number>> = {
  unlearning: { defence: 39, ladder: 16 },
  ioi: { defence: 15, ladder: 7 },
  refusal: { defence: 15, ladder: 3 },
  tpp: { defence: 13, ladder: 6 },
};
/**
 * The defence matrix's CPU seconds per seed, estimated: 21 optimiser runs of IOI per seed (the paper's attacker and six
 * adaptive ones in three modes) and 35 more on the first (each defence's budget curve and twice the steps), about 2.4 s
 * each (`npm run bench:defences`). The longest units: they start first, the other worker(s) take the rest meanwhile.
 */
const MATRIX_COST = { seed: 50, first: 85 };
const costOf = (u: Unit) => ('matrix' in u ? MATRIX_COST.seed + (u.first ? MATRIX_COST.first : 0) : COST[u.id][u.part]);

async function runAll(
  ids: readonly BuiltinScenarioId[],
  seeds: number[],
  flags: ReportFlags,
  matrix: boolean,
): Promise<{ scenarios: ScenarioData[]; defences?: DefenceMatrix }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'unclamp-report-'));
  try {
    // A scenario whose data does not depend on the seed would repeat one run: one seed, intervals over samples.
    const seedsOf = (id: BuiltinScenarioId) => (SCENARIOS[id].fixedData ? seeds.slice(0, 1) : seeds);
    const unitsOf = (id: BuiltinScenarioId) => seedsOf(id).flatMap((seed) => PARTS.map((part) => ({ id, seed, part })));
    const file = (u: Unit) => path.join(dir, 'matrix' in u ? `${u.matrix}-defences-${u.seed}.json` : `${u.id}-${u.seed}-${u.part}.json`);
    const matrixUnits: Unit[] = matrix ? seeds.map((seed, i) => ({ matrix: DEFENCES_SCENARIO, seed, first: i === 0 })) : [];
    const queue: Unit[] = [...ids.flatMap(unitsOf), ...matrixUnits].sort((a, b) => costOf(b) - costOf(a));
    const jobs = Math.max(1, Math.min(flags.jobs, queue.length));
    // The workers share the threads: each runs its units on its share (small products gain little from more).
    const threads = Math.max(1, Math.floor((flags.threads ?? defaultWasmThreads({ smallModel: true })) / jobs));
    const args = ['report', '--worker', '--backend', flags.backend, '--threads', String(threads)];
    let matrixSeconds = 0;
    await runPool(
      queue.map((unit) => ({ unit, file: file(unit), seeds })),
      jobs,
      () => startWorker<Job>(args, (j) => unitName(j.unit)),
      {
        onStart: (j) => log(`${unitName(j.unit)}…`),
        onEnd: (j, wallS, cpuS) => {
          if ('matrix' in j.unit) matrixSeconds += wallS;
          log(`${unitName(j.unit)} took ${Math.round(wallS)} s (${Math.round(cpuS)} s of CPU)`);
        },
      },
    );
    const read = (u: Unit) => JSON.parse(readFileSync(file(u), 'utf8'));
    const scenarios = ids.map((id) => mergeParts(unitsOf(id).map((u) => read(u) as ScenarioPartData)));
    if (!matrix) return { scenarios };
    const parts = matrixUnits.map((u) => read(u) as MatrixSeedPart);
    const entry = await builtinModel();
    // The matrix's duration: its seeds' wall times added up (one core's worth; they ran beside the other units).
    return { scenarios, defences: poolMatrix(reportMatrixSpec(entry, DEFENCES_SCENARIO, seeds), parts, matrixSeconds) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function register(program: Command): void {
  program
    .command('report')
    .description(
      "Run every scenario over several seeds and write docs/results.md (and .json) beside the paper's numbers, with the defence matrix on IOI.",
    )
    .option('--all', 'all four scenarios and the defence matrix (the default)')
    .option('--scenario <id>', 'just one scenario', oneOf('--scenario', BUILTIN_SCENARIO_IDS))
    .option('--out <file>', 'markdown output (the per-seed data goes beside it as .json)', 'docs/results.md')
    .option('--seeds <n>', 'seeds 0..n−1 (data and optimiser)', integer('--seeds'), 5)
    .option('--seed <s>', '(internal) with --data-out: just this seed', integer('--seed'))
    .option('--part <name>', '(internal) with --data-out: just this part', oneOf('--part', PARTS))
    .option('--jobs <n>', '(scenario, seed, part) units at once, in worker processes', integer('--jobs'), 2)
    .option('--render', 'only re-render the markdown from the existing .json')
    .option('--data-out <file>', '(internal) run one scenario and write its data here')
    .option('--worker', '(internal) run the (scenario, seed, part) units the parent process sends')
    .addOption(backendOption())
    .addOption(threadsOption())
    .action(async (flags: ReportFlags) => {
      if (!(flags.seeds >= 1 && flags.seeds <= 50)) throw new InputError('--seeds must be in 1..50');
      const seeds = Array.from({ length: flags.seeds }, (_, i) => i);
      if (flags.worker) {
        await serveUnits(flags);
        return;
      }
      if (flags.dataOut) {
        if (!flags.scenario) throw new InputError('--data-out needs --scenario');
        await startBackend(flags, { smallModel: true });
        const entry = await builtinModel();
        const data = await collectScenario(
          entry,
          flags.scenario,
          flags.seed !== undefined ? [flags.seed] : seeds,
          log,
          flags.part ? [flags.part] : PARTS,
        );
        writeOutput(flags.dataOut, JSON.stringify(data));
        return;
      }
      const json = dataPath(flags.out);
      let data: ReportData;
      if (flags.render) {
        data = JSON.parse(readFileSync(json, 'utf8')) as ReportData;
      } else {
        const started = Date.now();
        const entry = await builtinModel();
        const { scenarios, defences } = await runAll(
          flags.scenario ? [flags.scenario] : BUILTIN_SCENARIO_IDS,
          seeds,
          flags,
          !flags.scenario,
        );
        data = {
          meta: { seeds, backend: flags.backend, model: entry.name, seconds: (Date.now() - started) / 1000 },
          scenarios,
          ...(defences && { defences }),
        };
        writeOutput(json, `${JSON.stringify(data)}\n`);
      }
      writeOutput(flags.out, reportDocument(data.scenarios, data.meta, data.defences));
      log(`wrote ${flags.out} and ${json}`);
    });
}
