// `unclamp report --all`: every scenario on the built-in model — modes none / encoder / jacobian, the
// recovery-path replay for each SAE of the quality ladder, a budget sweep and a defended-set-size sweep —
// written to docs/results.md beside the paper's reported numbers. Deterministic: regenerating it gives the
// same figures. Every run goes through the one loader and run (scenarios/load.ts, scenarios/run.ts).
import type { Command } from 'commander';
import { initNodeBackend, type NodeBackend } from '../engine/node-backend.ts';
import { describeClamp } from '../core/clamp.ts';
import { InputError } from '../core/errors.ts';
import { readModelIndex, type ModelIndexEntry } from '../scenarios/builtin/assets.ts';
import { BUILTIN_SCENARIO_IDS, effectiveRun, type BuiltinScenarioId } from '../scenarios/catalog.ts';
import { loadScenario, topFeatures, type LoadedScenario } from '../scenarios/load.ts';
import { runScenario } from '../scenarios/run.ts';
import { refusalStage2 } from '../scenarios/builtin/refusal.ts';
import { readPublic, writeOutput } from './fs.ts';
import { integer, oneOf } from './parse.ts';
import { MODES, readPaperNumbers, reportDocument, scenarioSection, type ScenarioReport } from './report-markdown.ts';

const BUDGETS = [1, 2, 5, 10, 20];
const KS = [4, 8, 16, 32, 64];

type Log = (s: string) => void;

function settingsText(id: BuiltinScenarioId): string {
  const r = effectiveRun(id);
  const parts = [`mode ${r.mode}`, `delta ${r.delta}`, `steps ${r.steps}`, `lr ${r.lr}`, `budget ${r.budget}`];
  if (r.reproject) parts.push('δ re-projected');
  if (r.checkpointMaxRelDrift !== null) parts.push(`drift cap ${r.checkpointMaxRelDrift}`);
  return parts.join(', ');
}

async function scenarioReport(entry: ModelIndexEntry, id: BuiltinScenarioId, seed: number, log: Log): Promise<ScenarioReport> {
  const load = (sae?: string) => loadScenario({ kind: 'builtin', scenario: id, model: entry.name, sae, seed }, readPublic);
  const sc: LoadedScenario = await load();
  try {
    const modes = {} as ScenarioReport['modes'];
    let encoder: Awaited<ReturnType<typeof runScenario>> | null = null;
    for (const mode of MODES) {
      const out = await runScenario(sc, { settings: { mode, seed } });
      modes[mode] = out.result.aggregate;
      if (mode === 'encoder') encoder = out;
      log(`  ${id} ${mode}: ${out.result.aggregate.recovered}/${out.result.aggregate.validFlips}`);
    }
    const stage2 =
      id === 'refusal' && encoder!.result.aggregate.validFlips > 0
        ? await refusalStage2(
            sc,
            sc.defaults.features,
            sc.defaults.clamp,
            encoder!.result.samples.map((s) => s.valid),
            encoder!.delta,
            encoder!.deltaShape,
            { seed },
          )
        : undefined;
    const replay = [];
    for (const rung of entry.saes.filter((s) => s.id.startsWith('ladder-')).sort((a, b) => a.explainedVariance - b.explainedVariance)) {
      const lsc = await load(rung.id);
      try {
        const out = await runScenario(lsc, { settings: { mode: 'encoder', seed }, replayTopK: 8 });
        replay.push({ sae: rung.name, ev: rung.explainedVariance, rows: out.replay! });
      } finally {
        lsc.dispose();
      }
      log(`  ${id} replay on ${rung.name}`);
    }
    const budgets = [];
    for (const budget of BUDGETS)
      budgets.push({ budget, agg: (await runScenario(sc, { settings: { mode: 'encoder', seed, budget } })).result.aggregate });
    const ks = [];
    for (const k of KS.filter((k) => k <= sc.sae.dSae / 2)) {
      ks.push({ k, agg: (await runScenario(sc, { features: topFeatures(sc, k), settings: { mode: 'encoder', seed } })).result.aggregate });
    }
    log(`  ${id} sweeps done`);
    return {
      id,
      title: sc.title,
      behaviour: sc.behaviourText,
      featureRule: `top-${sc.defaults.features.length} ${sc.featureRule}`,
      clamp: describeClamp(sc.defaults.clamp),
      settings: settingsText(id),
      modes,
      extras: encoder!.extras,
      replay,
      budgets,
      ks,
      stage2,
      dModel: sc.lm!.model.config.dModel,
    };
  } finally {
    sc.dispose();
  }
}

export function register(program: Command): void {
  program
    .command('report')
    .description("Run every scenario and write docs/results.md beside the paper's numbers.")
    .option('--all', 'all four scenarios (the default)')
    .option('--scenario <id>', 'just one scenario', oneOf('--scenario', BUILTIN_SCENARIO_IDS))
    .option('--out <file>', 'markdown output', 'docs/results.md')
    .option('--seed <s>', 'seed', integer('--seed'), 0)
    .option('--backend <name>', 'wasm | cpu', oneOf('--backend', ['wasm', 'cpu'] as const), 'wasm')
    .action(async (flags: { scenario?: BuiltinScenarioId; out: string; seed: number; backend: NodeBackend }) => {
      const log: Log = (s) => process.stderr.write(`${s}\n`);
      const { backend } = await initNodeBackend(flags.backend);
      const entry = (await readModelIndex(readPublic))[0];
      if (!entry) throw new InputError('no built-in model in public/models/index.json');
      const started = Date.now();
      const reports: ScenarioReport[] = [];
      for (const id of flags.scenario ? [flags.scenario] : BUILTIN_SCENARIO_IDS) {
        log(`${id}…`);
        reports.push(await scenarioReport(entry, id, flags.seed, log));
      }
      const paper = readPaperNumbers();
      const defaultSae = entry.saes.find((s) => s.id === entry.defaultSae)?.name ?? entry.defaultSae;
      const md = reportDocument(
        reports.map((r) => scenarioSection(r, paper)),
        { seed: flags.seed, backend, model: entry.name, sae: defaultSae },
      );
      writeOutput(flags.out, md);
      log(`wrote ${flags.out} in ${Math.round((Date.now() - started) / 1000)} s`);
    });
}
