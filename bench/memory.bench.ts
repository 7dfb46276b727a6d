// What runs need in memory today, measured, beside what src/model/memory-plan.ts plans for them. Not a test: it
// prints figures (and with --out writes them as JSON). Each case runs the CLI in a child process under
// bench/memory-probe.mjs, which records the kernel's VmHWM (peak resident memory), TF.js's tensor bytes and the wasm
// heap's size as they grow, and the code that made each new high; the figures are then grouped by the phase of the
// run that reached them (loading the weights, their processing, the SAE check, the feature attribution, the step).
//   npx tsx bench/memory.bench.ts [--cases a,b,b8,c8] [--steps 2] [--out FILE] [--ceiling] [--calibrate]
// Cases: a  `unclamp run --scenario ioi` (the built-in model)
//        b  `unclamp run --scenario paper-ioi --model DIR --sae DIR` at GPT-2 small's real size (random weights and a
//           random 24,576-feature SAE at blocks.4.hook_resid_pre, written under os.tmpdir() by bench/memory-fixtures.ts)
//        b8 the same on 8 prompts (--n 8), c8 the same on the cpu backend (--backend cpu --n 8: the wasm heap's part)
//        p  `unclamp run --prompts` at pythia-70m-deduped's real size (random float16 weights, a random 32,768-feature
//           SAE at blocks.3.hook_resid_post, 64 prompts)
// --ceiling: how large a tensor, and how many 256 MiB tensors, TF.js's wasm backend accepts (in child processes).
// --calibrate: the tensor bytes a GPT-2 layer holds at the height of a backward pass, per row (the whole residual)
//   and per prompt (one row after a cached prefix), on wasm, against ACTIVATION_FLOATS.gpt2 in src/model/memory-plan.ts:
//   d_model 768 at 15 and 30 tokens, 512 at 15, and 512 with MLPs of 2 and 8 × d_model (the d_mlp slope).
// The machine's other work changes the times, not the memory: run one case at a time (the script does).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Tensor } from '@tensorflow/tfjs-core';
import { formatBytes } from '../src/core/format.ts';
import { ACTIVATION_FLOATS, planRun, type RunShape } from '../src/model/memory-plan.ts';
import { MODEL_SHAPES } from '../src/model/published.ts';
import { mulberry32, normals } from '../src/core/rng.ts';
import { writeSaeLensFolder } from '../src/io/saelens.ts';
import { PUBLISHED_CONFIGS } from '../src/model/published.ts';
import { NEOX_SIZES, neoxCheckpoint } from './families.ts';
import { writeGpt2SmallFolders } from './memory-fixtures.ts';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: 'a,b' },
    steps: { type: 'string', default: '2' },
    out: { type: 'string' },
    ceiling: { type: 'boolean', default: false },
    'ceiling-child': { type: 'string' },
    calibrate: { type: 'boolean', default: false },
    'calibrate-child': { type: 'string' },
  },
});

const MiB = 2 ** 20;
const mib = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
const ROOT = path.resolve(import.meta.dirname, '..');

// ---- The wasm ceiling, in a child process per trial (a failed allocation leaves the heap unusable) ----

