// Level d on Node's wasm (bench/families.ts has the cases): the gemma-2-2b-shaped step at reduced width (float32
// weights widened from random bfloat16 ones), and the pythia-70m-deduped-shaped step at its real size against the
// same hook-onward step in PyTorch on the same machine in the same run (bench/reference/neox_step_ref.py, OpenBLAS
// on as many threads as ours). Pythia's weights are written once (config.json, model.safetensors in float16, the
// case in case.safetensors) and both sides read them; before any time is compared, both compute B at the clamp,
// the loss and its gradient at a probe δ and δ after three steps of each mode, and the script prints how far apart
// they are (and compares no time when they disagree). Then prints the full-size gemma-2-2b run's memory plan
// (src/model/memory-plan.ts: it needs a GPU; nothing is measured at full size here). Records: level d, runner node.
//   npm run bench:families [-- --parts gemma,pythia --gemma-steps 10 --pythia-steps 20 --threads N --no-torch
//                             --wait-load 1.5 --wait-max 600 --dir DIR --size reduced|tiny]
// For a benchmark, unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in the command if the machine sets them.
import '../scripts/lib/clean-errors.ts';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ProjectionMode } from '../src/core/options.ts';
import { formatBytes } from '../src/core/format.ts';
import { type Backend, checkFits, type MemoryPlan } from '../src/model/memory-plan.ts';
import {
  benchGemmaStep,
  buildNeoxCase,
  compareObjectives,
  GEMMA_DEFAULTS,
  GEMMA_SIZES,
  type GemmaSize,
  type GemmaStepOptions,
  gemmaFullPlan,
  loadNeox,
  NEOX_DEFAULTS,
  NEOX_SIZES,
  neoxCase,
  neoxCaseData,
  neoxCaseFile,
  neoxCheckpoint,
  neoxConfigJson,
  type NeoxStepOptions,
  runCase,
  type StepObjective,
  type StepVariant,
  stepObjective,
} from './families.ts';
import { labelThreads, nodeHost, startBenchBackend, THREADS_OPTION } from './node-host.ts';
import { type BenchRecord, OUT_OPTION, perPromptRatio, printTable, RATE_HEADER, rateCells, readRecords, writeRecords } from './results.ts';

const { values } = parseArgs({
  options: {
    parts: { type: 'string', default: 'gemma,pythia' },
    size: { type: 'string', default: GEMMA_DEFAULTS.size },
    'gemma-n': { type: 'string', default: String(GEMMA_DEFAULTS.n) },
    'gemma-t': { type: 'string', default: String(GEMMA_DEFAULTS.t) },
    'gemma-steps': { type: 'string', default: String(GEMMA_DEFAULTS.steps) },
    'gemma-variants': { type: 'string', default: GEMMA_DEFAULTS.variants.join(',') },
    'pythia-n': { type: 'string', default: String(NEOX_DEFAULTS.n) },
    'pythia-t': { type: 'string', default: String(NEOX_DEFAULTS.t) },
    'pythia-steps': { type: 'string', default: String(NEOX_DEFAULTS.steps) },
    'pythia-variants': { type: 'string', default: NEOX_DEFAULTS.variants.join(',') },
    'from-hook-n': { type: 'string' },
    modes: { type: 'string', default: 'none,encoder' },
    /** Where Pythia's weights and case are written (kept); default a temporary folder, removed at the end. */
    dir: { type: 'string' },
    'no-torch': { type: 'boolean', default: false },
    /** Before each timed part, wait for the 1-minute load average to fall below this (--wait-max seconds in all). */
    'wait-load': { type: 'string' },
    'wait-max': { type: 'string', default: '600' },
    ...OUT_OPTION,
    ...THREADS_OPTION,
  },
});
const parts = values.parts!.split(',');
const modes = values.modes!.split(',') as ProjectionMode[];
const CHECK_STEPS = 3;
/** The two sides' objectives must agree this closely (relative to the larger figure) before times are compared. */
const CHECK_TOLERANCE = 1e-3;

const load1 = () => loadavg()[0];
// One budget for all the waiting of a run, so a machine that never settles delays it by --wait-max at most.
const until = Date.now() + 1000 * Number(values['wait-max']);
/** Other work on the machine distorts every figure: wait for it to settle (bounded); the load it ran under. */
async function settle(): Promise<number> {
  if (values['wait-load'] === undefined) return load1();
  const limit = Number(values['wait-load']);
  while (load1() >= limit && Date.now() < until) {
    console.error(`load average ${load1().toFixed(2)} ≥ ${limit}: waiting`);
    await new Promise((r) => setTimeout(r, 15_000));
  }
  return load1();
}
const loadNote = (at: number) => `1-min load average ${at.toFixed(2)} at start`;
const got = await startBenchBackend('wasm', values.threads);
const all: BenchRecord[] = [];

