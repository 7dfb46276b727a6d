// `unclamp report --all`: every scenario on the built-in model over several seeds — modes none / encoder /
// jacobian and a random-feature control, a budget sweep over κ with Adam and projected gradient, the TopK
// extension and the recovery-path replay across the quality ladder — written to docs/results.md (pooled, with
// intervals, beside the paper's numbers) and docs/results.json (per seed, per sample). Each (scenario, seed,
// part) runs in a child process, several at once (wasm uses one core each), longest first. Deterministic:
// regenerating gives the same figures.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { initNodeBackend, type NodeBackend } from '../engine/node-backend.ts';
import { InputError } from '../core/errors.ts';
import { readModelIndex } from '../scenarios/builtin/assets.ts';
import { BUILTIN_SCENARIO_IDS, SCENARIOS, type BuiltinScenarioId } from '../scenarios/catalog.ts';
import { readPublic, writeOutput } from './fs.ts';
import { integer, oneOf } from './parse.ts';
import { collectScenario, mergeParts, PARTS, type Part, type ScenarioData, type ScenarioPartData } from './report-runs.ts';
import { reportDocument } from './report-markdown.ts';

interface ReportFlags {
  scenario?: BuiltinScenarioId;
  out: string;
  seeds: number;
  /** (internal) with dataOut: just this seed. */
  seed?: number;
  /** (internal) with dataOut: just this part. */
  part?: Part;
  jobs: number;
  render?: boolean;
  dataOut?: string;
  backend: NodeBackend;
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

/** Run one part of one scenario at one seed in a child process (its own wasm instance, its own core). */
function child(u: Unit, flags: ReportFlags, file: string): Promise<void> {
  const bin = path.resolve(import.meta.dirname, '../../bin/unclamp.js');
  const unit = ['--scenario', u.id, '--seed', String(u.seed), '--part', u.part];
  const args = [bin, 'report', ...unit, '--data-out', file, '--backend', flags.backend];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('error', reject);
    p.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`report for ${u.id} seed ${u.seed} (${u.part}) exited with status ${code}`)),
    );
  });
}

/**
 * Seconds one seed of each part takes on the 2-core development machine. Only the order matters: the longest go
 * first, so the last to finish are short and both cores stay busy to the end.
 */
const COST: Record<BuiltinScenarioId, Record<Part, number>> = {
  unlearning: { defence: 41, ladder: 18 },
  ioi: { defence: 20, ladder: 7 },
  refusal: { defence: 18, ladder: 3 },
  tpp: { defence: 15, ladder: 7 },
};

async function runAll(ids: readonly BuiltinScenarioId[], seeds: number[], flags: ReportFlags): Promise<ScenarioData[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'unclamp-report-'));
  try {
    // A scenario whose data does not depend on the seed would repeat one run: one seed, intervals over samples.
    const seedsOf = (id: BuiltinScenarioId) => (SCENARIOS[id].fixedData ? seeds.slice(0, 1) : seeds);
    const unitsOf = (id: BuiltinScenarioId) => seedsOf(id).flatMap((seed) => PARTS.map((part) => ({ id, seed, part })));
    const file = (u: Unit) => path.join(dir, `${u.id}-${u.seed}-${u.part}.json`);
    const queue = ids.flatMap(unitsOf).sort((a, b) => COST[b.id][b.part] - COST[a.id][a.part]);
    const worker = async () => {
      for (let u = queue.shift(); u; u = queue.shift()) {
        log(`${u.id} seed ${u.seed} (${u.part})…`);
        await child(u, flags, file(u));
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, flags.jobs) }, worker));
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
    .option('--jobs <n>', '(scenario, seed, part) runs at once, in child processes', integer('--jobs'), 2)
    .option('--render', 'only re-render the markdown from the existing .json')
    .option('--data-out <file>', '(internal) run one scenario and write its data here')
    .option('--backend <name>', 'wasm | cpu', oneOf('--backend', ['wasm', 'cpu'] as const), 'wasm')
    .action(async (flags: ReportFlags) => {
      if (!(flags.seeds >= 1 && flags.seeds <= 50)) throw new InputError('--seeds must be in 1..50');
      const seeds = Array.from({ length: flags.seeds }, (_, i) => i);
      if (flags.dataOut) {
        if (!flags.scenario) throw new InputError('--data-out needs --scenario');
        await initNodeBackend(flags.backend);
        const entry = (await readModelIndex(readPublic))[0];
        if (!entry) throw new InputError('no built-in model in public/models/index.json');
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
        const entry = (await readModelIndex(readPublic))[0];
        const scenarios = await runAll(flags.scenario ? [flags.scenario] : BUILTIN_SCENARIO_IDS, seeds, flags);
        data = { meta: { seeds, backend: flags.backend, model: entry.name, seconds: (Date.now() - started) / 1000 }, scenarios };
        writeOutput(json, `${JSON.stringify(data)}\n`);
      }
      writeOutput(flags.out, reportDocument(data.scenarios, data.meta));
      log(`wrote ${flags.out} and ${json}`);
    });
}