async function ceilingChild(spec: string): Promise<void> {
  const [mode, size] = spec.split(':');
  await import('@tensorflow/tfjs');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const { createRequire } = await import('node:module');
  const req = createRequire(import.meta.url);
  wasm.setWasmPaths(`${path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm/package.json'))}/dist/`);
  const tf = await import('@tensorflow/tfjs-core');
  tf.env().set('PROD', true);
  await tf.setBackend('wasm');
  const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
  const n = (Number(size) * MiB) / 4;
  const lastValue = async (t: Tensor) => {
    const s = tf.slice(t, [n - 1], [1]);
    const v = (await s.data())[0];
    s.dispose();
    return v;
  };
  if (mode === 'single') {
    const t = tf.fill([n], 1.5);
    console.log(JSON.stringify({ mode, mib: Number(size), ok: (await lastValue(t)) === 1.5, heap: heap() }));
    return;
  }
  if (mode === 'guard') {
    // The guard the engine installs wherever it starts wasm (src/engine/wasm-malloc-guard.ts).
    const { guardWasmMalloc } = await import('../src/engine/wasm-malloc-guard.ts');
    if (!guardWasmMalloc()) throw new Error('the guard was not installed');
    const kept: Tensor[] = [];
    let error = '';
    try {
      for (let i = 0; i < 24; i++) kept.push(tf.fill([n], i + 0.5));
    } catch (e) {
      error = (e as Error).message;
    }
    const after = tf.add(tf.scalar(1), tf.scalar(2));
    const usable = (await after.data())[0] === 3;
    console.log(
      JSON.stringify({ mode, mib: Number(size), made: kept.length, error, usable, heap: heap(), tensorBytes: tf.memory().numBytes }),
    );
    return;
  }
  // Tensors of `size` MiB, each filled with its own value, until the heap stops growing; then read every one back.
  const kept: Tensor[] = [];
  let lastHeap = 0;
  let grownTo = 0;
  for (let i = 0; i < 24; i++) {
    kept.push(tf.fill([n], i + 0.5));
    if (heap() > lastHeap) grownTo = kept.length;
    lastHeap = heap();
    // A line per tensor: the process may abort ("memory access out of bounds") before the summary.
    console.log(
      JSON.stringify({
        mode,
        mib: Number(size),
        made: kept.length,
        heapGrewUntil: grownTo,
        heap: heap(),
        tensorBytes: tf.memory().numBytes,
      }),
    );
  }
  let intact = 0;
  for (let i = 0; i < kept.length; i++) {
    const d = await kept[i].data();
    if (d[0] === i + 0.5 && d[d.length - 1] === i + 0.5) intact++;
  }
  console.log(
    JSON.stringify({
      mode,
      mib: Number(size),
      made: kept.length,
      heapGrewUntil: grownTo,
      intact,
      heap: heap(),
      tensorBytes: tf.memory().numBytes,
    }),
  );
}

function ceiling(): Record<string, unknown>[] {
  const trials = ['single:2047', 'single:2048', 'single:3072', 'single:4095', 'many:256', 'guard:256'];
  const out: Record<string, unknown>[] = [];
  for (const t of trials) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/memory.bench.ts'), '--ceiling-child', t], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 300_000,
    });
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    const why = (r.stderr.split('\n').find((l) => /^(\w*Error\b|Aborted)/.test(l)) ?? `exit ${r.status}`).slice(0, 200);
    const rec = line.startsWith('{') ? JSON.parse(line) : { trial: t, failed: why };
    if (r.status !== 0 && rec.mode) rec.crashed = why;
    out.push(rec);
    if (rec.mode === 'single')
      console.log(`wasm: one tensor of ${rec.mib} MiB: ${rec.ok ? 'accepted' : 'WRONG VALUE'}, heap ${mib(rec.heap)}`);
    else if (rec.mode === 'many' && rec.crashed)
      console.log(
        `wasm: tensors of ${rec.mib} MiB: the heap grew until tensor ${rec.heapGrewUntil} (${mib(rec.heap)}); tf.memory() then said ${mib(rec.tensorBytes)} after ${rec.made} "successful" allocations, and the process died: ${rec.crashed}`,
      );
    else if (rec.mode === 'many')
      console.log(
        `wasm: ${rec.made} tensors of ${rec.mib} MiB made (tf.memory() says ${mib(rec.tensorBytes)}); the heap grew until tensor ${rec.heapGrewUntil} (${mib(rec.heap)}); ${rec.intact} of ${rec.made} read back intact — past the heap, allocations silently alias`,
      );
    else if (rec.mode === 'guard')
      console.log(
        `wasm with a guard on _malloc: ${rec.made} tensors of ${rec.mib} MiB made, then "${rec.error}"; the backend ${rec.usable ? 'still works' : 'is broken'}`,
      );
    else console.log(`wasm trial ${t} failed: ${rec.failed}`);
  }
  return out;
}

