// Speed of the recovery loop on the backends available in Node, for a GPT-2-small-sized case:
// N = 64 samples, d = 768, d_sae = 24,576, |S| = 64, δ at one position per sample, a linear probe behaviour.
// Prints ms per step, steps/s and the FLOPs a step implies, per mode, for the optimiser step alone and for
// a metrics read-out (which re-encodes with the full SAE for the residual norm); and, when Debian's
// python3-torch is present, the same loop in PyTorch (bench/reference/recovery_ref.py) and the ratio.
// The measured body is bench/levels.ts's benchProbe, which Chromium runs too (bench/browser.bench.ts).
//   npm run bench [-- --backends wasm,cpu --steps 20 --modes none,encoder,jacobian]
import '../scripts/lib/clean-errors.ts';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ProjectionMode } from '../src/core/options.ts';
import type { NodeBackend } from '../src/engine/node-backend.ts';
import { benchProbe, PROBE_DEFAULTS, type ProbeOptions, probeCase, probeMetricsFlops } from './levels.ts';
import { labelThreads, nodeHost, startBenchBackend, THREADS_OPTION } from './node-host.ts';
import { type BenchRecord, OUT_OPTION, printTable, RATE_HEADER, rateCells, writeRecords } from './results.ts';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'wasm,cpu' },
    modes: { type: 'string', default: PROBE_DEFAULTS.modes.join(',') },
    steps: { type: 'string', default: String(PROBE_DEFAULTS.steps) },
    n: { type: 'string', default: String(PROBE_DEFAULTS.n) },
    d: { type: 'string', default: String(PROBE_DEFAULTS.d) },
    m: { type: 'string', default: String(PROBE_DEFAULTS.m) },
    s: { type: 'string', default: String(PROBE_DEFAULTS.s) },
    'no-torch': { type: 'boolean', default: false },
    ...OUT_OPTION,
    ...THREADS_OPTION,
  },
});
const o: ProbeOptions = {
  n: Number(values.n),
  d: Number(values.d),
  m: Number(values.m),
  s: Number(values.s),
  steps: Number(values.steps),
  modes: values.modes!.split(',') as ProjectionMode[],
};

/** The wasm thread count, and so PyTorch's (the first backend started sets it). */
let threads = 1;

async function benchBackend(backend: NodeBackend): Promise<BenchRecord[]> {
  const got = await startBenchBackend(backend, values.threads);
  if (got.backend !== backend) {
    console.error(`skipping ${backend}: ${got.reason}`);
    return [];
  }
  if (backend === 'wasm') threads = got.threads;
  return labelThreads(await benchProbe(nodeHost, o), got);
}

/** The PyTorch rows, as records of this level. */
function torchReference(): BenchRecord[] {
  const script = path.join(import.meta.dirname, 'reference/recovery_ref.py');
  if (values['no-torch'] || !existsSync('/usr/bin/python3')) return [];
  const r = spawnSync(
    '/usr/bin/python3',
    [
      script,
      '--n',
      String(o.n),
      '--d',
      String(o.d),
      '--m',
      String(o.m),
      '--s',
      String(o.s),
      '--steps',
      String(o.steps),
      '--modes',
      o.modes.join(','),
      '--threads',
      String(threads),
    ],
    { encoding: 'utf8', timeout: 600_000 },
  );
  if (r.status !== 0) {
    console.error(`PyTorch reference not run: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
    return [];
  }
  if (r.stderr.trim()) console.error(r.stderr.trim());
  const rows = JSON.parse(r.stdout) as {
    backend: string;
    mode: string;
    msPerStep: number;
    stepsPerSec: number;
    gflopPerStep: number;
    gflopsAchieved: number;
    msMetrics: number;
    peakTfMB: number;
    rssMB: number;
    matmulPeakGflops: number;
  }[];
  return rows.map((t) => ({
    level: 'a',
    case: probeCase(o),
    impl: 'torch',
    backend: t.backend,
    mode: t.mode,
    msPerStep: t.msPerStep,
    stepsPerSec: t.stepsPerSec,
    gflopPerStep: t.gflopPerStep,
    gflops: t.gflopsAchieved,
    peakMB: t.peakTfMB,
    rssMB: t.rssMB,
    extra: { metricsMs: t.msMetrics, matmulPeakGflops: t.matmulPeakGflops },
  }));
}

const records: BenchRecord[] = [];
for (const b of values.backends!.split(',') as NodeBackend[]) records.push(...(await benchBackend(b)));
const ref = torchReference();
records.push(...ref);

console.log(`\nrecovery loop, ${probeCase(o)}, ${o.steps} timed steps (Node ${process.version}, ${process.arch})\n`);
const header = ['backend', 'mode', ...RATE_HEADER, 'vs torch', 'metrics read-out ms', 'TF.js MB', 'RSS MB'];
const table = records.map((r) => {
  const t = ref.find((x) => x.mode === r.mode);
  return [
    r.backend,
    r.mode,
    ...rateCells(r, true),
    t && r.impl !== 'torch' ? `${(r.msPerStep / t.msPerStep).toFixed(2)}×` : '—',
    Number(r.extra?.metricsMs).toFixed(0),
    String(r.peakMB || '—'),
    String(r.rssMB),
  ];
});
printTable(header, table);
console.log(
  `\nmetrics read-out ≈ ${(probeMetricsFlops(o) / 1e9).toFixed(2)} GFLOP (full encode + decode of N·P rows for ‖e(h_rec)‖); "vs torch" = ms/step ÷ PyTorch's ms/step (same loop, CPU, OpenBLAS on the wasm backend's thread count).`,
);
writeRecords('a', records, values.out);
