// A recovery step at the paper's IOI size: random weights of GPT-2 small's shapes (12 layers, d 768, vocabulary
// 50,257), 64 prompts × 15 tokens, δ shared at the last position of blocks.4.hook_resid_pre, a 24,576-feature
// SAE with 64 defended features, B = a logit difference at the last position. Times Unclamp's step with B from
// the hook onward (earlier positions' keys and values cached, two unembedding columns) against the same step
// on every position from the hook (hookOnward off), and, when Debian's python3-torch is present, PyTorch on
// the same machine in two shapes (bench/reference/gpt2_step_ref.py): the same hook-onward step, and the paper
// pipeline's (the whole model from the embeddings and all 50,257 logits every step).
//   npm run bench:gpt2 [-- --steps 5 --n 64 --variants onward,from-hook --no-torch]
import '../scripts/lib/clean-errors.ts';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { tf, type Tensor3D } from '../src/core/tf.ts';
import { initNodeBackend } from '../src/engine/node-backend.ts';
import { Sae } from '../src/core/sae.ts';
import { parseClampRule } from '../src/core/clamp.ts';
import { RecoverySite } from '../src/core/site.ts';
import { RecoveryRun, resolveOptions, type ProjectionMode } from '../src/core/recovery.ts';
import { mulberry32, normals } from '../src/core/rng.ts';
import { randomGpt2 } from '../src/model/load.ts';
import { logitBehaviour } from '../src/scenarios/builtin/common.ts';
import { type BenchRecord, mib, perPromptRatio, printTable, RESULTS_PATH, writeRecords } from './results.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '64' },
    t: { type: 'string', default: '15' },
    steps: { type: 'string', default: '5' },
    modes: { type: 'string', default: 'none,encoder' },
    variants: { type: 'string', default: 'onward,from-hook' },
    // The whole-residual step holds every position's activations for the backward pass: 64 prompts of it exceed
    // wasm's memory beside GPT-2 small's weights, so it runs on fewer prompts (ms per step scale with prompts).
    'from-hook-n': { type: 'string', default: '16' },
    'no-torch': { type: 'boolean', default: false },
    out: { type: 'string', default: RESULTS_PATH },
  },
});
const N = Number(values.n);
const T = Number(values.t);
const STEPS = Number(values.steps);
const HOOK_LAYER = 4;
const HOOK = `blocks.${HOOK_LAYER}.hook_resid_pre`;
const config = { nLayer: 12, nHead: 12, dModel: 768, nCtx: 1024, vocabSize: 50257, lnEps: 1e-5 };
const D_SAE = 24576;
const S = 64;
const modes = values.modes!.split(',') as ProjectionMode[];
const variants = values.variants!.split(',') as Variant[];
type Variant = 'onward' | 'from-hook';

/** Forward FLOPs of one transformer layer over `q` query positions attending to `k` keys. */
const layerFlops = (q: number, k: number) => {
  const d = config.dModel;
  return q * (2 * 3 * d * d + 2 * d * d + 2 * 2 * 4 * d * d) + 2 * 2 * q * k * d;
};
const promptsFor = (variant: Variant) => (variant === 'onward' ? N : Math.min(N, Number(values['from-hook-n'])));
/** A step ≈ forward + backward (≈ 2× forward) through the layers after the hook, and the readout. */
function stepFlops(variant: Variant): number {
  const after = config.nLayer - HOOK_LAYER;
  const perPrompt = variant === 'onward' ? layerFlops(1, T) : layerFlops(T, (T + 1) / 2);
  return 3 * promptsFor(variant) * (after * perPrompt + 2 * config.dModel * 2);
}