// ---- Calibration: what a GPT-2 layer holds at the height of a backward pass ----

/** The modules the calibration reads, by path in variables: src/model is being reorganised, and this is a bench. */
interface CalibrationModules {
  initNodeBackend(b: 'wasm', o: { threads: number }): Promise<unknown>;
  randomGpt2(
    config: Record<string, number>,
    seed: number,
  ): {
    runToHook(ids: number[][], hook: string): Tensor;
    residualFrom(hook: string, x: Tensor): Tensor;
    dispose(): void;
  };
  HookOnward: { create(model: unknown, hook: string, prefix: Tensor): { residual(x: Tensor): Tensor; dispose(): void } };
}

async function calibrateChild(spec: string): Promise<void> {
  const [d, T, F = 4 * d] = spec.split(':').map(Number);
  const paths = ['../src/engine/node-backend.ts', '../src/model/families/gpt2/load.ts', '../src/model/hook-onward.ts'];
  const [nb, load, onwardMod] = await Promise.all(paths.map((p) => import(p)));
  const m = { ...nb, ...load, ...onwardMod } as CalibrationModules;
  await m.initNodeBackend('wasm', { threads: 1 });
  const tf = await import('@tensorflow/tfjs-core');
  const engine = (globalThis as unknown as { _tfengine: { state: { numBytes: number }; trackTensor: (...a: unknown[]) => unknown } })
    ._tfengine;
  let peak = 0;
  const track = engine.trackTensor.bind(engine);
  engine.trackTensor = (...a: unknown[]) => {
    const r = track(...a);
    peak = Math.max(peak, engine.state.numBytes);
    return r;
  };
  const N = 8;
  const L = 12;
  const hookLayer = 4;
  const hook = `blocks.${hookLayer}.hook_resid_pre`;
  const model = m.randomGpt2({ nLayer: L, nHead: d / 64, dModel: d, nCtx: 1024, vocabSize: 50257, lnEps: 1e-5 }, 1);
  if (F !== 4 * d) {
    // Another MLP width: the blocks' W_in, b_in, W_out replaced (GPT-2's forward reads the width from W_in).
    const blocks = (model as unknown as { weights: { blocks: Record<string, Tensor>[] } }).weights.blocks;
    blocks.forEach((b, i) => {
      tf.dispose([b.W_in, b.b_in, b.W_out]);
      b.W_in = tf.randomNormal([d, F], 0, 0.02, 'float32', 100 + i);
      b.b_in = tf.zeros([F]);
      b.W_out = tf.randomNormal([F, d], 0, 0.02, 'float32', 200 + i);
    });
  }
  const ids = Array.from({ length: N }, (_, i) => Array.from({ length: T }, (_, t) => (i * 31 + t * 7) % 50257));
  const h = tf.tidy(() => model.runToHook(ids, hook));
  const measure = (f: (x: Tensor) => Tensor, x: Tensor) => {
    tf.dispose(tf.tidy(() => tf.grad((y: Tensor) => tf.sum(f(y)))(x))); // makes the kept transposes first
    const base = engine.state.numBytes;
    peak = base;
    tf.dispose(tf.tidy(() => tf.grad((y: Tensor) => tf.sum(f(y)))(x)));
    return (peak - base) / 4 / (L - hookLayer);
  };
  const whole = measure((x) => model.residualFrom(hook, x), h) / (N * T);
  const onward = m.HookOnward.create(model, hook, tf.slice(h, [0, 0, 0], [N, T - 1, d]));
  const perPrompt = measure((x) => onward.residual(x), tf.slice(h, [0, T - 1, 0], [N, 1, d])) / N;
  console.log(JSON.stringify({ d, T, F, wholePerRow: whole, onwardPerPrompt: perPrompt }));
}

