// `unclamp report --all`: every scenario on the built-in model — modes none / encoder / jacobian, the
// recovery-path replay for each SAE of the quality ladder, a budget sweep and a defended-set-size sweep —
// written to docs/results.md beside the paper's reported numbers (src/scenarios/reference/), with a
// paragraph per scenario on where the small model agrees with the paper and where it does not.
// Deterministic: regenerating it gives the same figures.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { initNodeBackend, type NodeBackend } from '../engine/node-backend.ts';
import type { Aggregate } from '../core/metrics.ts';
import type { ProjectionMode } from '../core/recovery.ts';
import type { ReplayReport } from '../core/analyses.ts';
import { readModelIndex } from '../scenarios/builtin/assets.ts';
import { SCENARIO_IDS, type ScenarioId } from '../scenarios/builtin/index.ts';
import { openWorkbench, runScenario, type Workbench } from '../scenarios/run.ts';
import { refusalStage2, type Stage2Result } from '../scenarios/builtin/refusal.ts';
import { InputError } from './errors.ts';
import { writeOutput } from './fs.ts';
import { integer, oneOf } from './parse.ts';
import { readPublicModels } from './run.ts';
import { formatRate } from './table.ts';

const REFERENCE = path.resolve(import.meta.dirname, '../scenarios/reference');
const MODES: ProjectionMode[] = ['none', 'encoder', 'jacobian'];
const BUDGETS = [1, 2, 5, 10, 20];
const KS = [4, 8, 16, 32, 64];

interface ScenarioReport {
  id: ScenarioId;
  title: string;
  behaviour: string;
  featureRule: string;
  clamp: string;
  modes: Record<string, Aggregate>;
  extras: Record<string, number | string | null>;
  replay: { sae: string; ev: number; rows: ReplayReport[] }[];
  budgets: { budget: number; agg: Aggregate }[];
  ks: { k: number; agg: Aggregate }[];
  stage2?: Stage2Result;
  options: Record<string, unknown>;
  dModel: number;
}

const f3 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : Math.abs(v) >= 1e4 ? v.toExponential(2) : v.toFixed(3));

async function scenarioReport(wb: Workbench, ladder: Workbench[], id: ScenarioId, seed: number, log: (s: string) => void): Promise<ScenarioReport> {
  const modes: Record<string, Aggregate> = {};
  let extras: Record<string, number | string | null> = {};
  let first: Awaited<ReturnType<typeof runScenario>> | null = null;
  for (const mode of MODES) {
    const out = await runScenario(wb, { scenario: id, params: { seed }, options: { mode, seed } });
    modes[mode] = out.result.aggregate;
    if (mode === 'encoder') {
      extras = out.extras;
      first = out;
    }
    log(`  ${id} ${mode}: ${out.result.aggregate.recovered}/${out.result.aggregate.validFlips}`);
  }
  const sc = first!.scenario;
  let stage2: Stage2Result | undefined;
  if (id === 'refusal' && first!.result.aggregate.validFlips > 0) {
    const ctx = { model: wb.builtin.model, tokenizer: wb.builtin.tokenizer, sae: wb.sae.loaded.sae, hook: sc.hook };
    stage2 = await refusalStage2(ctx, sc, sc.features, sc.clamp, first!.result.samples.map((s) => s.valid), first!.delta, first!.deltaShape, { seed });
  }
  const replay = [];
  for (const lw of ladder) {
    const out = await runScenario(lw, { scenario: id, params: { seed }, options: { mode: 'encoder', seed }, replayTopK: 8 });
    replay.push({ sae: lw.sae.entry.name, ev: lw.sae.entry.explainedVariance, rows: out.replay! });
    log(`  ${id} replay on ${lw.sae.entry.name}`);
  }
  const budgets = [];
  for (const budget of BUDGETS) budgets.push({ budget, agg: (await runScenario(wb, { scenario: id, params: { seed }, options: { mode: 'encoder', seed, budget } })).result.aggregate });
  const ks = [];
  for (const k of KS.filter((k) => k <= wb.sae.entry.width / 2)) {
    ks.push({ k, agg: (await runScenario(wb, { scenario: id, params: { seed, k }, options: { mode: 'encoder', seed } })).result.aggregate });
  }
  log(`  ${id} sweeps done`);
  const clamp = sc.clamp.kind === 'multiply' ? `multiply by ${sc.clamp.factor}` : sc.clamp.onlyActive ? `set to ${sc.clamp.value} where active` : `set to ${sc.clamp.value}`;
  return { id, title: sc.title, behaviour: sc.behaviourText, featureRule: sc.featureRule, clamp, modes, extras, replay, budgets, ks, stage2, options: sc.options as Record<string, unknown>, dModel: wb.builtin.model.config.dModel };
}

