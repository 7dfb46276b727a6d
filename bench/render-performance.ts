// docs/performance.md (and its chart, docs/performance.svg) from bench/results.json, which `npm run bench` writes
// (Node and PyTorch; `npm run bench:browser` adds the Chromium records, bench/dawn.bench.ts those of a GPU machine).
//   npx tsx bench/render-performance.ts
import { writeFileSync } from 'node:fs';
import { GEMMA_DEFAULTS, GEMMA_SIZES, gemmaFullPlan } from './families.ts';
import { type BenchRecord, percentOfPeak, perPromptRatio, promptsOf, readRecords, runnerOf } from './results.ts';
import { formatBytes } from '../src/core/format.ts';
import { checkFits } from '../src/model/memory-plan.ts';

const records = readRecords();
if (!records.length) throw new Error('bench/results.json is empty or missing: run `npm run bench` first');

const LEVELS = {
  a: 'Level a: the recovery loop on a GPT-2-small-sized linear-probe case',
  b: 'Level b: the built-in scenarios on the built-in model',
  c: 'Level c: one recovery step at the paper’s IOI size (GPT-2 small’s shapes)',
  d: 'Level d: the model families (a gemma-2-2b-shaped step; pythia-70m-deduped’s against PyTorch)',
} as const;

const num = (v: number | null | undefined, digits: number) => (v === null || v === undefined || v === 0 ? '—' : v.toFixed(digits));
/** A table cell: a literal | would end the cell. */
const cell = (s: string) => s.replace(/\|/g, '\\|');

/** A case without its batch ("…, 64×15" → "…"): level d's two models are two cases of one level. */
const model = (r: BenchRecord) => r.case.replace(/, \d+×\d+$/, '');

/**
 * "2.1× onward, 0.3× paper-pipeline": ms per step and prompt against each PyTorch record of the level and mode (level
 * d: of the same model and variant, "unclamp onward" against "torch onward", and from Node on the same thread count).
 */
function vsTorch(r: BenchRecord, all: BenchRecord[]): string {
  if (r.impl.startsWith('torch')) return '—';
  const variant = (x: BenchRecord) => x.impl.replace(/^(unclamp|torch) /, '');
  const threads = (x: BenchRecord) => Number(/(\d+) threads?/.exec(x.backend)?.[1] ?? 1);
  const same = (t: BenchRecord) =>
    r.level !== 'd' || (model(t) === model(r) && variant(t) === variant(r) && (runnerOf(r) !== 'node' || threads(t) === threads(r)));
  const refs = all.filter((t) => t.level === r.level && t.mode === r.mode && t.impl.startsWith('torch') && !t.failed && same(t));
  return refs.map((t) => `${perPromptRatio(r, t).toFixed(2)}× ${t.impl.replace(/^torch ?/, '') || 'torch'}`).join(', ') || '—';
}

const ms = (r: BenchRecord) => (r.failed ? 'failed' : num(r.msPerStep, r.msPerStep < 10 ? 2 : 0));

/** Every record of `rows`, with its ratios against the PyTorch records among `refs`. */
function table(rows: BenchRecord[], refs: BenchRecord[]): string {
  const lines = [
    '| case | implementation | backend | mode | ms/step | steps/s | GFLOP/s | % of matMul peak | vs PyTorch (ms per step and prompt) | peak MB |',
    '|---|---|---|---|---:|---:|---:|---:|---|---:|',
  ];
  for (const r of rows)
    lines.push(
      `| ${cell(r.case)} | ${r.impl} | ${r.backend} | ${r.mode} | ${ms(r)} | ${num(r.stepsPerSec, 2)} | ${num(r.gflops, 1)} | ${percentOfPeak(r)} | ${r.failed ? '—' : vsTorch(r, refs)} | ${r.peakMB || '—'} |`,
    );
  return lines.join('\n');
}

const BROWSER_BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'];

/**
 * One row per case, implementation and mode; one column per place it ran (Node's backends, then Chromium's), each
 * cell ms per step and the ratio to PyTorch's (per prompt).
 */
