// Speed of the recovery loop on the backends available in Node, for a GPT-2-small-sized case:
// N = 64 samples, d = 768, d_sae = 24,576, |S| = 64, δ at one position per sample, a linear probe behaviour.
// Prints ms per step, steps/s and the FLOPs a step implies, per mode, for the optimiser step alone and for
// a metrics read-out (which re-encodes with the full SAE for the residual norm); and, when Debian's
// python3-torch is present, the same loop in PyTorch (bench/reference/recovery_ref.py) and the ratio.
//   npm run bench [-- --backends wasm,cpu --steps 20 --modes none,encoder,jacobian]
import '../scripts/lib/clean-errors.ts';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { tf } from '../src/core/tf.ts';
import { initNodeBackend, type NodeBackend } from '../src/engine/node-backend.ts';
import { Sae, type SaeConfig } from '../src/core/sae.ts';
import { parseClampRule } from '../src/core/clamp.ts';
import { RecoverySite } from '../src/core/site.ts';
import { RecoveryRun, type ProjectionMode } from '../src/core/recovery.ts';
import { mulberry32, normals } from '../src/core/rng.ts';
import { probeBehaviour } from '../src/scenarios/probe.ts';
import { printTable, writeRecords } from './results.ts';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'wasm,cpu' },
    modes: { type: 'string', default: 'none,encoder,jacobian' },
    steps: { type: 'string', default: '20' },
    n: { type: 'string', default: '64' },
    d: { type: 'string', default: '768' },
    m: { type: 'string', default: '24576' },
    s: { type: 'string', default: '64' },
    'no-torch': { type: 'boolean', default: false },
  },
});
const N = Number(values.n),
  D = Number(values.d),
  M = Number(values.m),
  S = Number(values.s);
const STEPS = Number(values.steps);
const modes = values.modes!.split(',') as ProjectionMode[];

function flopsPerStep(mode: ProjectionMode): number {
  const base = 4 * N * D + 14 * N * D; // probe forward/backward + Adam, clip
  if (mode === 'none') return base;
  if (mode === 'encoder') return base + 4 * N * D * S; // g − (gA)B
  // Exact Jacobian rows: live mask from pre_S (2NDS), masked Gram systems solved by Gauss–Jordan (2·N·S²(S+1)),
  // right-hand side and back-projection (4NDS).
  return base + 2 * N * D * S + 2 * N * S * S * (S + 1) + 4 * N * D * S;
}
const metricsFlops = 2 * 2 * N * D * M + 4 * N * D * S; // full encode + decode for ‖e(h_rec)‖, plus z_S

function mb(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0);
}

async function makeCase() {
  const rand = mulberry32(1234);
  const cfg: SaeConfig = {
    architecture: 'standard',
    dIn: D,
    dSae: M,
    applyBDecToInput: true,
    normalizeActivations: 'none',
    centerInput: false,
  };
  const W_dec = normals(rand, M * D).map((v) => v / Math.sqrt(D));
  const W_enc = new Float32Array(D * M);
  for (let f = 0; f < M; f++) for (let j = 0; j < D; j++) W_enc[j * M + f] = W_dec[f * D + j];
  const sae = Sae.create(cfg, { W_enc, W_dec, b_enc: new Float32Array(M).fill(-0.05), b_dec: new Float32Array(D) });
  const h = normals(rand, N * D);
  const features = Array.from({ length: S }, (_, i) => i * 7);
  const w = new Float32Array(D);
  for (const f of features) for (let j = 0; j < D; j++) w[j] += W_dec[f * D + j];
  const acts = { n: N, t: 1, mask: new Float32Array(N).fill(1) };
  const pb = probeBehaviour({ d: D, classes: 1, w, b: new Float32Array([0]) }, 0, acts);
  const hT = tf.tensor3d(h, [N, 1, D]);
  const site = await RecoverySite.create({
    sae,
    features,
    clamp: parseClampRule('zero'),
    h: hT,
    positions: Array.from({ length: N }, () => [0]),
    behaviour: pb.behaviour,
  });
  hT.dispose();
  return {
    site,
    dispose: () => {
      site.dispose();
      pb.dispose();
      sae.dispose();
    },
  };
}

interface Row {
  backend: string;
  mode: string;
  msPerStep: number;
  stepsPerSec: number;
  gflopPerStep: number;
  gflopsAchieved: number;
  msMetrics: number;
  peakTfMB: number;
  rssMB: number;
}

