// docs/results.md from the report's per-seed runs (report-runs.ts): the figures pooled over seeds (report-pool.ts)
// and the paper's (report-paper.ts) in the same tables, and what differs from the paper and why. Rendering only.
import { meanOf } from '../core/stats.ts';
import { formatNumber as f3 } from '../core/format.ts';
import { PROJECTION_MODES } from '../core/options.ts';
import { KAPPA_SWEEP, SCENARIOS } from '../scenarios/catalog.ts';
import type { ScenarioData } from './report-runs.ts';
import { type Figure, type Pooled, pool } from './report-pool.ts';
import { type PaperFigures, paperFigures } from './report-paper.ts';
import { mdTable } from './table.ts';
import { defencesSection } from './report-defences.ts';
import type { DefenceMatrix } from '../scenarios/defence-matrix.ts';

const ci = (f: Figure, fmt: (v: number | null) => string) =>
  f.value === null ? '—' : f.ci ? `${fmt(f.value)} [${fmt(f.ci[0])}, ${fmt(f.ci[1])}]` : fmt(f.value);
const pct = (v: number | null) => (v === null ? '—' : (100 * v).toFixed(1));
const rateText = (p: Pooled) => (p.valid ? `${ci(p.rate, pct)}%` : '— (no valid flips)');
const relText = (r: Pooled['relDrift']) =>
  r.included === 0
    ? r.excluded
      ? `n/a (0 of ${r.excluded})`
      : '—'
    : r.excluded
      ? `${f3(r.value)} (${r.included} of ${r.included + r.excluded})`
      : f3(r.value);

// ---- tables ---------------------------------------------------------------------------------------------

const MODE_HEAD = [
  'run',
  'valid flips (Σ seeds)',
  'recovered',
  'rate [95% CI]',
  'abs drift [95% CI]',
  'rel drift (defined on)',
  'reactivation pooled / per prompt',
  'zero-reactivation recovery',
  '‖δ‖/‖h_def‖',
  'ρ',
];

function modeRow(label: string, p: Pooled): string[] {
  const feasible = p.feasible === null ? '' : ` (feasible ${p.feasible})`;
  return [
    label,
    String(p.valid),
    `${p.recovered}${feasible}`,
    rateText(p),
    ci(p.absDrift, f3),
    relText(p.relDrift),
    `${f3(p.reactivation)} / ${f3(p.reactivationPerPrompt)}`,
    p.valid ? `${ci(p.zeroReactivation, pct)}%` : '—',
    f3(p.deltaOverResidual),
    f3(p.rho),
  ];
}

/** A run the paper reports, as a row of the modes table: '—' where it gives no such figure. */
function paperRow(p: PaperFigures): string[] {
  const given = (v: number | undefined, fmt: (v: number) => string) => (v === undefined ? '—' : fmt(v));
  const relDrift =
    p.relDrift !== undefined ? f3(p.relDrift) : p.relDriftUndefinedOf !== undefined ? `n/a (0 of ${p.relDriftUndefinedOf ?? '—'})` : '—';
  return [
    p.label,
    given(p.valid, String),
    given(p.recovered, String),
    given(p.rate, (r) => `${pct(r)}${p.rateCi ? ` [${pct(p.rateCi[0])}, ${pct(p.rateCi[1])}]` : ''}%`),
    given(p.absDrift, (v) => `${f3(v)}${p.absDriftRelative ? ' (relative)' : ''}`),
    relDrift,
    p.reactivationPerPrompt !== undefined ? `per prompt ${f3(p.reactivationPerPrompt)}` : given(p.reactivation, f3),
    given(p.zeroReactivation, (v) => `${pct(v)}%`),
    '—',
    '—',
  ];
}

function modesTable(d: ScenarioData): string {
  const rows = PROJECTION_MODES.map((m) => modeRow(m, pool(d.runs[m], d.shared)));
  rows.push(modeRow(`control: ${d.k} random features (encoder)`, pool(d.runs.control, d.shared)));
  rows.push(...paperFigures(d.id).map(paperRow));
  return mdTable(MODE_HEAD, rows);
}