function calibrate(): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  // [d, T, d_mlp]: GPT-2 small's width at two prompt lengths, a narrower model, and two more MLP widths (its slope).
  for (const [d, T, F] of [
    [768, 15, 3072],
    [768, 30, 3072],
    [512, 15, 2048],
    [512, 15, 1024],
    [512, 15, 4096],
  ]) {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'bench/memory.bench.ts'), '--calibrate-child', `${d}:${T}:${F}`],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 900_000,
      },
    );
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    if (!line.startsWith('{')) {
      console.log(`calibration d ${d}, T ${T}, d_mlp ${F} failed: ${(r.stderr || `exit ${r.status}`).split('\n').slice(0, 3).join(' ')}`);
      continue;
    }
    const rec = JSON.parse(line) as { wholePerRow: number; onwardPerPrompt: number };
    const shape = { ...MODEL_SHAPES['gpt2-small'], dModel: d, nHead: d / 64, nKvHeads: d / 64, dMlp: F };
    const a = ACTIVATION_FLOATS.gpt2;
    const plannedWhole = a.perRow(shape, T);
    const plannedOnward = a.perRow(shape, T) + a.perPrompt(shape, T);
    console.log(
      `calibration d ${d}, T ${T}, d_mlp ${F}: the whole residual ${rec.wholePerRow.toFixed(0)} values a row and layer (plan ${plannedWhole}, ${((100 * plannedWhole) / rec.wholePerRow - 100).toFixed(1)}%); one row after the cache ${rec.onwardPerPrompt.toFixed(0)} a prompt and layer (plan ${plannedOnward}, ${((100 * plannedOnward) / rec.onwardPerPrompt - 100).toFixed(1)}%)`,
    );
    out.push({ d, T, F, ...rec, plannedWhole, plannedOnward });
  }
  return out;
}

// ---- The CLI under the probe ----

interface High {
  ms: number;
  bytes: number;
  tensorBytes?: number;
  where: string;
}
interface ProbeRecord {
  vmHWM: number;
  vmRSS: number;
  peakTensorBytes: number;
  wasmHeapBytes: number;
  ms: number;
  tensorHighs: High[];
  rssHighs: High[];
  heapSteps: High[];
}

/** The phase a stack of the project's frames (innermost first) belongs to: the first that names one. */
const PHASES: [RegExp, string][] = [
  [/attribution/, 'feature attribution'],
  [/sae-check/, 'SAE check'],
  [/process\.ts/, 'weight processing'],
  [/core\/site\.ts/, 'site (baseline forwards)'],
  [/core\/recovery\.ts|projection/, 'optimiser'],
  [/saelens|sae-folder|core\/sae\.ts/, 'SAE upload'],
  [/model\/.*load\.ts|checkpoint|safetensors|weights16/, 'weights upload'],
  [/hook-onward|layers\.ts|families\/.*model\.ts|model\/gpt2\.ts/, 'model forward (residual at the hook, onward cache)'],
  [/scenarios\/model\.ts/, 'residual at the hook'],
];
const phaseOf = (where: string) => PHASES.find(([re]) => re.test(where))?.[1] ?? (where ? `other (${where.split(' < ')[0]})` : 'other');

function summarise(r: ProbeRecord): { phase: string; tensorPeak: number; rssPeak: number; heapAfter: number }[] {
  const byPhase = new Map<string, { tensorPeak: number; rssPeak: number; heapAfter: number }>();
  const get = (p: string) => {
    const e = byPhase.get(p) ?? { tensorPeak: 0, rssPeak: 0, heapAfter: 0 };
    byPhase.set(p, e);
    return e;
  };
  for (const h of r.tensorHighs) get(phaseOf(h.where)).tensorPeak = Math.max(get(phaseOf(h.where)).tensorPeak, h.bytes);
  for (const h of r.rssHighs) get(phaseOf(h.where)).rssPeak = Math.max(get(phaseOf(h.where)).rssPeak, h.bytes);
  for (const h of r.heapSteps) get(phaseOf(h.where)).heapAfter = Math.max(get(phaseOf(h.where)).heapAfter, h.bytes);
  return [...byPhase.entries()].map(([phase, e]) => ({ phase, ...e }));
}