async function main(records: BenchRecord[]) {
  const got = await initNodeBackend('wasm');
  console.error(`backend ${got.backend}${got.reason ? ` (${got.reason})` : ''}; building the GPT-2-small-shaped case…`);
  const model = randomGpt2(config, 1);
  const rand = mulberry32(7);
  const ids = Array.from({ length: N }, () => Array.from({ length: T }, () => Math.floor(rand() * config.vocabSize)));
  // The residual at the hook, 16 prompts at a time (the activations of a 64-prompt batch are not needed at once).
  const chunks: Tensor3D[] = [];
  for (let i = 0; i < N; i += 16) chunks.push(tf.tidy(() => model.runToHook(ids.slice(i, i + 16), HOOK)));
  const h = tf.concat(chunks, 0) as Tensor3D;
  tf.dispose(chunks);
  const d = config.dModel;
  const W_dec = normals(rand, D_SAE * d).map((v) => v / Math.sqrt(d));
  const W_enc = new Float32Array(d * D_SAE);
  for (let f = 0; f < D_SAE; f++) for (let j = 0; j < d; j++) W_enc[j * D_SAE + f] = W_dec[f * d + j];
  const sae = Sae.create(
    { architecture: 'standard', dIn: d, dSae: D_SAE, applyBDecToInput: true, normalizeActivations: 'none', centerInput: false },
    { W_enc, W_dec, b_enc: new Float32Array(D_SAE).fill(-0.05), b_dec: new Float32Array(d) },
  );
  const at = Array(N).fill(T - 1);
  const terms = at.map((): [number, number][] => [
    [Math.floor(rand() * config.vocabSize), 1],
    [Math.floor(rand() * config.vocabSize), -1],
  ]);
  const b = logitBehaviour(model, HOOK, { at, terms });
  const few = promptsFor('from-hook');
  const bFew = logitBehaviour(model, HOOK, { at: at.slice(0, few), terms: terms.slice(0, few) });
  for (const variant of variants) {
    let peak = tf.memory().numBytes;
    const n = promptsFor(variant);
    const hn = n === N ? h : (tf.slice(h, [0, 0, 0], [n, T, d]) as Tensor3D);
    const site = await RecoverySite.create({
      sae,
      features: Array.from({ length: S }, (_, i) => i * 7),
      clamp: parseClampRule('zero'),
      h: hn,
      positions: at.slice(0, n).map((p) => [p]),
      behaviour: n === N ? b.behaviour : bFew.behaviour,
      hookOnward: variant === 'onward',
    });
    if (hn !== h) hn.dispose();
    for (const mode of modes) {
      const run = await RecoveryRun.create(site, resolveOptions({ mode, steps: STEPS + 1, lr: 0.1, budget: 20, delta: 'shared' }));
      run.stepOnce(); // warm-up: kernels compiled, buffers allocated
      await run.deltaValues();
      const t0 = performance.now();
      for (let i = 0; i < STEPS; i++) {
        run.stepOnce();
        peak = Math.max(peak, tf.memory().numBytes);
      }
      await run.deltaValues();
      const ms = (performance.now() - t0) / STEPS;
      const f = stepFlops(variant);
      records.push({
        level: 'c',
        case: `gpt2-small-shaped IOI step, ${n}×${T}`,
        impl: `unclamp ${variant}`,
        backend: tf.getBackend(),
        mode,
        msPerStep: ms,
        stepsPerSec: 1000 / ms,
        gflopPerStep: f / 1e9,
        gflops: f / 1e9 / (ms / 1000),
        peakMB: mib(peak),
        rssMB: mib(process.memoryUsage().rss),
      });
      console.error(`  ${variant} ${mode}: ${ms.toFixed(0)} ms/step`);
      run.dispose();
    }
    site.dispose();
  }
  b.dispose();
  bFew.dispose();
  sae.dispose();
  h.dispose();
  model.dispose();
  return records;
}

function torchReference(): BenchRecord[] {
  const script = path.join(import.meta.dirname, 'reference/gpt2_step_ref.py');
  if (values['no-torch'] || !existsSync('/usr/bin/python3')) return [];
  const r = spawnSync(
    '/usr/bin/python3',
    [script, '--n', String(N), '--t', String(T), '--steps', String(STEPS), '--modes', modes.join(',')],
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
  return JSON.parse(r.stdout) as BenchRecord[];
}

// A variant that runs out of wasm memory aborts the wasm module: report it, keep what was measured, and still
// run PyTorch (its own process).
const partial: BenchRecord[] = [];
const ours = await main(partial).catch((e: Error) => {
  console.error(`Unclamp's run stopped: ${e.message.split('\n')[0]}`);
  return partial;
});
const ref = torchReference();
const all = [...ours, ...ref];
console.log(
  `\nGPT-2-small-shaped recovery step: ${N} prompts × ${T} tokens, δ shared at the last position of ${HOOK}, ${STEPS} timed steps\n`,
);
const header = [
  'impl',
  'backend',
  'mode',
  'ms/step',
  'steps/s',
  'GFLOP/step',
  'GFLOP/s',
  'vs torch onward',
  'vs torch paper',
  'peak MB',
  'RSS MB',
];
const vs = (r: BenchRecord, impl: string) => {
  const t = ref.find((x) => x.impl === impl && x.mode === r.mode);
  return t && r.impl !== impl ? `${perPromptRatio(r, t).toFixed(2)}×` : '—';
};
const table = all.map((r) => [
  r.impl,
  r.backend,
  r.mode,
  r.msPerStep.toFixed(0),
  r.stepsPerSec.toFixed(2),
  r.gflopPerStep?.toFixed(2) ?? '—',
  r.gflops?.toFixed(1) ?? '—',
  vs(r, 'torch onward'),
  vs(r, 'torch paper-pipeline'),
  String(r.peakMB),
  String(r.rssMB),
]);
printTable(header, table);
console.log(
  '\n"vs torch …" = ms per step and prompt ÷ PyTorch\'s, same mode (< 1: Unclamp is faster; the whole-residual step runs fewer prompts).',
);

writeRecords('c', all, values.out);
