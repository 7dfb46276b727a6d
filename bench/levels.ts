// The measured body of each benchmark level: build the case, warm up, time the steps, read peak tensor memory.
// No Node APIs: the Node scripts (bench/*.bench.ts) and the Chromium bench worker (bench/browser/bench.worker.ts)
// both run these on whatever TF.js backend their host selected, so a case is defined once. What differs per host
// (resident memory, reading the built-in assets, progress) comes in through `BenchHost`.
import { tf, type Tensor3D } from '../src/core/tf.ts';
import { Sae, type SaeConfig } from '../src/core/sae.ts';
import { parseClampRule } from '../src/core/clamp.ts';
import { RecoverySite } from '../src/core/site.ts';
import { RecoveryRun } from '../src/core/recovery.ts';
import { resolveOptions, type ProjectionMode } from '../src/core/options.ts';
import { mulberry32, normals } from '../src/core/rng.ts';
import { randomGpt2 } from '../src/model/families/gpt2/load.ts';
import { probeBehaviour } from '../src/scenarios/probe.ts';
import { logitBehaviour } from '../src/scenarios/builtin/common.ts';
import type { ReadAsset } from '../src/scenarios/builtin/assets.ts';
import { BUILTIN_SCENARIO_IDS, type BuiltinScenarioId, effectiveRun } from '../src/scenarios/catalog.ts';
import { loadScenario } from '../src/scenarios/load.ts';
import { createSite, defaultDefence, runOptions, runScenario } from '../src/scenarios/run.ts';
import { type BenchRecord, mib } from './record.ts';

/** A timed step as a record's figures: ms and steps per second, and GFLOP per step and per second. */
export function stepRate(ms: number, gflopPerStep: number) {
  return { msPerStep: ms, stepsPerSec: 1000 / ms, gflopPerStep, gflops: gflopPerStep / (ms / 1000) };
}

/** Side of the square product that measures a backend's matrix-product peak. */
export const PEAK_N = 1024;

/**
 * The backend's matrix-product peak: GFLOP/s of a PEAK_N³ float32 product, the best of five (read back, so a GPU
 * backend's time is complete). A step's GFLOP/s is read against it: what share of the arithmetic ceiling a step
 * reaches, as opposed to how high that ceiling is (the PyTorch references measure theirs the same way).
 */
export async function matmulPeakGflops(): Promise<number> {
  const [a, b] = [tf.randomNormal([PEAK_N, PEAK_N]), tf.randomNormal([PEAK_N, PEAK_N])];
  try {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 6; i++) {
      const t0 = performance.now();
      const c = tf.matMul(a, b);
      await c.data();
      c.dispose();
      if (i > 0) best = Math.min(best, performance.now() - t0); // the first pays for packing and compilation
    }
    return (2 * PEAK_N ** 3) / best / 1e6;
  } finally {
    tf.dispose([a, b]);
  }
}

/** Records of this run (those from `from` on) that ran get the backend's matrix-product peak. */
export async function addPeak(records: BenchRecord[], from: number): Promise<BenchRecord[]> {
  const mine = records.slice(from).filter((r) => !r.failed);
  if (!mine.length) return records;
  const peak = await matmulPeakGflops();
  for (const r of mine) r.extra = { ...r.extra, matmulPeakGflops: peak };
  return records;
}

export interface BenchHost {
  /** Resident memory of the process, MiB, where the host can read it (Node); null in a browser worker. */
  rssMB(): number | null;
  /** The built-in scenarios' files under public/ (level b). */
  readAsset: ReadAsset;
  progress(message: string): void;
}

/** Peak tensor bytes, sampled where the caller says (after each step): TF.js keeps no high-water mark of its own. */
export class PeakMemory {
  private bytes = tf.memory().numBytes;
  sample(): void {
    this.bytes = Math.max(this.bytes, tf.memory().numBytes);
  }
  get mb(): number {
    this.sample();
    return mib(this.bytes);
  }
}

/**
 * Time `steps` optimiser steps after one warm-up step (kernels compiled, buffers allocated): ms per step, and the
 * part of it the host spent queuing the step (enqueueMs: on a GPU backend stepOnce returns before the kernels
 * finish, so enqueueMs ≈ ms says the step is bound by the cost of issuing kernels, not by running them).
 */
export async function timeSteps(run: RecoveryRun, steps: number, peak: PeakMemory): Promise<{ ms: number; enqueueMs: number }> {
  run.stepOnce();
  await run.deltaValues();
  let enqueue = 0;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const e0 = performance.now();
    run.stepOnce();
    enqueue += performance.now() - e0;
    peak.sample();
  }
  await run.deltaValues(); // wait for queued work (GPU backends return before the kernels finish)
  return { ms: (performance.now() - t0) / steps, enqueueMs: enqueue / steps };
}