function sweepTable(d: ScenarioData): string {
  const head = [
    'κ',
    'ρ (mean)',
    'Adam: rate [95% CI]',
    'PGD: rate [95% CI]',
    ...(d.linear ? ['feasible / valid'] : []),
    'Adam abs drift',
    'PGD abs drift',
  ];
  const rows = KAPPA_SWEEP.map((k) => {
    const adam = pool(d.runs[`kappa:${k}:adam`], d.shared);
    const pgd = pool(d.runs[`kappa:${k}:pgd`], d.shared);
    const feasible = d.linear ? [`${adam.feasible ?? '—'} / ${adam.valid}`] : [];
    return [String(k), f3(adam.rho), rateText(adam), rateText(pgd), ...feasible, f3(adam.absDrift.value), f3(pgd.absDrift.value)];
  });
  return mdTable(head, rows);
}

function topkTable(d: ScenarioData): string {
  return mdTable(
    MODE_HEAD,
    (['none', 'encoder'] as const).map((m) => modeRow(`TopK (${'ladder-mid'}): ${m}`, pool(d.runs[`topk:${m}`], d.shared))),
  );
}

/**
 * The ladder on a common valid-flip set: the (sample, seed) pairs every rung's clamp flips, pooled over seeds,
 * with one K on every rung. A rung whose clamp flips nothing is listed but left out of the common set (it has
 * no recovery to read, and would empty the set).
 */
function ladderTable(d: ScenarioData): { table: string; reading: string } {
  const parts = d.ladder.seeds[0]?.rungs[0]?.parts.map((p) => p.part) ?? [];
  const flipsOn = d.ladder.rungs.map((_, r) => d.ladder.seeds.reduce((a, s) => a + s.rungs[r].valid.filter(Boolean).length, 0));
  const live = d.ladder.rungs.map((_, r) => flipsOn[r] > 0);
  const common = d.ladder.seeds.map((s) => s.rungs[0].valid.map((_, i) => s.rungs.every((r, k) => !live[k] || r.valid[i])));
  const nCommon = live.some(Boolean) ? common.reduce((a, c) => a + c.filter(Boolean).length, 0) : 0;
  const ks = [...new Set(d.ladder.seeds.map((s) => s.k))].join(', ');
  const byPart = d.ladder.rungs.map((_, r) =>
    parts.map((_, j) =>
      d.ladder.seeds.reduce((a, s, si) => a + s.rungs[r].parts[j].positive.filter((v, i) => v && common[si][i]).length, 0),
    ),
  );
  const rows = d.ladder.rungs.map((rung, r) => [
    `\`${rung.sae}\` (EV ${rung.ev.toFixed(2)})`,
    ks,
    String(flipsOn[r]),
    ...(live[r] && nCommon ? byPart[r].map((c) => `${c}/${nCommon}`) : parts.map(() => (live[r] ? '—' : 'no valid flips'))),
  ]);
  const table = mdTable(['SAE', 'K', 'valid flips on the rung (Σ seeds)', ...parts], rows);
  const idx = (p: string) => parts.indexOf(p as never);
  const reading = d.ladder.rungs
    .map((rung, r) => {
      if (!live[r] || !nCommon) return null;
      const res = byPart[r][idx('residual')];
      const non = byPart[r][idx('non-clamped features')];
      const by = res > non ? 'the residual (error-term) part' : res < non ? 'the non-clamped features' : 'either part alike';
      return `EV ${rung.ev.toFixed(2)}: ${by} (residual only ${res}, non-clamped features only ${non})`;
    })
    .filter(Boolean)
    .join('; ');
  const dead = d.ladder.rungs.filter((_, r) => !live[r]).map((x) => `\`${x.sae}\``);
  const text =
    `Common valid-flip set: ${nCommon} (sample, seed) pairs that the clamp flips on every rung${dead.length ? ' that flips any' : ''}, with K = ${ks} on every rung.` +
    (dead.length ? ` The clamp flips nothing on ${dead.join(', ')}: that rung has no recovery to read.` : '') +
    (reading
      ? ` On that set the recovery is carried mostly by ${reading}.`
      : ' No sample is a valid flip on every such rung, so there is nothing to compare.');
  return { table, reading: text };
}

