// docs/performance.md (and its chart, docs/performance.svg) from bench/results.json, which `npm run bench` writes.
//   npx tsx scripts/render-performance.ts
import { writeFileSync } from 'node:fs';
import { type BenchRecord, perPromptRatio, promptsOf, readRecords } from '../bench/results.ts';

const records = readRecords();
if (!records.length) throw new Error('bench/results.json is empty or missing: run `npm run bench` first');

const LEVELS = {
  a: 'Level a: the recovery loop on a GPT-2-small-sized linear-probe case',
  b: 'Level b: the built-in scenarios on the built-in model',
  c: 'Level c: one recovery step at the paper’s IOI size (GPT-2 small’s shapes)',
} as const;

const num = (v: number | null | undefined, digits: number) => (v === null || v === undefined || v === 0 ? '—' : v.toFixed(digits));
/** A table cell: a literal | would end the cell. */
const cell = (s: string) => s.replace(/\|/g, '\\|');

/** "2.1× onward, 0.3× paper-pipeline": ms per step and prompt against each PyTorch record of the level and mode. */
function vsTorch(r: BenchRecord, all: BenchRecord[]): string {
  if (r.impl.startsWith('torch')) return '—';
  const refs = all.filter((t) => t.level === r.level && t.mode === r.mode && t.impl.startsWith('torch'));
  return refs.map((t) => `${perPromptRatio(r, t).toFixed(2)}× ${t.impl.replace(/^torch ?/, '') || 'torch'}`).join(', ') || '—';
}

function table(rows: BenchRecord[]): string {
  const lines = [
    '| case | implementation | backend | mode | ms/step | steps/s | GFLOP/s | vs PyTorch (ms per step and prompt) | peak MB |',
    '|---|---|---|---|---:|---:|---:|---|---:|',
  ];
  for (const r of rows)
    lines.push(
      `| ${cell(r.case)} | ${r.impl} | ${r.backend} | ${r.mode} | ${num(r.msPerStep, r.msPerStep < 10 ? 2 : 0)} | ${num(r.stepsPerSec, 2)} | ${num(r.gflops, 1)} | ${vsTorch(r, rows)} | ${r.peakMB || '—'} |`,
    );
  return lines.join('\n');
}

/** Horizontal bars of ms/step on a log scale, one per level-c record. */
function chart(rows: BenchRecord[]): string {
  const W = 760;
  const left = 300;
  const bar = 18;
  const gap = 8;
  const H = 40 + rows.length * (bar + gap);
  const max = Math.max(...rows.map((r) => r.msPerStep));
  const min = Math.min(...rows.map((r) => r.msPerStep));
  const lo = 10 ** Math.floor(Math.log10(min));
  const hi = 10 ** Math.ceil(Math.log10(max));
  const x = (ms: number) => left + ((W - left - 60) * Math.log10(ms / lo)) / Math.log10(hi / lo);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`];
  parts.push(`<text x="${left}" y="16" font-weight="bold">ms per step (log scale; shorter is faster)</text>`);
  for (let t = lo; t <= hi; t *= 10)
    parts.push(
      `<line x1="${x(t)}" y1="24" x2="${x(t)}" y2="${H - 8}" stroke="#e2e8f0"/><text x="${x(t)}" y="${H}" text-anchor="middle" fill="#64748b">${t}</text>`,
    );
  rows.forEach((r, i) => {
    const y = 30 + i * (bar + gap);
    const colour = r.impl.startsWith('torch') ? '#94a3b8' : '#2563eb';
    parts.push(`<text x="${left - 8}" y="${y + 13}" text-anchor="end">${esc(`${r.impl}, ${r.mode}, ${promptsOf(r)} prompts`)}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(r.msPerStep) - left)}" height="${bar}" fill="${colour}"/>`);
    parts.push(`<text x="${x(r.msPerStep) + 4}" y="${y + 13}">${r.msPerStep.toFixed(0)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

const c = records.filter((r) => r.level === 'c');
if (c.length) writeFileSync('docs/performance.svg', `${chart(c)}\n`);
const out = [
  '# Performance',
  '',
  'Written by `npx tsx scripts/render-performance.ts` from `bench/results.json`, which `npm run bench` fills (each level',
  'alone: `npm run bench:probe`, `bench:scenarios`, `bench:gpt2`). The figures are from the machine the benchmark last ran',
  'on; PyTorch runs on that machine in the same command, on OpenBLAS (the benchmark refuses the reference BLAS).',
  '',
];
for (const [level, title] of Object.entries(LEVELS)) {
  const rows = records.filter((r) => r.level === level);
  if (!rows.length) continue;
  out.push(`## ${title}`, '', table(rows), '');
  if (level === 'c') out.push('![ms per step at level c](performance.svg)', '');
}
writeFileSync('docs/performance.md', `${out.join('\n')}\n`);
console.log('wrote docs/performance.md');