/**
 * One step under TF.js's profiler: the kernels it ran and, where the backend times them (WebGPU with timestamp
 * queries), their device time summed per kernel name. Each kernel then gets its own pass, so this step is slower
 * than a timed one; the device milliseconds are what counts. The profiler also lists scopes — a custom gradient's
 * forward ("unnamed scope"), an op built on one (fusedMatMul__op) — whose time includes the kernels inside them,
 * which are listed too: only the backend's registered kernels are counted.
 */
export async function profileStep(run: RecoveryRun, host: BenchHost): Promise<Record<string, number>> {
  const info = await tf.profile(() => run.stepOnce());
  await run.deltaValues();
  const kernels = info.kernels.filter((k) => tf.getKernel(k.name, tf.getBackend()) !== undefined);
  const byName = new Map<string, { n: number; ms: number }>();
  let timed = 0;
  for (const k of kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    if (ms > 0) timed++;
    const e = byName.get(k.name) ?? { n: 0, ms: 0 };
    byName.set(k.name, { n: e.n + 1, ms: e.ms + ms });
  }
  const total = [...byName.values()].reduce((a, e) => a + e.ms, 0);
  const top = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms || b[1].n - a[1].n).slice(0, 12);
  host.progress(`  profile: ${kernels.length} kernels (${timed} timed on the device), device time ${total.toFixed(2)} ms`);
  for (const [name, e] of top) host.progress(`    ${name}: ${e.n}×, ${e.ms.toFixed(3)} ms`);
  return { kernels: kernels.length, timedKernels: timed, deviceKernelMs: total };
}

export const rss = (host: BenchHost) => host.rssMB() ?? 0;

/** A record for a case that could not run: the error instead of timings. */
export function failedRecord(r: Pick<BenchRecord, 'level' | 'case' | 'impl' | 'backend' | 'mode'>, error: unknown): BenchRecord {
  const message = (error as Error)?.message ?? String(error);
  return { ...r, msPerStep: 0, stepsPerSec: 0, gflopPerStep: null, gflops: null, peakMB: 0, rssMB: 0, failed: message.split('\n')[0] };
}

// ---- Level a: the recovery loop on a GPT-2-small-sized linear-probe case ----

export interface ProbeOptions {
  /** Samples, residual width, SAE width, defended features. */
  n: number;
  d: number;
  m: number;
  s: number;
  steps: number;
  modes: ProjectionMode[];
}

export const PROBE_DEFAULTS: ProbeOptions = { n: 64, d: 768, m: 24576, s: 64, steps: 20, modes: ['none', 'encoder', 'jacobian'] };

export const probeCase = (o: ProbeOptions) => `linear probe, N=${o.n} d=${o.d} d_sae=${o.m} |S|=${o.s}`;

export function probeFlops(o: ProbeOptions, mode: ProjectionMode): number {
  const { n: N, d: D, s: S } = o;
  const base = 4 * N * D + 14 * N * D; // probe forward/backward + Adam, clip
  if (mode === 'none') return base;
  if (mode === 'encoder') return base + 4 * N * D * S; // g − (gA)B
  // Exact Jacobian rows: live mask from pre_S (2NDS), masked Gram systems solved by Gauss–Jordan (2·N·S²(S+1)),
  // right-hand side and back-projection (4NDS).
  return base + 2 * N * D * S + 2 * N * S * S * (S + 1) + 4 * N * D * S;
}

/** The metrics read-out: full encode + decode for ‖e(h_rec)‖, plus z_S. */
export const probeMetricsFlops = (o: ProbeOptions) => 2 * 2 * o.n * o.d * o.m + 4 * o.n * o.d * o.s;

