// docs/results.md from the report's runs: one section per scenario with our tables, the paper's reported
// numbers and a paragraph on where they agree. Rendering only; the runs are in report.ts.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Aggregate } from '../core/metrics.ts';
import type { ReplayReport } from '../core/analyses.ts';
import { formatNumber as f3, formatRate } from '../core/format.ts';
import type { BuiltinScenarioId } from '../scenarios/catalog.ts';
import type { Stage2Result } from '../scenarios/builtin/refusal.ts';

export const MODES = ['none', 'encoder', 'jacobian'] as const;

export interface ScenarioReport {
  id: BuiltinScenarioId;
  title: string;
  behaviour: string;
  featureRule: string;
  clamp: string;
  settings: string;
  modes: Record<(typeof MODES)[number], Aggregate>;
  extras: Record<string, number | string | null>;
  replay: { sae: string; ev: number; rows: ReplayReport[] }[];
  budgets: { budget: number; agg: Aggregate }[];
  ks: { k: number; agg: Aggregate }[];
  stage2?: Stage2Result;
  dModel: number;
}

export function mdTable(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function modesTable(r: ScenarioReport): string {
  const head = [
    'mode',
    'valid flips',
    'recovered',
    'rate [95% CI]',
    'rel drift',
    'abs drift',
    'decode drift',
    'reactivation',
    '‖δ‖',
    '‖δ‖/‖h_def‖',
    '‖e‖ def → rec',
  ];
  return mdTable(
    head,
    MODES.map((m) => {
      const a = r.modes[m];
      const drift = [a.meanRelDrift, a.meanAbsDrift, a.meanDecodeDrift, a.reactivation, a.meanDeltaNorm, a.meanRelDeltaNorm].map((v) =>
        f3(v),
      );
      return [
        m,
        `${a.validFlips} / ${a.samples}`,
        String(a.recovered),
        formatRate(a),
        ...drift,
        `${f3(a.residualNorm.defended)} → ${f3(a.residualNorm.recovered)}`,
      ];
    }),
  );
}

function replayTable(r: ScenarioReport): string {
  const parts = r.replay[0]?.rows.map((x) => x.part) ?? [];
  const rows = r.replay.map((x) => [
    `\`${x.sae}\` (${x.ev.toFixed(2)})`,
    ...x.rows.map((y) => `${y.recovered}/${y.validFlips}`),
    f3(x.rows.find((y) => y.part === 'residual')?.normShare),
  ]);
  return mdTable(['SAE (explained variance)', ...parts, '‖δ_res‖/‖δ‖'], rows);
}

function sweepTable(label: string, rows: { key: number; agg: Aggregate }[]): string {
  const head = [label, 'valid flips', 'recovered', 'rate [95% CI]', 'abs drift', '‖δ‖/‖h_def‖'];
  return mdTable(
    head,
    rows.map(({ key, agg: a }) => [
      String(key),
      String(a.validFlips),
      String(a.recovered),
      formatRate(a),
      f3(a.meanAbsDrift),
      f3(a.meanRelDeltaNorm),
    ]),
  );
}

const REFERENCE = path.resolve(import.meta.dirname, '../scenarios/reference');

/** The paper's released aggregates (src/scenarios/reference/). */
export interface PaperNumbers {
  ioi: { aggregate_by_mode: Record<string, Record<string, number>> };
  tpp: string[][];
  unlearning: { methods: Record<string, { n_recovered: number; n_valid_flips: number; mean_defended_feature_drift_abs_l2: number }> };
}

export function readPaperNumbers(): PaperNumbers {
  const json = (f: string) => JSON.parse(readFileSync(path.join(REFERENCE, f), 'utf8'));
  const csv = readFileSync(path.join(REFERENCE, 'neurips_main_table.csv'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(','));
  return { ioi: json('ioi_aggregate.json'), tpp: csv, unlearning: json('unlearning_posthoc_aggregate.json') };
}

interface Rung {
  ev: number;
  residual: ReplayReport;
  clamped: ReplayReport;
  nonClamped: ReplayReport;
}

const frac = (x: ReplayReport) => `${x.recovered}/${x.validFlips}`;

/** Which part of δ carries the recovery on each rung of the ladder, against the paper's error-term finding. */
function pathReading(rungs: Rung[]): string {
  const withFlips = rungs.filter((x) => x.residual.validFlips > 0);
  if (withFlips.length === 0) return '';
  const carrier = (x: Rung) =>
    x.residual.recovered >= x.nonClamped.recovered ? 'the residual (error-term) part' : 'the non-clamped features';
  const path = rungs.map((x) => `EV ${x.ev.toFixed(2)}: ${x.residual.validFlips === 0 ? 'no valid flips' : carrier(x)}`);
  const viaResidual = withFlips.filter((x) => x.residual.recovered >= x.nonClamped.recovered).length;
  const verdict =
    viaResidual === withFlips.length
      ? 'On every rung this agrees with the paper, where recovery flows through the error term.'
      : viaResidual === 0
        ? "On no rung does it flow through the error term as in the paper: with this model's small error terms the non-clamped features carry it, as the independent tiny-IOI run found for a near-perfect SAE."
        : "The paper's finding (through the error term) holds on some rungs only: where the SAE explains more, the non-clamped features take over, as the independent tiny-IOI run found for a near-perfect SAE.";
  const little = withFlips.every((x) => x.clamped.recovered <= 0.25 * x.clamped.validFlips);
  const clampedOnly = `${little ? 'On every rung the clamped features alone recover little' : 'The clamped features alone recover'} (${withFlips.map((x) => frac(x.clamped)).join(', ')}; the paper: 0/24 for refusal).`;
  return ` So the recovery flows mostly through ${path.join('; ')}. ${verdict} ${clampedOnly}`;
}

function commonParagraph(r: ScenarioReport): string {
  const enc = r.modes.encoder;
  const none = r.modes.none;
  const lower = (none.meanAbsDrift ?? 0) > (enc.meanAbsDrift ?? 0);
  const part = (x: ReplayReport[], name: ReplayReport['part']) => x.find((y) => y.part === name)!;
  const rungs = r.replay.map((x) => ({
    ev: x.ev,
    residual: part(x.rows, 'residual'),
    clamped: part(x.rows, 'clamped features'),
    nonClamped: part(x.rows, 'non-clamped features'),
  }));
  const flows = rungs
    .map(
      (x) =>
        `EV ${x.ev.toFixed(2)}: residual-only ${frac(x.residual)}, non-clamped-only ${frac(x.nonClamped)}, clamped-only ${frac(x.clamped)}`,
    )
    .join('; ');
  return (
    `Here the clamp flips ${enc.validFlips} of ${enc.samples} held-out samples; recovery is ${formatRate(none)} with no projection and ${formatRate(enc)} ` +
    `with the encoder projection, whose absolute defended-feature drift is ${f3(enc.meanAbsDrift)} against ${f3(none.meanAbsDrift)} without it ` +
    `(${lower ? 'lower, as in the paper' : 'not lower, unlike the paper'}). Recovery-path replay across the quality ladder: ${flows}.${pathReading(rungs)}`
  );
}

/** The paper's numbers for a scenario, as a small markdown table, and a paragraph comparing ours. */
function paperSection(r: ScenarioReport, p: PaperNumbers): { table: string; paragraph: string } {
  const common = commonParagraph(r);
  switch (r.id) {
    case 'ioi': {
      const m = p.ioi.aggregate_by_mode;
      const rows = ['none', 'encoder'].map((k) => [
        k,
        String(m[k].n_valid_flips),
        String(m[k].n_recovered_success),
        f3(m[k].mean_final_act_drift_l2_valid),
        f3(m[k].mean_final_decode_drift_l2_valid),
        f3(m[k].mean_reactivated_positive_fraction_within_eligible_valid),
      ]);
      return {
        table: mdTable(
          [
            'paper (GPT-2 small, layer 4, 64 prompts)',
            'valid flips',
            'recovered',
            'act drift (valid)',
            'decode drift (valid)',
            'reactivated (valid)',
          ],
          rows,
        ),
        paragraph:
          'The paper recovers all 37 of its 37 valid flips in both modes, with the encoder projection cutting activation drift from 2.47 to 0.78 ' +
          `(Cui et al. 2026, IOI aggregate). ${common} The built-in model is far smaller (d_model ${r.dModel}) and its residual norms differ from ` +
          "GPT-2's, so ρ = 20 is a much larger relative budget here: read the ‖δ‖/‖h_def‖ column and the budget sweep before comparing rates.",
      };
    }
    case 'tpp': {
      const all = p.tpp.find((row) => row[0].startsWith('All'))!;
      const head = [
        'paper (SAEBench TPP, layer 5)',
        'recovery none',
        'recovery encoder',
        'reactivation none',
        'reactivation encoder',
        'act drift none',
        'act drift encoder',
      ];
      return {
        table: mdTable(head, [['all targets', ...all.slice(1, 7).map((v) => f3(+v))]]),
        paragraph:
          'The paper recovers 0.819 of valid flips without projection and 0.749 with the encoder projection, which also lowers reactivation ' +
          `(0.013 → 0.002) and drift (0.094 → 0.039). ${common} TPP score of the default ablation here: ${f3(r.extras.tppScore as number)}.`,
      };
    }
    case 'unlearning': {
      const rows = Object.entries(p.unlearning.methods).map(([k, v]) => [
        k,
        `${v.n_recovered}/${v.n_valid_flips}`,
        f3(v.mean_defended_feature_drift_abs_l2),
      ]);
      const e = r.extras as Record<string, number>;
      return {
        table: mdTable(['paper (gemma-2-2b-it, WMDP-Bio, 91 valid flips)', 'recovered', 'clamp-feature drift (abs L2)'], rows),
        paragraph:
          'The paper recovers 90/91 (encoder) and 91/91 (none) valid flips, with zero drift under the encoder projection because the clamped features ' +
          `re-encode to 0. ${common} Retain-set accuracy: ${f3(e.retainAccuracyBase)} before, ${f3(e.retainAccuracyClamped)} under the clamp, ` +
          `${f3(e.retainAccuracyRecovered)} with the recovery's mean δ.`,
      };
    }
    case 'refusal': {
      const s2 = r.stage2;
      const rows = [
        ['clamp-aware attack', '23/24 (95.8%, CI [79.8, 99.3])', '15/24', '12/24', '0.131'],
        ['residual-only replay', '23/24', '', '', ''],
        ['clamped-features-only replay', '0/24', '', '', ''],
      ];
      const stage2 = s2
        ? ` After stage 2 (answer positions), greedy generation under the clamp gives a non-refusal answer for ${s2.nonRefusal}/${s2.validFlips} valid flips ` +
          `(stage 1 alone: ${s2.nonRefusalStage1}) and exactly the base model's answer for ${s2.baseLike}/${s2.validFlips}.`
        : '';
      return {
        table: mdTable(
          ['paper (gemma-2-2b-it, AdvBench, 24 strict-valid)', 'non-refusal recovery', 'base-like', 'strict base-like', 'drift'],
          rows,
        ),
        paragraph:
          'The paper restores non-refusal in 23 of 24 strict-valid prompts at relative drift 0.131, and its replay shows the recovery flowing through the ' +
          `SAE error term (residual-only 23/24, clamped features 0/24). ${common}${stage2}`,
      };
    }
  }
}

export function scenarioSection(r: ScenarioReport, p: PaperNumbers): string {
  const ps = paperSection(r, p);
  const budgets = sweepTable(
    'ρ',
    r.budgets.map((b) => ({ key: b.budget, agg: b.agg })),
  );
  const ks = sweepTable(
    'K',
    r.ks.map((b) => ({ key: b.k, agg: b.agg })),
  );
  return [
    `## ${r.title}`,
    `${r.behaviour} Defended features: ${r.featureRule}; clamp: ${r.clamp}; optimiser: ${r.settings}.`,
    `### Modes\n\n${modesTable(r)}`,
    `### Recovery-path replay across the SAE quality ladder (encoder mode)\n\n${replayTable(r)}`,
    `### Budget sweep (encoder)\n\n${budgets}`,
    `### Defended-set size (encoder)\n\n${ks}`,
    `### The paper (reported)\n\n${ps.table}`,
    `### Where we agree and where we do not\n\n${ps.paragraph}\n`,
  ].join('\n\n');
}

export function reportDocument(sections: string[], meta: { seed: number; backend: string; model: string; sae: string }): string {
  return [
    '# Results on the built-in model',
    `Generated by \`npx unclamp report --all\` (seed ${meta.seed}, ${meta.backend} backend, model \`${meta.model}\`, default SAE \`${meta.sae}\`). ` +
      'Regenerating it reproduces these figures. Paper numbers: Cui, Shen, Yang, *SAE interventions are unreliable: post-intervention recovery of ' +
      'suppressed behavior*, arXiv:2606.18322 (2026), from its released sanitized results (`src/scenarios/reference/`).',
    'All rates are over valid flips (base shows the behaviour, the defended model does not), with Wilson 95% intervals. Drift is measured on the ' +
      'defended features at the δ positions, re-encoded. The replay columns are recovered/valid when each part of δ is added alone under the clamp. ' +
      'Every metric is defined in [method.md](method.md) §4.',
    sections.join('\n'),
  ].join('\n\n');
}