function sideBySide(rows: BenchRecord[]): string {
  const ours = rows.filter((r) => !r.impl.startsWith('torch') && !r.failed);
  const where = (r: BenchRecord) => `${runnerOf(r) === 'chromium' ? 'Chromium' : 'Node'} ${r.backend}`;
  const columns = [...new Set(ours.map(where))].sort((x, y) => {
    const rank = (c: string) => (c.startsWith('Node') ? 0 : 1) * 10 + BROWSER_BACKENDS.indexOf(c.split(' ')[1]);
    return rank(x) - rank(y);
  });
  const keys = [...new Set(ours.map((r) => `${r.case}\u0000${r.impl}\u0000${r.mode}`))];
  const lines = [`| case | implementation | mode | ${columns.join(' | ')} |`, `|---|---|---|${columns.map(() => '---:').join('|')}|`];
  for (const key of keys) {
    const [c, impl, mode] = key.split('\u0000');
    const cells = columns.map((col) => {
      const r = ours.find((x) => x.case === c && x.impl === impl && x.mode === mode && where(x) === col);
      if (!r) return '';
      const vs = vsTorch(r, rows);
      return vs === '—' ? ms(r) : `${ms(r)} (${vs})`;
    });
    lines.push(`| ${cell(c)} | ${impl} | ${mode} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Horizontal bars of ms/step on a log scale, one per level-c record. */
function chart(rows: BenchRecord[]): string {
  const W = 860;
  const left = 400;
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
    const host = { node: '', chromium: 'Chromium ', dawn: 'Dawn ' }[runnerOf(r)];
    const where = r.impl.startsWith('torch') ? (runnerOf(r) === 'dawn' ? ' (CUDA)' : '') : ` (${host}${r.backend})`;
    parts.push(
      `<text x="${left - 8}" y="${y + 13}" text-anchor="end">${esc(`${r.impl}${where}, ${r.mode}, ${promptsOf(r)} prompts`)}</text>`,
    );
    parts.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(r.msPerStep) - left)}" height="${bar}" fill="${colour}"/>`);
    parts.push(`<text x="${x(r.msPerStep) + 4}" y="${y + 13}">${r.msPerStep.toFixed(0)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

const c = records.filter((r) => r.level === 'c' && !r.failed);
if (c.length) writeFileSync('docs/performance.svg', `${chart(c)}\n`);
const out = [
  '# Performance',
  '',
  'Written by `npx tsx bench/render-performance.ts` from `bench/results.json`, which `npm run bench` fills (each level',
  'alone: `npm run bench:probe`, `bench:scenarios`, `bench:gpt2`; in Chromium: `npm run bench:browser`). The figures are',
  'from the machine the benchmark last ran on; PyTorch runs on that machine in the same command, on OpenBLAS (the',
  'benchmark refuses the reference BLAS). Chromium runs the same benchmark bodies (bench/levels.ts) in a worker of the',
  'bench page (its own build, bench/browser/) on WebGPU, WebGL and wasm; without a GPU its WebGPU and WebGL are SwiftShader,',
  'on the CPU.',
  '',
];
/**
 * A failed record that a later measurement on the same backend replaced (a first try on another build) says nothing;
 * so does a failure named for a whole level (no measured record has its case) once that backend measured the level.
 */
function superseded(f: BenchRecord, all: BenchRecord[]): boolean {
  const measured = all.filter((r) => !r.failed);
  const sameCase = measured.some((r) => r.backend === f.backend && r.case === f.case && (f.mode === '—' || r.mode === f.mode));
  const wholeLevel = !measured.some((r) => r.case === f.case) && measured.some((r) => r.backend === f.backend);
  return sameCase || wholeLevel;
}

/** Level d's memory figures per record, the PyTorch check, and the full-size gemma-2-2b run's plan (not measured). */
function levelD(all: BenchRecord[]): string[] {
  const mb = (v: unknown) => (typeof v === 'number' ? String(v) : '—');
  const where = (r: BenchRecord) => `${{ node: 'Node', chromium: 'Chromium', dawn: 'Dawn' }[runnerOf(r)]} ${r.backend}`;
  const ours = all.filter((r) => !r.impl.startsWith('torch') && !r.failed);
  const out = [
    '### Memory',
    '',
    'Tensor memory: sampled between the timed steps ("peak"), and its high-water mark within one step (TF.js’s profiler,',
    'after every kernel); "planned" is src/model/memory-plan.ts’s figure for the step phase of the same run on that',
    'backend; RSS is the Node process’s (0 where the host cannot tell: a browser worker).',
    '',
    '| case | implementation | where | mode | weights | peak MB | in-step peak MB | planned MB | RSS MB |',
    '|---|---|---|---|---|---:|---:|---:|---:|',
    ...ours.map(
      (r) =>
        `| ${cell(r.case)} | ${r.impl} | ${where(r)} | ${r.mode} | ${r.extra?.weights ?? '—'} | ${r.peakMB} | ${mb(r.extra?.stepPeakMB)} | ${mb(r.extra?.planStepMB)} | ${r.rssMB || '—'} |`,
    ),
    '',
  ];
  const checked = ours.find((r) => typeof r.extra?.['vsTorch grad'] === 'number');
  if (checked) {
    const e = checked.extra ?? {};
    const figures = Object.keys(e)
      .filter((k) => k.startsWith('vsTorch '))
      .map((k) => `${k.slice('vsTorch '.length)} ${Number(e[k]).toExponential(1)}`);
    out.push(
      `Before its times were compared, the Pythia step was checked against PyTorch’s on the same weights (largest difference ÷ largest |PyTorch value|): ${figures.join(', ')} — B at the clamp, the loss and its gradient at a probe δ, and δ after three steps of each mode.`,
      '',
    );
  }
  for (const n of new Set(
    all
      .filter((r) => runnerOf(r) === 'node')
      .map((r) => r.notes)
      .filter(Boolean),
  ))
    out.push(`${n}.`, '');
  const full = GEMMA_SIZES.full;
  out.push(
    '### gemma-2-2b at full size: the plan (not measured here)',
    '',
    `gemma-2-2b (d ${full.config.dModel}, ${full.config.nLayer} layers, vocabulary ${full.config.vocabSize.toLocaleString('en-US')}), ${GEMMA_DEFAULTS.n} prompts × ${GEMMA_DEFAULTS.t} tokens, blocks.${full.hookLayer}.hook_resid_post, a JumpReLU SAE of ${full.dSae.toLocaleString('en-US')} features: it needs a GPU, which the machine these figures come from does not have (\`npm run bench:dawn -- --levels d\` or \`bench/gpu/run.sh\` measure it on one). src/model/memory-plan.ts’s figures for it (the step's items; the peak is of the whole run, whose feature attribution needs more than the step):`,
    '',
    '| backend | weights | resident | step phase | whole run’s peak | fits |',
    '|---|---|---:|---:|---:|---|',
  );
  for (const backend of ['webgpu', 'wasm'] as const) {
    const plan = gemmaFullPlan(backend);
    const fit = checkFits(plan, { backend });
    out.push(
      `| ${backend} | ${plan.weightBytes === 2 ? 'bfloat16' : 'float32'} | ${formatBytes(plan.device.resident)} | ${formatBytes(plan.device.phases.step)} | ${formatBytes(plan.device.peak)} (${plan.device.peakPhase}) | ${fit.ok ? 'yes' : `no: ${cell(fit.message)}`} |`,
    );
  }
  const plan = gemmaFullPlan('webgpu');
  out.push('', 'On WebGPU, item by item:', '');
  for (const i of plan.device.items.filter((x) => x.phase === 'resident' || x.phase === 'step'))
    out.push(`- ${formatBytes(i.bytes)}: ${i.what}${i.phase === 'step' ? ' (during the step)' : ''}`);
  out.push('');
  return out;
}

for (const [level, title] of Object.entries(LEVELS)) {
  const all = records.filter((r) => r.level === level);
  if (!all.length) continue;
  // The GPU machine's records (WebGPU through Dawn, PyTorch on CUDA) compare only with each other.
  const gpu = all.filter((r) => runnerOf(r) === 'dawn');
  const rows = all.filter((r) => runnerOf(r) !== 'dawn');
  const node = rows.filter((r) => runnerOf(r) === 'node');
  const browser = rows.filter((r) => runnerOf(r) === 'chromium');
  out.push(`## ${title}`, '', table(node, rows), '');
  if (browser.length) {
    const measured = browser.filter((r) => !r.failed);
    const failed = browser.filter((r) => r.failed && !superseded(r, browser));
    out.push('### In Chromium', '', table(measured, rows), '');
    if (failed.length) {
      out.push('Did not run:', '');
      for (const r of failed) out.push(`- ${r.backend}, ${r.case}${r.mode === '—' ? '' : `, ${r.impl}, ${r.mode}`}: ${r.failed}`);
      out.push('');
    }
    // Where and under what load each page ran (bench/browser.bench.ts writes them).
    for (const n of new Set(browser.map((r) => r.notes).filter(Boolean))) out.push(`${n}.`, '');
    out.push(
      '### Node and Chromium side by side',
      '',
      'ms per step (ratio to each PyTorch record of the mode, per prompt).',
      '',
      sideBySide(rows),
      '',
    );
  }
  if (gpu.length) {
    out.push(
      '### On a GPU: WebGPU through Dawn in Node, PyTorch on CUDA on the same card',
      '',
      table(
        gpu.filter((r) => !r.failed),
        gpu,
      ),
      '',
    );
    // On a GPU the step returns before its kernels finish: host time close to the whole step means the host's
    // cost of issuing kernels, not the GPU, bounds it.
    const queued = gpu.filter((g) => !g.failed && typeof g.extra?.enqueueMs === 'number');
    if (queued.length) {
      out.push('Host time spent issuing each step (the rest is waiting for the GPU):', '');
      for (const r of queued)
        out.push(`- ${r.impl}, ${promptsOf(r)} prompts, ${r.mode}: ${num(r.extra?.enqueueMs as number, 1)} of ${ms(r)} ms`);
      out.push('');
    }
    for (const r of gpu.filter((g) => g.failed)) out.push(`- did not run: ${r.impl}, ${r.case}, ${r.mode}: ${r.failed}`, '');
    for (const n of new Set(gpu.map((r) => r.notes).filter(Boolean))) out.push(`${n}.`, '');
  }
  if (level === 'c') out.push('![ms per step at level c](performance.svg)', '');
  if (level === 'd') out.push(...levelD(all));
}
writeFileSync('docs/performance.md', `${out.join('\n')}\n`);
console.log('wrote docs/performance.md');