async function makeProbeCase(o: ProbeOptions) {
  const { n: N, d: D, m: M, s: S } = o;
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
  const features = Array.from({ length: S }, (_, i) => (i * 7) % M);
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

/** Level a: ms per step per mode, and the metrics read-out's ms (extra.metricsMs). */
export async function benchProbe(host: BenchHost, o: ProbeOptions): Promise<BenchRecord[]> {
  host.progress(`level a: building the case (${probeCase(o)})`);
  const { site, dispose } = await makeProbeCase(o);
  const records: BenchRecord[] = [];
  try {
    for (const mode of o.modes) {
      host.progress(`level a: mode ${mode}, ${o.steps} steps`);
      const peak = new PeakMemory();
      const run = await RecoveryRun.create(site, {
        mode,
        steps: o.steps + 2,
        lr: 0.1,
        budget: 20,
        jacobian: { exactMaxRows: 256, probes: 8, correctionSteps: 0, correctionLr: 0 },
      });
      try {
        const { ms } = await timeSteps(run, o.steps, peak);
        const m0 = performance.now();
        await run.sampleMetrics();
        const metricsMs = performance.now() - m0;
        const f = probeFlops(o, mode) / 1e9;
        records.push({
          level: 'a',
          case: probeCase(o),
          impl: 'unclamp',
          backend: tf.getBackend(),
          mode,
          ...stepRate(ms, f),
          peakMB: peak.mb,
          rssMB: rss(host),
          extra: { metricsMs },
        });
      } finally {
        run.dispose();
      }
    }
  } finally {
    dispose();
  }
  return addPeak(records, 0);
}

// ---- Level b: each built-in scenario end to end on the built-in model ----

export interface ScenarioBenchOptions {
  /** Timed optimiser steps of the step-alone measurements (the end-to-end run takes the scenario's own count). */
  steps: number;
  scenarios: readonly BuiltinScenarioId[];
}

export const SCENARIO_DEFAULTS: ScenarioBenchOptions = { steps: 20, scenarios: BUILTIN_SCENARIO_IDS };

export const SCENARIO_IMPLS = {
  run: 'unclamp run (defaults, end to end)',
  onward: 'unclamp step, B from the hook onward',
  whole: 'unclamp step, B on the whole residual',
} as const;

/**
 * Level b: loading, then one run with the scenario's defaults as `unclamp run --scenario ID` does it (optimiser,
 * metrics, extras), and the optimiser step alone (mode none) with B from the hook onward and on the whole residual
 * (RecoverySite's hookOnward off). extra: loadMs, runMs, steps; onwardForm: 'no' where B has no onward form.
 */
export async function benchScenarios(host: BenchHost, o: ScenarioBenchOptions): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  for (const id of o.scenarios) {
    host.progress(`level b: ${id}, loading`);
    const l0 = performance.now();
    const sc = await loadScenario({ kind: 'builtin', scenario: id }, host.readAsset);
    const loadMs = performance.now() - l0;
    try {
      const steps = effectiveRun(id).steps;
      const base = { level: 'b' as const, case: `built-in ${id}`, backend: tf.getBackend(), gflopPerStep: null, gflops: null };
      const peak = new PeakMemory();
      host.progress(`level b: ${id}, run with defaults (${steps} steps)`);
      const r0 = performance.now();
      await runScenario(sc, {}, { onMetrics: () => peak.sample(), afterStep: () => peak.sample() });
      const runMs = performance.now() - r0;
      records.push({
        ...base,
        impl: SCENARIO_IMPLS.run,
        mode: effectiveRun(id).mode,
        msPerStep: runMs / steps,
        stepsPerSec: (1000 * steps) / runMs,
        peakMB: peak.mb,
        rssMB: rss(host),
        extra: { loadMs, runMs, steps },
      });
      for (const hookOnward of [true, false]) {
        host.progress(`level b: ${id}, step alone, ${hookOnward ? 'onward' : 'whole residual'}`);
        const site = await createSite(sc, defaultDefence(sc), { hookOnward });
        try {
          const run = await RecoveryRun.create(site, runOptions(id, { steps: o.steps + 1, mode: 'none' }));
          try {
            const stepPeak = new PeakMemory();
            const { ms } = await timeSteps(run, o.steps, stepPeak);
            records.push({
              ...base,
              impl: hookOnward ? SCENARIO_IMPLS.onward : SCENARIO_IMPLS.whole,
              mode: 'none',
              msPerStep: ms,
              stepsPerSec: 1000 / ms,
              peakMB: stepPeak.mb,
              rssMB: rss(host),
              extra: { steps: o.steps, ...(hookOnward && !sc.behaviour.onward ? { onwardForm: 'no' } : {}) },
            });
          } finally {
            run.dispose();
          }
        } finally {
          site.dispose();
        }
      }
    } finally {
      sc.dispose();
    }
  }
  return records;
}

// ---- Level c: one recovery step at the paper's IOI size (random weights of GPT-2 small's shapes) ----

export type Gpt2Variant = 'onward' | 'from-hook';