async function benchBackend(backend: NodeBackend): Promise<Row[]> {
  const got = await initNodeBackend(backend);
  if (got.backend !== backend) {
    console.error(`skipping ${backend}: ${got.reason}`);
    return [];
  }
  const { site, dispose } = await makeCase();
  const rows: Row[] = [];
  for (const mode of modes) {
    const run = await RecoveryRun.create(site, {
      mode,
      steps: STEPS + 2,
      lr: 0.1,
      budget: 20,
      jacobian: { exactMaxRows: 256, probes: 8, correctionSteps: 0, correctionLr: 0 },
    });
    run.stepOnce(); // warm-up: kernels compiled, buffers allocated
    await run.deltaValues();
    const t0 = performance.now();
    for (let i = 0; i < STEPS; i++) run.stepOnce();
    await run.deltaValues(); // wait for queued work
    const ms = (performance.now() - t0) / STEPS;
    const m0 = performance.now();
    await run.sampleMetrics();
    const msMetrics = performance.now() - m0;
    const f = flopsPerStep(mode);
    rows.push({
      backend,
      mode,
      msPerStep: ms,
      stepsPerSec: 1000 / ms,
      gflopPerStep: f / 1e9,
      gflopsAchieved: f / 1e9 / (ms / 1000),
      msMetrics,
      peakTfMB: Number(mb(tf.memory().numBytes)),
      rssMB: Number(mb(process.memoryUsage().rss)),
    });
    run.dispose();
  }
  dispose();
  return rows;
}

function torchReference(): Row[] {
  const script = path.join(import.meta.dirname, 'reference/recovery_ref.py');
  if (values['no-torch'] || !existsSync('/usr/bin/python3')) return [];
  const r = spawnSync(
    '/usr/bin/python3',
    [script, '--n', String(N), '--d', String(D), '--m', String(M), '--s', String(S), '--steps', String(STEPS), '--modes', modes.join(',')],
    { encoding: 'utf8', timeout: 600_000 },
  );
  if (r.status !== 0) {
    console.error(`PyTorch reference not run: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
    return [];
  }
  if (r.stderr.trim()) console.error(r.stderr.trim());
  return JSON.parse(r.stdout) as Row[];
}

const rows: Row[] = [];
for (const b of values.backends!.split(',') as NodeBackend[]) rows.push(...(await benchBackend(b)));
const ref = torchReference();
rows.push(...ref);

console.log(`\nrecovery loop, N=${N} d=${D} d_sae=${M} |S|=${S}, ${STEPS} timed steps (Node ${process.version}, ${process.arch})\n`);
const header = ['backend', 'mode', 'ms/step', 'steps/s', 'GFLOP/step', 'GFLOP/s', 'vs torch', 'metrics read-out ms', 'TF.js MB', 'RSS MB'];
const table = rows.map((r) => {
  const t = ref.find((x) => x.mode === r.mode);
  return [
    r.backend,
    r.mode,
    r.msPerStep.toFixed(2),
    r.stepsPerSec.toFixed(1),
    r.gflopPerStep.toFixed(4),
    r.gflopsAchieved.toFixed(2),
    t && r.backend !== 'torch' ? `${(r.msPerStep / t.msPerStep).toFixed(2)}×` : '—',
    r.msMetrics.toFixed(0),
    String(r.peakTfMB || '—'),
    String(r.rssMB),
  ];
});
printTable(header, table);
console.log(
  `\nmetrics read-out ≈ ${(metricsFlops / 1e9).toFixed(2)} GFLOP (full encode + decode of N·P rows for ‖e(h_rec)‖); "vs torch" = ms/step ÷ PyTorch's ms/step (same loop, CPU, ${'torch.get_num_threads()'} threads).`,
);
writeRecords(
  'a',
  rows.map((r) => ({
    level: 'a' as const,
    case: `linear probe, N=${N} d=${D} d_sae=${M} |S|=${S}`,
    impl: r.backend === 'torch' ? 'torch' : 'unclamp',
    backend: r.backend,
    mode: r.mode,
    msPerStep: r.msPerStep,
    stepsPerSec: r.stepsPerSec,
    gflopPerStep: r.gflopPerStep,
    gflops: r.gflopsAchieved,
    peakMB: r.peakTfMB,
    rssMB: r.rssMB,
    extra: { metricsMs: r.msMetrics },
  })),
);
