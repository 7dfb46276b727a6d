// `unclamp report --all`: every scenario on the built-in model over several seeds — modes none / encoder /
// jacobian and a random-feature control, a budget sweep over κ with Adam and projected gradient, the TopK
// extension and the recovery-path replay across the quality ladder — written to docs/results.md (pooled, with
// intervals, beside the paper's numbers) and docs/results.json (per seed, per sample). Scenarios run in
// parallel child processes (wasm uses one core each). Deterministic: regenerating gives the same figures.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { initNodeBackend, type NodeBackend } from '../engine/node-backend.ts';
import { InputError } from '../core/errors.ts';
import { readModelIndex } from '../scenarios/builtin/assets.ts';
import { BUILTIN_SCENARIO_IDS, type BuiltinScenarioId } from '../scenarios/catalog.ts';
import { readPublic, writeOutput } from './fs.ts';
import { integer, oneOf } from './parse.ts';
import { collectScenario, type ScenarioData } from './report-runs.ts';
import { reportDocument } from './report-markdown.ts';

interface ReportFlags {
  scenario?: BuiltinScenarioId;
  out: string;
  seeds: number;
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

/** Run one scenario in a child process (its own wasm instance, its own core). */
function child(id: BuiltinScenarioId, flags: ReportFlags, file: string): Promise<void> {
  const args = [
    path.resolve(import.meta.dirname, '../../bin/unclamp.js'),
    'report',
    '--scenario',
    id,
    '--seeds',
    String(flags.seeds),
    '--data-out',
    file,
    '--backend',
    flags.backend,
  ];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`report for ${id} exited with status ${code}`))));
  });
}

async function runAll(ids: readonly BuiltinScenarioId[], flags: ReportFlags): Promise<ScenarioData[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'unclamp-report-'));
  try {
    const queue = [...ids];
    const worker = async () => {
      for (let id = queue.shift(); id; id = queue.shift()) {
        log(`${id}…`);
        await child(id, flags, path.join(dir, `${id}.json`));
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, flags.jobs) }, worker));
    return ids.map((id) => JSON.parse(readFileSync(path.join(dir, `${id}.json`), 'utf8')) as ScenarioData);
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
    .option('--jobs <n>', 'scenarios run at once, in child processes', integer('--jobs'), 2)
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
        writeOutput(flags.dataOut, JSON.stringify(await collectScenario(entry, flags.scenario, seeds, log)));
        return;
      }
      const json = dataPath(flags.out);
      let data: ReportData;
      if (flags.render) {
        data = JSON.parse(readFileSync(json, 'utf8')) as ReportData;
      } else {
        const started = Date.now();
        const entry = (await readModelIndex(readPublic))[0];
        const scenarios = await runAll(flags.scenario ? [flags.scenario] : BUILTIN_SCENARIO_IDS, flags);
        data = { meta: { seeds, backend: flags.backend, model: entry.name, seconds: (Date.now() - started) / 1000 }, scenarios };
        writeOutput(json, `${JSON.stringify(data)}\n`);
      }
      writeOutput(flags.out, reportDocument(data.scenarios, data.meta));
      log(`wrote ${flags.out} and ${json}`);
    });
}
