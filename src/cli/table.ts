// The paper-style summary table printed after a run.
import type { Aggregate } from '../core/metrics.ts';
import { formatNumber as fmt, formatRate, formatRatio } from '../core/format.ts';

/** Rows = runs (e.g. modes), columns = the metrics of docs/method.md §4 over valid flips. */
export function paperTable(rows: { label: string; agg: Aggregate }[]): string {
  const header = [
    'run',
    'samples',
    'valid flips',
    'recovered',
    'rate [95% CI]',
    'rel drift',
    'abs drift',
    'decode drift',
    'reactivation',
    '‖δ‖',
    '‖e‖ def → rec',
  ];
  const body = rows.map(({ label, agg: a }) => [
    label,
    String(a.samples),
    String(a.validFlips),
    String(a.recovered),
    formatRate(a),
    formatRatio(a.relDrift),
    fmt(a.meanAbsDrift),
    fmt(a.meanDecodeDrift),
    fmt(a.reactivation),
    fmt(a.meanDeltaNorm),
    `${fmt(a.residualNorm.defended)} → ${fmt(a.residualNorm.recovered)}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return `${[line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...body.map(line)].join('\n')}\n`;
}