function modesTable(r: ScenarioReport): string {
  const head = '| mode | valid flips | recovered | rate [95% CI] | rel drift | abs drift | decode drift | reactivation | ‖δ‖ | ‖δ‖/‖h_def‖ | ‖e‖ def → rec |\n|---|---|---|---|---|---|---|---|---|---|---|';
  const rows = MODES.map((m) => {
    const a = r.modes[m];
    return `| ${m} | ${a.validFlips} / ${a.samples} | ${a.recovered} | ${formatRate(a)} | ${f3(a.meanRelDrift)} | ${f3(a.meanAbsDrift)} | ${f3(a.meanDecodeDrift)} | ${f3(a.reactivation)} | ${f3(a.meanDeltaNorm)} | ${f3(a.meanRelDeltaNorm)} | ${f3(a.residualNorm.defended)} → ${f3(a.residualNorm.recovered)} |`;
  });
  return [head, ...rows].join('\n');
}

function replayTable(r: ScenarioReport): string {
  const parts = r.replay[0]?.rows.map((x) => x.part) ?? [];
  const head = `| SAE (explained variance) | ${parts.join(' | ')} | ‖δ_res‖/‖δ‖ |\n|---|${parts.map(() => '---').join('|')}|---|`;
  const rows = r.replay.map((x) => `| \`${x.sae}\` (${x.ev.toFixed(2)}) | ${x.rows.map((y) => `${y.recovered}/${y.validFlips}`).join(' | ')} | ${f3(x.rows.find((y) => y.part === 'residual')?.normShare)} |`);
  return [head, ...rows].join('\n');
}

function sweepTable(label: string, rows: { key: number; agg: Aggregate }[]): string {
  return [`| ${label} | valid flips | recovered | rate [95% CI] | abs drift | ‖δ‖/‖h_def‖ |`, '|---|---|---|---|---|---|', ...rows.map(({ key, agg: a }) => `| ${key} | ${a.validFlips} | ${a.recovered} | ${formatRate(a)} | ${f3(a.meanAbsDrift)} | ${f3(a.meanRelDeltaNorm)} |`)].join('\n');
}

