// `unclamp report --all`: every scenario on the built-in model over several seeds — modes none / encoder /
// jacobian and a random-feature control, a budget sweep over κ with Adam and projected gradient, the TopK
// extension and the recovery-path replay across the quality ladder — written to docs/results.md (pooled, with
// intervals, beside the paper's numbers) and docs/results.json (per seed, per sample). Each (scenario, seed,
// part) is one unit of work; worker processes (wasm uses one core each) take them longest first. Deterministic:
// regenerating gives the same figures.
import { fork } from 'node:child_process';
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
}

const log = (s: string) => process.stderr.write(`${s}\n`);
const dataPath = (out: string) => `${out.replace(/\.md$/, '')}.json`;

interface Unit {
  id: BuiltinScenarioId;
  seed: number;
  part: Part;
}

/** What the parent asks a worker to run, and where to write it. */
interface Job {
  unit: Unit;
  file: string;
}
/** cpuSeconds: the unit's own CPU time, which other work on the machine inflates less than its wall time. */
type Reply = { ready: true } | { ok: true; cpuSeconds: number } | { ok: false; error: string };

/**
 * A child process with its own wasm instance (its own core) that runs the units it is sent one after another:
 * one start-up (Node, tsx, TF.js, the model index) for all of them rather than one per unit.
 */
function startWorker(flags: ReportFlags, threads: number): { run: (job: Job) => Promise<number>; close: () => void } {
  const bin = path.resolve(import.meta.dirname, '../../bin/unclamp.js');
  const args = ['report', '--worker', '--backend', flags.backend, '--threads', String(threads)];
  const p = fork(bin, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // A message sent before the child listens would be lost: jobs wait for its first reply.
  let ready: () => void = () => {};
  const started = new Promise<void>((resolve, reject) => {
    ready = resolve;
    p.once('exit', (code, signal) => reject(new Error(`report worker exited (${signal ?? `status ${code}`}) before it started`)));
  });
  started.catch(() => {}); // a worker closed before its first job is no error; run() still sees the rejection
  let pending: { job: Job; resolve: (cpuSeconds: number) => void; reject: (e: Error) => void } | null = null;
  const fail = (why: string) => {
    const u = pending?.job.unit;
    pending?.reject(new Error(`report worker ${why} while running ${u?.id} seed ${u?.seed} (${u?.part})`));
    pending = null;
  };
  p.on('message', (reply: Reply) => {
    if ('ready' in reply) return ready();
    const job = pending;
    pending = null;
    if (reply.ok) job?.resolve(reply.cpuSeconds);
    else job?.reject(new Error(reply.error));
  });
  p.on('error', (e) => fail(`failed (${e.message})`));
  p.on('exit', (code, signal) => fail(`exited (${signal ?? `status ${code}`})`));
  return {
    run: async (job) => {
      await started;
      return new Promise((resolve, reject) => {
        pending = { job, resolve, reject };
        p.send(job);
      });
    },
    close: () => p.connected && p.disconnect(),
  };
}

/** The worker's side: run each unit the parent sends, write its data, reply; end when the parent disconnects. */
async function serveUnits(flags: ReportFlags): Promise<void> {
  await startBackend(flags, { smallModel: true });
  const entry = await builtinModel();
  // The parent disconnects once its queue is empty, possibly while this worker is still starting.
  const send = (r: Reply) => process.connected && process.send?.(r);
  let queue = Promise.resolve();
  process.on('message', (job: Job) => {
    queue = queue.then(async () => {
      try {
        const { id, seed, part } = job.unit;
        const before = process.cpuUsage();
        writeOutput(job.file, JSON.stringify(await collectScenario(entry, id, [seed], log, [part])));
        const used = process.cpuUsage(before);
        send({ ok: true, cpuSeconds: (used.user + used.system) / 1e6 });
      } catch (e) {
        send({ ok: false, error: (e as Error)?.stack ?? String(e) });
      }
    });
  });
  const done = new Promise<void>((resolve) => process.once('disconnect', resolve));
  send({ ready: true });
  await done;
  await queue;
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

async function runAll(ids: readonly BuiltinScenarioId[], seeds: number[], flags: ReportFlags): Promise<ScenarioData[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'unclamp-report-'));
  try {
    // A scenario whose data does not depend on the seed would repeat one run: one seed, intervals over samples.
    const seedsOf = (id: BuiltinScenarioId) => (SCENARIOS[id].fixedData ? seeds.slice(0, 1) : seeds);
    const unitsOf = (id: BuiltinScenarioId) => seedsOf(id).flatMap((seed) => PARTS.map((part) => ({ id, seed, part })));
    const file = (u: Unit) => path.join(dir, `${u.id}-${u.seed}-${u.part}.json`);
    const queue = ids.flatMap(unitsOf).sort((a, b) => COST[b.id][b.part] - COST[a.id][a.part]);
    const jobs = Math.max(1, Math.min(flags.jobs, queue.length));
    // The workers share the threads: each runs its units on its share (small products gain little from more).
    const threads = Math.max(1, Math.floor((flags.threads ?? defaultWasmThreads({ smallModel: true })) / jobs));
    const worker = async () => {
      const w = startWorker(flags, threads);
      try {
        for (let u = queue.shift(); u; u = queue.shift()) {
          const started = Date.now();
          log(`${u.id} seed ${u.seed} (${u.part})…`);
          const cpu = await w.run({ unit: u, file: file(u) }).catch((e) => {
            queue.length = 0; // the report fails: start nothing more
            throw e;
          });
          log(`${u.id} seed ${u.seed} (${u.part}) took ${Math.round((Date.now() - started) / 1000)} s (${Math.round(cpu)} s of CPU)`);
        }
      } finally {
        w.close();
      }
    };
    // Every worker ends its unit before the folder it writes into is removed, a failed report included.
    const ends = await Promise.allSettled(Array.from({ length: jobs }, worker));
    for (const end of ends) if (end.status === 'rejected') throw end.reason;
    return ids.map((id) => mergeParts(unitsOf(id).map((u) => JSON.parse(readFileSync(file(u), 'utf8')) as ScenarioPartData)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function register(program: Command): void {
  program
    .command('report')
    .description("Run every scenario over several seeds and write docs/results.md (and .json) beside the paper's numbers.")
    .option('--all', 'all four scenarios (the default)')
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
        const scenarios = await runAll(flags.scenario ? [flags.scenario] : BUILTIN_SCENARIO_IDS, seeds, flags);
        data = { meta: { seeds, backend: flags.backend, model: entry.name, seconds: (Date.now() - started) / 1000 }, scenarios };
        writeOutput(json, `${JSON.stringify(data)}\n`);
      }
      writeOutput(flags.out, reportDocument(data.scenarios, data.meta));
      log(`wrote ${flags.out} and ${json}`);
    });
}
