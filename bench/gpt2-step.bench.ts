// A recovery step at the paper's IOI size: random weights of GPT-2 small's shapes (12 layers, d 768, vocabulary
// 50,257), 64 prompts × 15 tokens, δ shared at the last position of blocks.4.hook_resid_pre, a 24,576-feature
// SAE with 64 defended features, B = a logit difference at the last position. Times Unclamp's step with B from
// the hook onward (earlier positions' keys and values cached, two unembedding columns) against the same step
// on every position from the hook (hookOnward off), and, when Debian's python3-torch is present, PyTorch on
// the same machine in two shapes (bench/reference/gpt2_step_ref.py): the same hook-onward step, and the paper
// pipeline's (the whole model from the embeddings and all 50,257 logits every step).
// The measured body is bench/levels.ts's benchGpt2Step, which Chromium runs too (bench/browser.bench.ts).
//   npm run bench:gpt2 [-- --steps 5 --n 64 --variants onward,from-hook --no-torch]
import '../scripts/lib/clean-errors.ts';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ProjectionMode } from '../src/core/options.ts';
import {
  benchGpt2Step,
  GPT2_DEFAULTS,
  GPT2_HOOK,
  type Gpt2StepOptions,
  type Gpt2Variant,
  gpt2PaperFlops,
  gpt2StepFlops,
  PEAK_N,
} from './levels.ts';
import { labelThreads, nodeHost, startBenchBackend, THREADS_OPTION } from './node-host.ts';
import { type BenchRecord, perPromptRatio, printTable, RATE_HEADER, OUT_OPTION, rateCells, writeRecords } from './results.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: String(GPT2_DEFAULTS.n) },
    t: { type: 'string', default: String(GPT2_DEFAULTS.t) },
    steps: { type: 'string', default: String(GPT2_DEFAULTS.steps) },
    modes: { type: 'string', default: GPT2_DEFAULTS.modes.join(',') },
    variants: { type: 'string', default: GPT2_DEFAULTS.variants.join(',') },
    'from-hook-n': { type: 'string', default: String(GPT2_DEFAULTS.fromHookN) },
    'no-torch': { type: 'boolean', default: false },
    ...OUT_OPTION,
    ...THREADS_OPTION,
  },
});
const o: Gpt2StepOptions = {
  n: Number(values.n),
  t: Number(values.t),
  steps: Number(values.steps),
  modes: values.modes!.split(',') as ProjectionMode[],
  variants: values.variants!.split(',') as Gpt2Variant[],
  fromHookN: Number(values['from-hook-n']),
};
const { n: N, t: T, steps: STEPS, modes } = o;

function torchReference(): BenchRecord[] {
  const script = path.join(import.meta.dirname, 'reference/gpt2_step_ref.py');
  if (values['no-torch'] || !existsSync('/usr/bin/python3')) return [];
  const r = spawnSync(
    '/usr/bin/python3',
    [script, '--n', String(N), '--t', String(T), '--steps', String(STEPS), '--modes', modes.join(','), '--threads', String(got.threads)],
    {
      encoding: 'utf8',
      timeout: 1_200_000,
    },
  );
  if (r.status !== 0) {
    console.error(`PyTorch reference not run: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
    return [];
  }
  if (r.stderr.trim()) console.error(r.stderr.trim());
  // The same FLOP count as ours for the same shape of step, so GFLOP/s line up.
  return (JSON.parse(r.stdout) as BenchRecord[]).map((t) => {
    const f = (t.impl === 'torch onward' ? gpt2StepFlops(o, 'onward') : gpt2PaperFlops(o)) / 1e9;
    return { ...t, gflopPerStep: f, gflops: f / (t.msPerStep / 1000) };
  });
}

// A variant that runs out of memory becomes a failed record (bench/levels.ts), the rest is still measured, and
// PyTorch (its own process) still runs.
const got = await startBenchBackend('wasm', values.threads);
const ours = labelThreads(await benchGpt2Step(nodeHost, o), got);
const ref = torchReference();
const all = [...ours, ...ref];
console.log(
  `\nGPT-2-small-shaped recovery step: ${N} prompts × ${T} tokens, δ shared at the last position of ${GPT2_HOOK}, ${STEPS} timed steps\n`,
);
const header = ['impl', 'backend', 'mode', ...RATE_HEADER, 'vs torch onward', 'vs torch paper', 'peak MB', 'RSS MB'];
const vs = (r: BenchRecord, impl: string) => {
  const t = ref.find((x) => x.impl === impl && x.mode === r.mode);
  return t && r.impl !== impl && !r.failed ? `${perPromptRatio(r, t).toFixed(2)}×` : '—';
};
const table = all.map((r) => [
  r.impl,
  r.backend,
  r.mode,
  ...rateCells(r),
  vs(r, 'torch onward'),
  vs(r, 'torch paper-pipeline'),
  String(r.peakMB),
  String(r.rssMB),
]);
printTable(header, table);
console.log(
  '\n"vs torch …" = ms per step and prompt ÷ PyTorch\'s, same mode (< 1: Unclamp is faster; the whole-residual step runs fewer prompts).',
);
const peaks = [
  ...new Set(all.filter((r) => r.extra?.matmulPeakGflops).map((r) => `${r.backend} ${Number(r.extra?.matmulPeakGflops).toFixed(1)}`)),
];
console.log(`"% of peak" = GFLOP/s ÷ the backend's own ${PEAK_N}³ matMul GFLOP/s (${peaks.join(', ')}).`);

writeRecords('c', all, values.out);