export interface Gpt2StepOptions {
  /** Prompts × tokens. */
  n: number;
  t: number;
  steps: number;
  modes: ProjectionMode[];
  variants: Gpt2Variant[];
  /**
   * Prompts of the from-hook variant: the whole-residual step holds every position's activations for the backward
   * pass, and 64 prompts of it exceed wasm's memory beside GPT-2 small's weights (ms per step scale with prompts).
   */
  fromHookN: number;
  /** Also run one step under the profiler: kernel count and, where timed, device ms (extra). */
  profile?: boolean;
}

export const GPT2_DEFAULTS: Gpt2StepOptions = {
  n: 64,
  t: 15,
  steps: 10,
  modes: ['none', 'encoder'],
  variants: ['onward', 'from-hook'],
  fromHookN: 16,
};

export const GPT2_HOOK_LAYER = 4;
export const GPT2_HOOK = `blocks.${GPT2_HOOK_LAYER}.hook_resid_pre`;
export const GPT2_CONFIG = { nLayer: 12, nHead: 12, dModel: 768, nCtx: 1024, vocabSize: 50257, lnEps: 1e-5 };
const GPT2_D_SAE = 24576;
const GPT2_S = 64;

export const gpt2Case = (n: number, t: number) => `gpt2-small-shaped IOI step, ${n}×${t}`;
export const gpt2Impl = (variant: Gpt2Variant) => `unclamp ${variant}`;
export const gpt2Prompts = (o: Gpt2StepOptions, variant: Gpt2Variant) => (variant === 'onward' ? o.n : Math.min(o.n, o.fromHookN));

/**
 * FLOPs of one transformer layer over `q` query positions attending to `k` keys, forward then backward. The
 * weights are frozen, so the backward pass forms only the input's gradient: one product per weight product, as in
 * the forward; the attention's two products (q·kᵀ, pattern·v) get both operands' gradients, two each.
 */
function layerFlops(q: number, k: number): { forward: number; backward: number } {
  const d = GPT2_CONFIG.dModel;
  const weights = q * (2 * 3 * d * d + 2 * d * d + 2 * 2 * 4 * d * d);
  const attention = 2 * 2 * q * k * d;
  return { forward: weights + attention, backward: weights + 2 * attention };
}

const both = (f: { forward: number; backward: number }) => f.forward + f.backward;

/** A step: forward and backward through the layers after the hook, and the two-column readout. */
export function gpt2StepFlops(o: Gpt2StepOptions, variant: Gpt2Variant): number {
  const after = GPT2_CONFIG.nLayer - GPT2_HOOK_LAYER;
  const perPrompt = variant === 'onward' ? layerFlops(1, o.t) : layerFlops(o.t, (o.t + 1) / 2);
  return gpt2Prompts(o, variant) * (after * both(perPrompt) + 2 * (2 * GPT2_CONFIG.dModel * 2));
}

/**
 * The paper pipeline's step (bench/reference/gpt2_step_ref.py): the forward through every layer on every position
 * and all V logits, the backward from the logits down to the hook.
 */
export function gpt2PaperFlops(o: Gpt2StepOptions): number {
  const { nLayer, dModel, vocabSize } = GPT2_CONFIG;
  const layer = layerFlops(o.t, (o.t + 1) / 2);
  const logits = o.t * 2 * dModel * vocabSize;
  return o.n * (nLayer * layer.forward + (nLayer - GPT2_HOOK_LAYER) * layer.backward + 2 * logits);
}

/**
 * Level c: Unclamp's step with B from the hook onward (earlier positions' keys and values cached, two unembedding
 * columns) and on every position from the hook (hookOnward off). 64 prompts × 15 tokens, δ shared at the last
 * position of blocks.4.hook_resid_pre, a 24,576-feature SAE with 64 defended features, B = a logit difference at the
 * last position. A variant that fails (out of memory) becomes a failed record and the next one still runs;
 * `records` receives each record as it is measured, so a host whose backend dies mid-way keeps what came before.
 */
export async function benchGpt2Step(host: BenchHost, o: Gpt2StepOptions, records: BenchRecord[] = []): Promise<BenchRecord[]> {
  try {
    return await gpt2Variants(host, o, records);
  } catch (e) {
    // Building the case failed (the weights alone do not fit): every variant and mode not measured is a failure.
    host.progress(`level c failed: ${(e as Error)?.message ?? e}`);
    for (const variant of o.variants)
      for (const mode of o.modes) {
        const what = {
          level: 'c' as const,
          case: gpt2Case(gpt2Prompts(o, variant), o.t),
          impl: gpt2Impl(variant),
          backend: tf.getBackend(),
          mode,
        };
        if (!records.some((r) => r.case === what.case && r.impl === what.impl && r.mode === mode)) records.push(failedRecord(what, e));
      }
    return records;
  }
}

