// What a defence matrix (src/scenarios/defence-matrix.ts) says, as table rows and sentences: one source for the
// terminal tables of `unclamp defences` and the Defences section of docs/results.md (report-defences.ts).
// Rendering only: every figure is the matrix's.
import type { ProjectionMode } from '../core/options.ts';
import { formatNumber } from '../core/format.ts';
import { roc } from '../core/roc.ts';
import type { Attacker, DefenceMatrix, DefenceRow, MatrixCell, Rate } from '../scenarios/defence-matrix.ts';

const pct = (v: number) => (100 * v).toFixed(1);

/** "12/20 60.0% [38.7, 78.1]", or "— (no valid flips)". */
export function rateCell(r: Rate): string {
  if (r.rate === null) return '— (no valid flips)';
  return `${r.recovered}/${r.validFlips} ${pct(r.rate)}%${r.ci ? ` [${pct(r.ci[0])}, ${pct(r.ci[1])}]` : ''}`;
}

const shortRate = (rate: number | null) => (rate === null ? '—' : `${pct(rate)}%`);
const signedPoints = (v: number | null) => (v === null ? '—' : `${v >= 0 ? '+' : '−'}${Math.abs(100 * v).toFixed(1)}`);

function cell(m: DefenceMatrix, defence: string, attacker: Attacker, mode: ProjectionMode): MatrixCell | undefined {
  return m.cells.find((c) => c.defence === defence && c.attacker === attacker && c.mode === mode);
}

const hasDetector = (m: DefenceMatrix) => m.defences.some((d) => d.detector);

/** Recovery in one projection mode: a row per defence, the paper's attacker against the adaptive one. */
export function recoveryTable(m: DefenceMatrix, mode: ProjectionMode): { head: string[]; rows: string[][] } {
  const detect = hasDetector(m);
  const head = [
    'defence',
    'paper attacker',
    'adaptive attacker',
    'gap (points)',
    'rel drift paper / adaptive',
    ...(detect ? ['detected paper / adaptive'] : []),
  ];
  const rows = m.defences.map((d) => {
    const paper = cell(m, d.defence, 'paper', mode);
    const adaptive = cell(m, d.defence, 'adaptive', mode);
    const gap = m.gaps.find((g) => g.defence === d.defence && g.mode === mode)?.gap ?? null;
    const both = (f: (c: MatrixCell) => string) => `${paper ? f(paper) : '—'} / ${adaptive ? f(adaptive) : '—'}`;
    return [
      d.defence,
      paper ? rateCell(paper) : '—',
      adaptive ? rateCell(adaptive) : '—',
      signedPoints(gap),
      both((c) => formatNumber(c.meanRelDrift)),
      ...(detect ? [d.detector ? both((c) => shortRate(c.detectionRate)) : '—'] : []),
    ];
  });
  return { head, rows };
}

/** The best rate either attacker reaches on a defence, in any mode. */
export function bestAttack(m: DefenceMatrix, defence: string): number {
  return Math.max(0, ...m.cells.filter((c) => c.defence === defence).map((c) => c.rate ?? 0));
}

/** Nothing recovers a defence, a random δ included: "beats random" cannot fail there, it has nothing to beat. */
const nothingRecovered = (m: DefenceMatrix, d: DefenceRow) => bestAttack(m, d.defence) === 0 && (d.random.rate ?? 0) === 0;

export interface FailedCheck {
  check: 'budgetMonotone' | 'moreStepsNotLower' | 'beatsRandom';
  /** For a table cell. */
  short: string;
  /** What it means, in a sentence. */
  sentence: string;
}