function runCli(name: string, args: string[]): { probe: ProbeRecord; wallS: number; stdout: string } {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'unclamp-memory-')), 'probe.json');
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', './bench/memory-probe.mjs', 'bin/unclamp.js', 'run', ...args, '--quiet'], {
    cwd: ROOT,
    env: { ...process.env, MEMORY_PROBE_OUT: out },
    encoding: 'utf8',
    maxBuffer: 64 * MiB,
  });
  const wallS = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${name}: unclamp run exited ${r.status}: ${r.stderr.split('\n').slice(-5).join('\n')}`);
  return { probe: JSON.parse(readFileSync(out, 'utf8')) as ProbeRecord, wallS, stdout: r.stdout };
}

interface CaseSpec {
  name: string;
  args: string[];
  plan?: RunShape;
}

const steps = values.steps!;
const cases: Record<string, () => CaseSpec> = {
  a: () => ({ name: 'a: unclamp run --scenario ioi (built-in model)', args: ['--scenario', 'ioi', '--steps', steps] }),
  b: () => paperIoi('b: paper-ioi, GPT-2 small size, wasm, 64 prompts', []),
  b8: () => paperIoi('b8: paper-ioi, GPT-2 small size, wasm, 8 prompts', ['--n', '8'], 8),
  c8: () => paperIoi('c8: paper-ioi, GPT-2 small size, cpu backend, 8 prompts', ['--backend', 'cpu', '--n', '8'], 8, 'cpu'),
  p: () => pythia('p: run --prompts, pythia-70m-deduped size (float16), 32,768-feature SAE at blocks.3.hook_resid_post, wasm, 64 prompts'),
};

/**
 * A pythia-70m-deduped-sized folder (its published config.json, random float16 weights: bench/families.ts's
 * neoxCheckpoint), the tiny GPT-NeoX fixture's tokenizer standing in (only its size is checked against vocab_size),
 * a random SAELens SAE of SAELens's Pythia residual SAEs' shape, and 64 prompts, under os.tmpdir().
 */
function pythia(name: string): CaseSpec {
  const dir = path.join(os.tmpdir(), 'unclamp-memory-fixtures', 'pythia-70m-deduped-random');
  const saeDir = path.join(os.tmpdir(), 'unclamp-memory-fixtures', 'pythia-sae-32768-blocks.3.hook_resid_post');
  const prompts = path.join(os.tmpdir(), 'unclamp-memory-fixtures', 'pythia-prompts.jsonl');
  const { config } = NEOX_SIZES.real;
  if (!existsSync(path.join(dir, 'model.safetensors'))) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(PUBLISHED_CONFIGS['pythia-70m-deduped'], null, 2)}\n`);
    const tiny = path.join(ROOT, 'src/model/__fixtures__/tiny-neox');
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(path.join(tiny, f), path.join(dir, f));
    writeFileSync(path.join(dir, 'model.safetensors'), neoxCheckpoint(config, 1));
  }
  if (!existsSync(path.join(saeDir, 'sae_weights.safetensors'))) {
    mkdirSync(saeDir, { recursive: true });
    const [d, m] = [config.dModel, 32768];
    const rand = mulberry32(2);
    const sae = writeSaeLensFolder(
      {
        architecture: 'standard',
        dIn: d,
        dSae: m,
        applyBDecToInput: true,
        normalizeActivations: 'none',
        centerInput: false,
        hookName: 'blocks.3.hook_resid_post',
      },
      {
        W_enc: normals(rand, d * m).map((x) => x / Math.sqrt(d)),
        b_enc: new Float32Array(m),
        W_dec: normals(rand, m * d).map((x) => x / Math.sqrt(m)),
        b_dec: new Float32Array(d),
      },
    );
    writeFileSync(path.join(saeDir, 'cfg.json'), sae.cfgJson);
    writeFileSync(path.join(saeDir, 'sae_weights.safetensors'), sae.weights);
  }
  const lines = [
    ['The cat sat on the', ' mat', ' cat'],
    ['The dog ran', ' home', ' away'],
    ['When Mary and John went to the store, John gave', ' Mary', ' John'],
  ];
  writeFileSync(
    prompts,
    Array.from({ length: 64 }, (_, i) => lines[i % 3])
      .map(([prompt, target, contrast]) => `${JSON.stringify({ prompt, target, contrast })}\n`)
      .join(''),
  );
  return { name, args: ['--model', dir, '--sae', saeDir, '--prompts', prompts, '--steps', steps] };
}