async function gpt2Variants(host: BenchHost, o: Gpt2StepOptions, records: BenchRecord[]): Promise<BenchRecord[]> {
  const first = records.length;
  const { n: N, t: T } = o;
  const config = GPT2_CONFIG;
  const d = config.dModel;
  host.progress(`level c: building the GPT-2-small-shaped case (${N}×${T})`);
  const model = randomGpt2(config, 1);
  try {
    const rand = mulberry32(7);
    const ids = Array.from({ length: N }, () => Array.from({ length: T }, () => Math.floor(rand() * config.vocabSize)));
    // The residual at the hook, 16 prompts at a time (the activations of a 64-prompt batch are not needed at once).
    const chunks: Tensor3D[] = [];
    for (let i = 0; i < N; i += 16) chunks.push(tf.tidy(() => model.runToHook(ids.slice(i, i + 16), GPT2_HOOK)));
    const h = tf.concat(chunks, 0) as Tensor3D;
    tf.dispose(chunks);
    const W_dec = normals(rand, GPT2_D_SAE * d).map((v) => v / Math.sqrt(d));
    const W_enc = new Float32Array(d * GPT2_D_SAE);
    for (let f = 0; f < GPT2_D_SAE; f++) for (let j = 0; j < d; j++) W_enc[j * GPT2_D_SAE + f] = W_dec[f * d + j];
    const sae = Sae.create(
      { architecture: 'standard', dIn: d, dSae: GPT2_D_SAE, applyBDecToInput: true, normalizeActivations: 'none', centerInput: false },
      { W_enc, W_dec, b_enc: new Float32Array(GPT2_D_SAE).fill(-0.05), b_dec: new Float32Array(d) },
    );
    const at = Array(N).fill(T - 1);
    const terms = at.map((): [number, number][] => [
      [Math.floor(rand() * config.vocabSize), 1],
      [Math.floor(rand() * config.vocabSize), -1],
    ]);
    try {
      for (const variant of o.variants) {
        const n = gpt2Prompts(o, variant);
        const b = logitBehaviour(model, GPT2_HOOK, { at: at.slice(0, n), terms: terms.slice(0, n) });
        const hn = n === N ? h : (tf.slice(h, [0, 0, 0], [n, T, d]) as Tensor3D);
        let site: RecoverySite | null = null;
        const what = { level: 'c' as const, case: gpt2Case(n, T), impl: gpt2Impl(variant), backend: tf.getBackend() };
        try {
          host.progress(`level c: ${variant}, ${n} prompts: the site (baseline forwards)`);
          const peak = new PeakMemory();
          site = await RecoverySite.create({
            sae,
            features: Array.from({ length: GPT2_S }, (_, i) => i * 7),
            clamp: parseClampRule('zero'),
            h: hn,
            positions: at.slice(0, n).map((p) => [p]),
            behaviour: b.behaviour,
            hookOnward: variant === 'onward',
          });
          for (const mode of o.modes) {
            host.progress(`level c: ${variant}, ${n} prompts, mode ${mode}: ${o.steps} steps`);
            let run: RecoveryRun | null = null;
            try {
              run = await RecoveryRun.create(
                site,
                resolveOptions({ mode, steps: o.steps + (o.profile ? 2 : 1), lr: 0.1, budget: 20, delta: 'shared' }),
              );
              const { ms, enqueueMs } = await timeSteps(run, o.steps, peak);
              const f = gpt2StepFlops(o, variant) / 1e9;
              const profile = o.profile ? await profileStep(run, host) : {};
              records.push({
                ...what,
                mode,
                ...stepRate(ms, f),
                peakMB: peak.mb,
                rssMB: rss(host),
                extra: { enqueueMs, ...profile },
              });
              host.progress(`  ${variant} ${mode}: ${ms.toFixed(0)} ms/step`);
            } catch (e) {
              records.push(failedRecord({ ...what, mode }, e));
              host.progress(`  ${variant} ${mode} failed: ${(e as Error).message}`);
            } finally {
              run?.dispose();
            }
          }
        } catch (e) {
          for (const mode of o.modes) records.push(failedRecord({ ...what, mode }, e));
          host.progress(`  ${variant} failed: ${(e as Error).message}`);
        } finally {
          site?.dispose();
          if (hn !== h) hn.dispose();
          b.dispose();
        }
      }
    } finally {
      sae.dispose();
      h.dispose();
    }
  } finally {
    model.dispose();
  }
  return addPeak(records, first);
}