// ---- gemma-2-2b-shaped, reduced ----
if (parts.includes('gemma')) {
  const o: GemmaStepOptions = {
    ...GEMMA_DEFAULTS,
    size: values.size as GemmaSize,
    n: Number(values['gemma-n']),
    t: Number(values['gemma-t']),
    steps: Number(values['gemma-steps']),
    modes,
    variants: values['gemma-variants']!.split(',') as StepVariant[],
    fromHookN: Number(values['from-hook-n'] ?? GEMMA_DEFAULTS.fromHookN),
    weights16: false,
  };
  const at = await settle();
  const records = labelThreads(await benchGemmaStep(nodeHost, o), got);
  all.push(...records.map((r) => ({ ...r, notes: `Node ${process.version}; ${loadNote(at)}` })));
}

// ---- pythia-70m-deduped-shaped, real size, against PyTorch ----
function torch(args: string[]): { ok: true; json: unknown } | { ok: false; error: string } {
  const script = path.join(import.meta.dirname, 'reference/neox_step_ref.py');
  const r = spawnSync('/usr/bin/python3', [script, ...args, '--threads', String(got.threads)], {
    encoding: 'utf8',
    timeout: 1_200_000,
    maxBuffer: 64 * 2 ** 20,
  });
  if (r.stderr?.trim()) console.error(r.stderr.trim());
  if (r.status !== 0) return { ok: false, error: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop() ?? '' };
  return { ok: true, json: JSON.parse(r.stdout) };
}

if (parts.includes('pythia')) {
  const o: NeoxStepOptions = {
    ...NEOX_DEFAULTS,
    n: Number(values['pythia-n']),
    t: Number(values['pythia-t']),
    steps: Number(values['pythia-steps']),
    modes,
    variants: values['pythia-variants']!.split(',') as StepVariant[],
    fromHookN: Number(values['from-hook-n'] ?? NEOX_DEFAULTS.fromHookN),
  };
  const { config, hookLayer } = NEOX_SIZES[o.size];
  const dir = values.dir ?? mkdtempSync(path.join(tmpdir(), 'unclamp-level-d-'));
  mkdirSync(dir, { recursive: true });
  try {
    console.error(`level d: writing random pythia-70m-deduped-shaped weights (float16) and the case to ${dir}`);
    const weights = neoxCheckpoint(config, 1);
    const data = neoxCaseData(o.size, o.n, o.t, 1);
    writeFileSync(path.join(dir, 'config.json'), neoxConfigJson(config));
    writeFileSync(path.join(dir, 'model.safetensors'), weights);
    writeFileSync(path.join(dir, 'case.safetensors'), neoxCaseFile(data));
    const model = await loadNeox(config, weights);
    const c = buildNeoxCase(model, o, data);
    try {
      // The same objective on both sides, before any time is compared.
      let agreed: Record<string, number> | null = null;
      let checkNote = 'not checked against PyTorch';
      const useTorch = !values['no-torch'];
      if (useTorch) {
        console.error('level d: the objective on both sides (B at the clamp, loss and gradient at a probe δ, δ after 3 steps)');
        const ours = await stepObjective(c, 'onward', data.probeDelta, modes, CHECK_STEPS);
        const ref = torch([
          '--dir',
          dir,
          '--hook-layer',
          String(hookLayer),
          '--check',
          '--check-steps',
          String(CHECK_STEPS),
          '--modes',
          modes.join(','),
        ]);
        if (!ref.ok) checkNote = `PyTorch reference not run: ${ref.error}`;
        else {
          agreed = compareObjectives(ours, ref.json as StepObjective);
          console.log('\nUnclamp (wasm) against PyTorch on the same weights: largest difference ÷ largest |PyTorch value|');
          printTable(
            ['B at the clamp', 'loss at probe δ', 'gradient at probe δ', ...modes.map((m) => `δ after ${CHECK_STEPS} steps, ${m}`)],
            [
              [agreed.bDef, agreed.loss, agreed.grad, ...modes.map((m) => agreed?.[`delta ${m}`] ?? Number.NaN)].map((v) =>
                v.toExponential(1),
              ),
            ],
          );
          const worst = Math.max(...Object.values(agreed));
          checkNote =
            worst <= CHECK_TOLERANCE
              ? `objective checked against PyTorch on the same weights: largest relative difference ${worst.toExponential(1)}`
              : `objective differs from PyTorch's (largest relative difference ${worst.toExponential(1)}): times not compared`;
          console.log(checkNote);
          if (worst > CHECK_TOLERANCE) agreed = null;
        }
      }
      const at = await settle();
      const ours = labelThreads(await runCase(nodeHost, c, o), got).map((r) => ({
        ...r,
        extra: { ...r.extra, ...(agreed ? Object.fromEntries(Object.entries(agreed).map(([k, v]) => [`vsTorch ${k}`, v])) : {}) },
        notes: `Node ${process.version}; ${loadNote(at)}; ${checkNote}`,
      }));
      all.push(...ours);
      if (agreed) {
        const tAt = await settle();
        const shapes = o.variants.join(',');
        const ref = torch([
          '--dir',
          dir,
          '--hook-layer',
          String(hookLayer),
          '--steps',
          String(o.steps),
          '--modes',
          modes.join(','),
          '--shapes',
          shapes,
        ]);
        if (!ref.ok) console.error(`PyTorch reference not run: ${ref.error}`);
        else
          all.push(
            ...(ref.json as BenchRecord[]).map((t) => {
              const variant = t.impl.replace(/^torch /, '') as StepVariant;
              const n = variant === 'onward' ? o.n : Math.min(o.n, o.fromHookN);
              const f = c.flops(variant, n) / 1e9;
              return { ...t, case: neoxCase(o.size, n, o.t), gflopPerStep: f, gflops: f / (t.msPerStep / 1000), notes: loadNote(tAt) };
            }),
          );
      }
    } finally {
      c.dispose();
      model.dispose();
    }
  } finally {
    if (!values.dir) rmSync(dir, { recursive: true, force: true });
  }
}