function paper(): Record<string, unknown> {
  const j = (f: string) => JSON.parse(readFileSync(path.join(REFERENCE, f), 'utf8'));
  const csv = readFileSync(path.join(REFERENCE, 'neurips_main_table.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
  return { ioi: j('ioi_aggregate.json'), tpp: csv, unlearning: j('unlearning_posthoc_aggregate.json'), refusal: j('main_refusal_strict_valid_table.json'), attribution: j('refusal_recovery_path_attribution_summary.json') };
}

/** The paper's numbers for a scenario, as a small markdown table, and a sentence comparing ours. */
function paperSection(r: ScenarioReport, p: Record<string, any>): { table: string; paragraph: string } {
  const enc = r.modes.encoder, none = r.modes.none;
  const driftDrop = (none.meanAbsDrift ?? 0) > (enc.meanAbsDrift ?? 0);
  const residual = r.replay.map((x) => ({ ev: x.ev, res: x.rows.find((y) => y.part === 'residual')!, cl: x.rows.find((y) => y.part === 'clamped features')!, non: x.rows.find((y) => y.part === 'non-clamped features')! }));
  const flows = residual.map((x) => `EV ${x.ev.toFixed(2)}: residual-only ${x.res.recovered}/${x.res.validFlips}, non-clamped-only ${x.non.recovered}/${x.non.validFlips}, clamped-only ${x.cl.recovered}/${x.cl.validFlips}`).join('; ');
  // Which part of δ carries the recovery on each rung: the residual (error-term) part or the non-clamped features.
  const path = residual.map((x) => (x.res.validFlips === 0 ? `EV ${x.ev.toFixed(2)}: no valid flips` : `EV ${x.ev.toFixed(2)}: ${x.res.recovered >= x.non.recovered ? 'the residual (error-term) part' : 'the non-clamped features'}`));
  const withFlips = residual.filter((x) => x.res.validFlips > 0);
  const viaResidual = withFlips.filter((x) => x.res.recovered >= x.non.recovered).length;
  const pathText = withFlips.length === 0 ? '' : ` So the recovery flows mostly through ${path.join('; ')}. ${viaResidual === withFlips.length ? 'On every rung this agrees with the paper, where recovery flows through the error term.' : viaResidual === 0 ? 'On no rung does it flow through the error term as in the paper: with this model\'s small error terms the non-clamped features carry it, as the independent tiny-IOI run found for a near-perfect SAE.' : 'The paper\'s finding (through the error term) holds on some rungs only: where the SAE explains more, the non-clamped features take over, as the independent tiny-IOI run found for a near-perfect SAE.'} ${withFlips.every((x) => x.cl.recovered <= 0.25 * x.cl.validFlips) ? 'On every rung the clamped features alone recover little' : 'The clamped features alone recover'} (${withFlips.map((x) => `${x.cl.recovered}/${x.cl.validFlips}`).join(', ')}; the paper: 0/24 for refusal).`;
  const common = `Here the clamp flips ${enc.validFlips} of ${enc.samples} held-out samples; recovery is ${formatRate(none)} with no projection and ${formatRate(enc)} with the encoder projection, whose absolute defended-feature drift is ${f3(enc.meanAbsDrift)} against ${f3(none.meanAbsDrift)} without it (${driftDrop ? 'lower, as in the paper' : 'not lower, unlike the paper'}). Recovery-path replay across the quality ladder: ${flows}.${pathText}`;
  switch (r.id) {
    case 'ioi': {
      const m = p.ioi.aggregate_by_mode;
      return {
        table: `| paper (GPT-2 small, layer 4, 64 prompts) | valid flips | recovered | act drift (valid) | decode drift (valid) | reactivated (valid) |\n|---|---|---|---|---|---|\n${['none', 'encoder'].map((k) => `| ${k} | ${m[k].n_valid_flips} | ${m[k].n_recovered_success} | ${f3(m[k].mean_final_act_drift_l2_valid)} | ${f3(m[k].mean_final_decode_drift_l2_valid)} | ${f3(m[k].mean_reactivated_positive_fraction_within_eligible_valid)} |`).join('\n')}`,
        paragraph: `The paper recovers all 37 of its 37 valid flips in both modes, with the encoder projection cutting activation drift from 2.47 to 0.78 (Cui et al. 2026, IOI aggregate). ${common} The built-in model is far smaller (d_model ${r.dModel}) and its residual norms differ from GPT-2's, so ρ = 20 is a much larger relative budget here: read the ‖δ‖/‖h_def‖ column and the budget sweep before comparing rates.`,
      };
    }
    case 'tpp': {
      const rows = p.tpp as string[][];
      const all = rows.find((r) => r[0].startsWith('All'))!;
      return {
        table: `| paper (SAEBench TPP, layer 5) | recovery none | recovery encoder | reactivation none | reactivation encoder | act drift none | act drift encoder |\n|---|---|---|---|---|---|---|\n| all targets | ${f3(+all[1])} | ${f3(+all[2])} | ${f3(+all[3])} | ${f3(+all[4])} | ${f3(+all[5])} | ${f3(+all[6])} |`,
        paragraph: `The paper recovers 0.819 of valid flips without projection and 0.749 with the encoder projection, which also lowers reactivation (0.013 → 0.002) and drift (0.094 → 0.039). ${common} TPP score of the default ablation here: ${f3(r.extras.tppScore as number)}.`,
      };
    }
    case 'unlearning': {
      const meth = p.unlearning.methods as Record<string, any>;
      const rows = Object.entries(meth).map(([k, v]) => `| ${k} | ${v.n_recovered}/${v.n_valid_flips} | ${f3(v.mean_defended_feature_drift_abs_l2)} |`);
      return {
        table: `| paper (gemma-2-2b-it, WMDP-Bio, 91 valid flips) | recovered | clamp-feature drift (abs L2) |\n|---|---|---|\n${rows.join('\n')}`,
        paragraph: `The paper recovers 90/91 (encoder) and 91/91 (none) valid flips, with zero drift under the encoder projection because the clamped features re-encode to 0. ${common} Retain-set accuracy: ${f3(r.extras.retainAccuracyBase as number)} before, ${f3(r.extras.retainAccuracyClamped as number)} under the clamp, ${f3(r.extras.retainAccuracyRecovered as number)} with the recovery's mean δ.`,
      };
    }
    case 'refusal': {
      const s2 = r.stage2;
      return {
        table: `| paper (gemma-2-2b-it, AdvBench, 24 strict-valid) | non-refusal recovery | base-like | strict base-like | drift |\n|---|---|---|---|---|\n| clamp-aware attack | 23/24 (95.8%, CI [79.8, 99.3]) | 15/24 | 12/24 | 0.131 |\n| residual-only replay | 23/24 | | | |\n| clamped-features-only replay | 0/24 | | | |`,
        paragraph: `The paper restores non-refusal in 23 of 24 strict-valid prompts at relative drift 0.131, and its replay shows the recovery flowing through the SAE error term (residual-only 23/24, clamped features 0/24). ${common}${s2 ? ` After stage 2 (answer positions), greedy generation under the clamp gives a non-refusal answer for ${s2.nonRefusal}/${s2.validFlips} valid flips (stage 1 alone: ${s2.nonRefusalStage1}) and exactly the base model's answer for ${s2.baseLike}/${s2.validFlips}.` : ''}`,
      };
    }
  }
}

export function register(program: Command): void {
  program
    .command('report')
    .description('Run every scenario and write docs/results.md beside the paper\'s numbers.')
    .option('--all', 'all four scenarios (the default)')
    .option('--scenario <id>', 'just one scenario', oneOf('--scenario', SCENARIO_IDS))
    .option('--out <file>', 'markdown output', 'docs/results.md')
    .option('--seed <s>', 'seed', integer('--seed'), 0)
    .option('--backend <name>', 'wasm | cpu', oneOf('--backend', ['wasm', 'cpu'] as const), 'wasm')
    .action(async (flags: { scenario?: ScenarioId; out: string; seed: number; backend: NodeBackend }) => {
      const log = (s: string) => process.stderr.write(s + '\n');
      const { backend } = await initNodeBackend(flags.backend);
      const index = await readModelIndex(readPublicModels);
      const entry = index[0];
      if (!entry) throw new InputError('no built-in model in public/models/index.json');
      const wb = await openWorkbench(readPublicModels, entry.name);
      const ladder = await Promise.all(entry.saes.filter((s) => s.id.startsWith('ladder-')).sort((a, b) => a.explainedVariance - b.explainedVariance).map((s) => openWorkbench(readPublicModels, entry.name, s.id)));
      const started = Date.now();
      const reports: ScenarioReport[] = [];
      try {
        for (const id of flags.scenario ? [flags.scenario] : SCENARIO_IDS) {
          log(`${id}…`);
          reports.push(await scenarioReport(wb, ladder, id, flags.seed, log));
        }
      } finally {
        wb.dispose();
        ladder.forEach((l) => l.dispose());
      }
      const p = paper();
      const sections = reports.map((r) => {
        const ps = paperSection(r, p);
        return `## ${r.title}\n\n${r.behaviour} Defended features: ${r.featureRule}; clamp: ${r.clamp}; optimiser: ${Object.entries(r.options).map(([k, v]) => `${k} ${v}`).join(', ')}.\n\n### Modes\n\n${modesTable(r)}\n\n### Recovery-path replay across the SAE quality ladder (encoder mode)\n\n${replayTable(r)}\n\n### Budget sweep (encoder)\n\n${sweepTable('ρ', r.budgets.map((b) => ({ key: b.budget, agg: b.agg })))}\n\n### Defended-set size (encoder)\n\n${sweepTable('K', r.ks.map((b) => ({ key: b.k, agg: b.agg })))}\n\n### The paper (reported)\n\n${ps.table}\n\n### Where we agree and where we do not\n\n${ps.paragraph}\n`;
      });
      const md = `# Results on the built-in model\n\nGenerated by \`npx unclamp report --all\` (seed ${flags.seed}, ${backend} backend, model \`${entry.name}\`, default SAE \`${wb.sae.entry.name}\`). Regenerating it reproduces these figures. Paper numbers: Cui, Shen, Yang, *SAE interventions are unreliable: post-intervention recovery of suppressed behavior*, arXiv:2606.18322 (2026), from its released sanitized results (\`src/scenarios/reference/\`).\n\nAll rates are over valid flips (base shows the behaviour, the defended model does not), with Wilson 95% intervals. Drift is measured on the defended features at the δ positions, re-encoded. The replay columns are recovered/valid when each part of δ is added alone under the clamp.\n\n${sections.join('\n')}`;
      writeOutput(flags.out, md);
      log(`wrote ${flags.out} in ${Math.round((Date.now() - started) / 1000)} s`);
    });
}