function paperReplayNote(d: ScenarioData): string {
  if (d.id === 'refusal') {
    return (
      "The paper's replay is for refusal only: its stage-2, multi-layer δ on gemma-2-2b-it, judged on generated text — full 23/24, residual only " +
      '23/24, non-clamped features 2/24, top-k non-clamped 1/24, clamped features 0/24, knock out top-k 21/24. Ours replays the single-layer ' +
      'stage-1 δ and judges B at the first answer token.'
    );
  }
  return 'The paper reports no replay for this setting (its replay figures are for refusal).';
}

function extrasText(d: ScenarioData): string {
  const avg = (k: string) => meanOf(d.extras.map((e) => e[k]).filter((v): v is number => typeof v === 'number'));
  if (d.id === 'tpp') return `TPP score of the default ablation (mean over seeds): ${f3(avg('tppScore'))}.`;
  if (d.id === 'unlearning') {
    return `Retain-set accuracy (mean over seeds): ${f3(avg('retainAccuracyBase'))} before, ${f3(avg('retainAccuracyClamped'))} under the clamp, ${f3(avg('retainAccuracyRecovered'))} with the recovery's mean δ.`;
  }
  if (d.id === 'refusal' && d.stage2.length) {
    const sum = (k: 'nonRefusal' | 'nonRefusalStage1' | 'baseLike' | 'validFlips') => d.stage2.reduce((a, s) => a + s[k], 0);
    return `After stage 2 (δ at the answer positions, κ ${SCENARIOS.refusal.defaults.stage2!.budgetRel}), greedy generation under the clamp gives a non-refusal answer for ${sum('nonRefusal')} of ${sum('validFlips')} valid flips over the seeds (stage 1 alone: ${sum('nonRefusalStage1')}) and exactly the base model's answer for ${sum('baseLike')}.`;
  }
  return '';
}

function settingsText(d: ScenarioData): string {
  const r = d.settings;
  const parts = [
    `mode ${r.mode}`,
    r.optimizer,
    `δ ${r.delta}`,
    `${r.steps} steps`,
    `lr ${r.lr}`,
    r.budgetRel !== null ? `κ ${r.budgetRel}` : `ρ ${r.budget}`,
  ];
  if (r.lambdaAct) parts.push(`λ_act ${r.lambdaAct}`);
  if (r.reproject) parts.push('δ re-projected');
  if (r.checkpointMaxRelDrift !== null) parts.push(`drift cap ${r.checkpointMaxRelDrift} (else best B − 80·drift, every 10 steps)`);
  return parts.join(', ');
}

function reading(d: ScenarioData): string {
  const none = pool(d.runs.none, d.shared);
  const enc = pool(d.runs.encoder, d.shared);
  const control = pool(d.runs.control, d.shared);
  const lower = (none.absDrift.value ?? 0) > (enc.absDrift.value ?? 0);
  return (
    `Over ${d.seeds.length} seeds the clamp flips ${enc.valid} samples (${(enc.valid / d.seeds.length).toFixed(1)} per seed). Recovery is ${rateText(none)} with no ` +
    `projection and ${rateText(enc)} with the encoder projection, whose absolute defended-feature drift is ${f3(enc.absDrift.value)} against ` +
    `${f3(none.absDrift.value)} without it (${lower ? 'lower, as in the paper' : 'not lower, unlike the paper'}). Clamping ${d.k} random features ` +
    `instead flips ${control.valid} samples${control.valid ? `, of which ${rateText(control)} are recovered` : ''}: ` +
    `${control.valid < enc.valid / 4 ? 'the defence is specific to the chosen features' : 'random features flip about as many: the defence is not specific to its features here'}.`
  );
}