// ---- What was measured ----
const variantOf = (r: BenchRecord) => r.impl.replace(/^(unclamp|torch) /, '');
const vsTorch = (r: BenchRecord) => {
  if (r.impl.startsWith('torch') || r.failed) return '—';
  const t = all.find(
    (x) => x.impl === `torch ${variantOf(r)}` && x.mode === r.mode && x.case.split(' step')[0] === r.case.split(' step')[0],
  );
  return t ? `${perPromptRatio(r, t).toFixed(2)}×` : '—';
};
const num = (v: unknown) => (typeof v === 'number' ? String(v) : '—');
for (const prefix of ['gemma', 'pythia']) {
  const rows = all.filter((r) => r.case.startsWith(prefix));
  if (!rows.length) continue;
  console.log(`\n${rows[0].case.replace(/, \d+×\d+$/, '')}: ${rows[0].notes ?? ''}\n`);
  printTable(
    ['impl', 'backend', 'mode', 'prompts', ...RATE_HEADER, 'vs torch', 'peak MB', 'in-step peak MB', 'planned MB', 'RSS MB'],
    rows.map((r) => [
      r.impl,
      r.backend,
      r.mode,
      String(r.case.match(/(\d+)×\d+$/)?.[1] ?? ''),
      ...rateCells(r, r.msPerStep < 10),
      vsTorch(r),
      String(r.peakMB),
      num(r.extra?.stepPeakMB),
      num(r.extra?.planStepMB),
      String(r.rssMB),
    ]),
  );
}
console.log(
  '\n"vs torch" = ms per step and prompt ÷ PyTorch\'s for the same step (variant and mode); > 1: Unclamp is slower.' +
    '\n"peak MB" = tensor memory sampled between steps; "in-step peak" = its high-water mark within one step (TF.js\'s' +
    '\nprofiler, after every kernel); "planned" = src/model/memory-plan.ts\'s figure for the step on this backend;' +
    "\nPyTorch's peak and RSS = its process's peak resident memory.",
);

// ---- The full-size run, planned ----
function printPlan(plan: MemoryPlan, backend: Backend) {
  const fit = checkFits(plan, { backend });
  console.log(
    `\n${plan.description}, on ${backend}: device peak ${formatBytes(plan.device.peak)} (${plan.device.peakPhase}), ${fit.ok ? 'fits' : `does not fit: ${fit.message}`}`,
  );
  for (const i of plan.device.items.filter((x) => x.phase === 'resident' || x.phase === 'step'))
    console.log(`  ${formatBytes(i.bytes).padStart(8)}  ${i.phase === 'step' ? '(step) ' : ''}${i.what}`);
  console.log(
    `  step phase ${formatBytes(plan.device.phases.step)}; largest unsplit tensor ${formatBytes(plan.largestTensor.bytes)} (${plan.largestTensor.what})`,
  );
}
const full = GEMMA_SIZES.full;
console.log(
  `\nFull size (gemma-2-2b, d ${full.config.dModel}, ${full.config.nLayer} layers, ${GEMMA_DEFAULTS.n}×${GEMMA_DEFAULTS.t}, blocks.${full.hookLayer}.hook_resid_post, JumpReLU SAE ${full.dSae}): not measured here (no GPU); planned:`,
);
printPlan(gemmaFullPlan('webgpu'), 'webgpu');
printPlan(gemmaFullPlan('wasm'), 'wasm');

// Each part replaces only its own records on this thread count: a run of one part, or on another count, keeps the
// others (records of different counts say so in their backends, and compare only with each other).
const threadsOf = (backend: string) => Number(/(\d+) threads?/.exec(backend)?.[1] ?? 1);
const ran = (r: BenchRecord) => parts.some((p) => r.case.startsWith(p)) && threadsOf(r.backend) === got.threads;
const kept = readRecords(values.out).filter((r) => r.level === 'd' && (r.runner ?? 'node') === 'node' && !ran(r));
writeRecords('d', [...kept, ...all], values.out);