function paperIoi(name: string, extra: string[], prompts = 64, backend: 'wasm' | 'cpu' = 'wasm'): CaseSpec {
  const f = writeGpt2SmallFolders();
  return {
    name,
    args: ['--scenario', 'paper-ioi', '--model', f.model, '--sae', f.sae, '--steps', steps, ...extra],
    plan: {
      backend,
      hookLayer: 4,
      prompts,
      tokens: 15,
      sae: { dIn: 768, dSae: 24576 },
      loader: 'whole-file',
      fileBytes: f.modelBytes,
    },
  };
}

if (values['ceiling-child']) {
  await ceilingChild(values['ceiling-child']);
  process.exit(0);
}
if (values['calibrate-child']) {
  await calibrateChild(values['calibrate-child']);
  process.exit(0);
}

const results: Record<string, unknown> = {
  machine: `${os.cpus().length} cores, ${formatBytes(os.totalmem())} RAM, Node ${process.version}, load average ${os.loadavg()[0].toFixed(1)} at the start`,
};
if (values.ceiling) results.ceiling = ceiling();
if (values.calibrate) results.calibration = calibrate();
for (const id of values.cases!.split(',').filter(Boolean)) {
  const spec = cases[id]?.();
  if (!spec) throw new Error(`unknown case ${id} (a, b, b8, c8, p)`);
  console.log(`\n${spec.name}\n  unclamp run ${spec.args.join(' ')}`);
  const load0 = os.loadavg()[0];
  const { probe, wallS, stdout } = runCli(spec.name, spec.args);
  // The run's own table: a run that outgrew wasm's heap may have gone on with corrupted tensors, so its numbers matter.
  const table = stdout.split('\n').filter((l) => /^(run |[a-z-]+ (none|encoder|jacobian) )/.test(l));
  for (const l of table) console.log(`  | ${l}`);
  console.log(
    `  peak resident memory (VmHWM) ${mib(probe.vmHWM)}; peak tensor memory ${mib(probe.peakTensorBytes)}; wasm heap at the end ${mib(probe.wasmHeapBytes)} (never shrinks); ${wallS.toFixed(0)} s (load average ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)})`,
  );
  const phases = summarise(probe);
  for (const p of phases)
    console.log(
      `    ${p.phase.padEnd(28)} tensors up to ${mib(p.tensorPeak).padStart(9)}   RSS up to ${mib(p.rssPeak).padStart(9)}   heap grown to ${mib(p.heapAfter).padStart(9)}`,
    );
  let planned: Record<string, number> | undefined;
  if (spec.plan) {
    const plan = planRun(MODEL_SHAPES['gpt2-small'], spec.plan);
    planned = { devicePeak: plan.device.peak, hostTotal: plan.host.total, ...plan.device.phases };
    console.log(
      `  memory-plan (the planned design: onward layers only, lazy reading): device peak ${mib(plan.device.peak)} (${plan.device.peakPhase}), host ${mib(plan.host.total)}`,
    );
  }
  results[id] = {
    name: spec.name,
    args: spec.args,
    wallS,
    probe: { ...probe, tensorHighs: undefined, rssHighs: undefined, heapSteps: undefined },
    phases,
    planned,
  };
}
if (values.out) {
  writeFileSync(values.out, `${JSON.stringify(results, null, 1)}\n`);
  console.log(`\nwrote ${values.out}`);
}