export function scenarioSection(d: ScenarioData): string {
  const entry = SCENARIOS[d.id];
  const ladder = ladderTable(d);
  const differs = entry.paper ? entry.paper.differs.map((x) => `- ${x}`).join('\n') : '';
  const sections = [
    `## ${d.title}`,
    `${d.behaviour} Defended features: ${d.featureRule} of \`${d.sae.name}\` (${d.sae.architecture}); clamp: ${d.clamp}; optimiser: ${settingsText(d)}. ` +
      (SCENARIOS[d.id].fixedData
        ? 'One seed: the held-out set does not depend on the seed and the attack from δ = 0 is deterministic, so more seeds would repeat this run; the intervals are over prompts.'
        : `Seeds ${d.seeds.join(', ')} (each draws the held-out data and the optimiser's randomness).`),
    entry.paper ? `**The paper's setting:** ${entry.paper.setting}.\n\n**Differs from the paper because:**\n\n${differs}` : '',
    `### Modes, and a control defence\n\n${modesTable(d)}`,
    reading(d),
    `### Budget sweep (encoder), Adam against L2 projected gradient\n\n${sweepTable(d)}` +
      (d.linear
        ? '\n\nB is linear in δ here, so the best δ has a closed form: "feasible" counts the valid flips some δ within the budget (orthogonal to the defended encoder directions) recovers; the gap to it is the optimiser\'s, not the method\'s.'
        : ''),
    d.sae.architecture !== 'topk'
      ? `### Extension: the same attack on the TopK SAE (not in the paper)\n\n${topkTable(d)}\n\nOn a TopK SAE an encoder-orthogonal δ leaves the defended pre-activations fixed but can still change which features make the top k, so the encoder projection's guarantee (no drift) does not hold there.`
      : '',
    `### Recovery-path replay across the TopK quality ladder (encoder mode)\n\n${ladder.table}\n\n${ladder.reading} ${paperReplayNote(d)}`,
    extrasText(d),
  ];
  return `${sections.filter(Boolean).join('\n\n')}\n`;
}

export function summaryTable(all: ScenarioData[]): string {
  const rows = all.map((d) => {
    const enc = pool(d.runs.encoder, d.shared);
    const none = pool(d.runs.none, d.shared);
    const control = pool(d.runs.control, d.shared);
    return [
      d.title,
      `\`${d.sae.id}\` (${d.sae.architecture})`,
      (enc.valid / d.seeds.length).toFixed(1),
      rateText(none),
      rateText(enc),
      `${ci(enc.absDrift, f3)} / ${ci(none.absDrift, f3)}`,
      `${(control.valid / d.seeds.length).toFixed(1)}${control.valid ? `, ${rateText(control)} recovered` : ''}`,
    ];
  });
  return mdTable(
    [
      'scenario',
      'SAE',
      'valid flips per seed',
      'recovery, none',
      'recovery, encoder',
      'abs drift encoder / none',
      'control: valid flips per seed (random features)',
    ],
    rows,
  );
}

/** The whole document; `defences`: the defence matrix (results.json's `defences`), its section saying how to make it when absent. */
export function reportDocument(
  all: ScenarioData[],
  meta: { seeds: number[]; backend: string; model: string; seconds: number },
  defences?: DefenceMatrix,
): string {
  return [
    '# Results on the built-in model',
    `Generated by \`npx unclamp report --all\` (${meta.seeds.length} seeds: ${meta.seeds.join(', ')}; ${meta.backend} backend; model \`${meta.model}\`; ` +
      `${(meta.seconds / 60).toFixed(1)} min on 2 cores). Every figure is pooled over the seeds; per-seed and per-sample figures are in ` +
      '[results.json](results.json). Regenerating reproduces them. Paper numbers: Cui, Shen, Yang, *SAE interventions are unreliable: ' +
      'post-intervention recovery of suppressed behavior*, arXiv:2606.18322 (2026), from its released sanitized results (`src/scenarios/reference/`).',
    'How to read: rates are over valid flips (the base model shows the behaviour, the defended one does not), pooled over seeds. The 95% ' +
      'intervals are percentile bootstraps (2,000 draws) that resample seeds, and samples within a seed only where each sample has its own δ — ' +
      'where the samples share one δ (IOI) they are one cluster. Drift is measured on the defended features at the δ positions, re-encoded. ' +
      'Relative drift is defined only where ‖z_S(h_def)‖ > 1e-3 and says on how many valid flips. Budgets are relative: ρ = κ · median ‖h_def‖ at ' +
      'the δ positions · √P. Every metric is defined in [method.md](method.md) §4.',
    `## Summary (encoder and none modes on each scenario's SAE)\n\n${summaryTable(all)}`,
    [...all.map(scenarioSection), defencesSection(defences)].join('\n'),
  ].join('\n\n');
}
