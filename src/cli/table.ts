// The paper-style summary table printed after a run.
import type { Aggregate } from '../core/metrics.ts';
import { formatNumber as fmt, formatPercent, formatRate, formatRatio } from '../core/format.ts';

/**
 * Rows = runs (e.g. modes), columns = the metrics of docs/method.md §4 over valid flips; under a monitor (the
 * detect defence) also the share of valid flips it flags at the reported δ.
 */
export function paperTable(rows: { label: string; agg: Aggregate }[]): string {
  const monitored = rows.some((r) => r.agg.detectionRate !== undefined);
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
    ...(monitored ? ['detected'] : []),
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
    ...(monitored ? [formatPercent(a.detectionRate)] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return `${[line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...body.map(line)].join('\n')}\n`;
}

/** A plain table for the terminal: the first column left-aligned, the rest right-aligned, a rule under the head. */
export function textTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return `${[line(head), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n')}\n`;
}

/** A markdown table (docs/results.md). */
export function mdTable(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