/** The checks of an honest robustness evaluation that a defence's row fails, each with what it means. */
export function failedChecks(m: DefenceMatrix, d: DefenceRow): FailedCheck[] {
  const out: FailedCheck[] = [];
  const { checks } = d;
  if (!checks.budgetMonotone) {
    const curve = d.budgetCurve.map((p) => `×${p.multiple} ${shortRate(p.rate)}`).join(', ');
    out.push({
      check: 'budgetMonotone',
      short: 'budget not monotone',
      sentence: `recovery falls as the budget grows (${curve}): the attack has not converged, so its rates are lower bounds`,
    });
  }
  if (!checks.moreStepsNotLower) {
    const [once, twice] = checks.stepsRates;
    out.push({
      check: 'moreStepsNotLower',
      short: 'more steps lower',
      sentence: `twice the steps recovers less (${shortRate(once)} → ${shortRate(twice)}): the optimiser is unstable here, so its rates are lower bounds`,
    });
  }
  if (!checks.beatsRandom && !nothingRecovered(m, d)) {
    out.push({
      check: 'beatsRandom',
      short: 'random δ ≥ attack',
      sentence:
        `a random δ of the same norm recovers ${shortRate(d.random.rate)}, the best gradient attacker ${shortRate(bestAttack(m, d.defence))}: ` +
        'the defence only beats the gradient attacker, so a low rate here says the attack failed, not that the behaviour cannot come back',
    });
  }
  return out;
}

/** What a defence costs and whether its evaluation passes its checks: a row per defence. */
export function costTable(m: DefenceMatrix): { head: string[]; rows: string[][] } {
  const head = [
    'defence',
    'valid flips, no attack',
    'CE base → defended (nats)',
    'KL',
    `random δ (${m.curveMode})`,
    `AUC (${m.curveMode})`,
    'checks',
  ];
  const rows = m.defences.map((d) => {
    const u = d.cost.utility;
    const failed = failedChecks(m, d);
    return [
      d.defence,
      `${d.cost.validFlips}/${d.cost.samples}`,
      u ? `${formatNumber(u.ceBase)} → ${formatNumber(u.ceDefended)}` : '—',
      u ? formatNumber(u.kl) : '—',
      rateCell(d.random),
      formatNumber(d.auc),
      failed.length ? failed.map((f) => f.short).join('; ') : nothingRecovered(m, d) ? 'ok (nothing recovers)' : 'ok',
    ];
  });
  return { head, rows };
}

/** The adaptive attacker's recovery at each budget multiple (first seed, the curve's mode): a row per defence. */
export function budgetTable(m: DefenceMatrix): { head: string[]; rows: string[][] } {
  const multiples = [...new Set(m.defences.flatMap((d) => d.budgetCurve.map((p) => p.multiple)))].sort((a, b) => a - b);
  const head = ['defence', ...multiples.map((x) => `ρ × ${x}`)];
  const rows = m.defences.map((d) => [
    d.defence,
    ...multiples.map((x) => {
      const p = d.budgetCurve.find((q) => q.multiple === x);
      return p ? (p.rate === null ? '—' : `${shortRate(p.rate)} (${p.recovered}/${p.validFlips})`) : '—';
    }),
  ]);
  return { head, rows };
}

/** The monitor of a detect row: its threshold, the held-out false-positive rate, and how well it separates. */
export function detectorSentence(d: DefenceRow): string | null {
  const det = d.detector;
  if (!det) return null;
  const ci = det.heldOutCi ? ` [${pct(det.heldOutCi[0])}, ${pct(det.heldOutCi[1])}]` : '';
  const auc = (a: Attacker) => formatNumber(roc(det.cleanScores, det.attackedScores[a]).auc);
  return (
    `${d.defence}: threshold ${formatNumber(det.threshold)}; false-positive rate on ${det.cleanScores.length} held-out clean inputs ` +
    `${pct(det.heldOutFpr)}%${ci}; ROC AUC of clean against attacked valid flips ${auc('paper')} (paper's δ), ${auc('adaptive')} (adaptive δ)`
  );
}

/** What acts where for a defence, in words, less the monitor's calibration (detectorSentence says more). */
export function siteNotes(d: DefenceRow): string[] {
  return d.notes.filter((n) => !(d.detector && n.startsWith('monitor threshold')));
}

/** One line of what the matrix ran. */
export function matrixSettings(m: DefenceMatrix): string {
  const given = Object.entries(m.settings)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${String(v)}`);
  return (
    `${m.scenario} (${m.title}); seeds ${m.seeds.join(', ')}; modes ${m.modes.join(', ')}; budget curve and checks in ${m.curveMode} mode; ` +
    `λ_detect ${m.lambdaDetect}; ${given.length ? `changed settings: ${given.join(', ')}` : "the scenario's settings"}`
  );
}
