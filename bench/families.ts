// Level d: the model families. Two recovery steps of the level-c kind on other families' shapes, with random weights:
//   gemma   a gemma-2-2b-shaped step: bfloat16 weights, 24 prompts × 40 tokens, δ shared at the last token of
//           blocks.11.hook_resid_post (Gemma Scope's residual SAEs sit on hook_resid_post; the step runs layers
//           12–25), a Gemma-Scope-shaped JumpReLU SAE (16,384 features at full size, b_dec not subtracted from its
//           input), B = a logit difference at the last token read through logitColumns (logitBehaviour: the model
//           from the hook onward over the prefix's cached keys and values). The model is built as the family loader
//           builds it under a LoadPlan {weights16, firstLayer: 12, tokens: the prompts' and read-out's}: layers 12–25
//           kept, 16-bit (Weight16, torch's [out, in] rows) where the backend multiplies 16 bits natively (WebGPU) and
//           float32 otherwise (widened from the same bits, pre-norms folded as TransformerLens processing does); the
//           layers before the hook generated, run and freed one at a time (streamToHook); only the used tokens'
//           embedding rows. Sizes: 'full' (gemma-2-2b: d 2,304, 26 layers, 8 heads of 256, 4 kv heads, MLP 9,216,
//           vocabulary 256,000: a GPU's), 'reduced' (every width a quarter, the vocabulary an eighth: d 576, 8 heads
//           of 64, 4 kv heads, MLP 2,304, vocabulary 32,000, SAE 4,096; the real 26 layers, hook and head-dim
//           ratios: query_pre_attn_scalar = head_dim as in gemma-2-2b, H·d_head / d = 8/9, MLP = 4·d), 'tiny' (tests).
//   pythia  a pythia-70m-deduped-shaped step at its real size (d 512, 6 layers, 8 heads, rotary_pct 0.25, MLP 2,048,
//           vocabulary 50,304, untied, parallel residual), 64 prompts × 15 tokens (level c's), δ shared at the last
//           token of blocks.3.hook_resid_post with a 32,768-feature ReLU SAE (SAELens's pythia-70m-deduped-res-sm),
//           64 defended features. Its weights are written once as a Hugging Face checkpoint (float16, as Pythia is
//           released) and read through the family's own loader (processing 'none'), so that PyTorch
//           (bench/reference/neox_step_ref.py) reads the very same weights; bench/families.bench.ts checks that
//           the two steps compute the same objective before it compares their times.
// No Node APIs here: the Node script (bench/families.bench.ts), the Chromium worker and the Dawn script run these.
import { parseClampRule } from '../src/core/clamp.ts';
import { RecoveryRun } from '../src/core/recovery.ts';
import { resolveOptions, type ProjectionMode } from '../src/core/options.ts';
import { mulberry32, normals } from '../src/core/rng.ts';
import { Sae, type SaeArrays, type SaeConfig } from '../src/core/sae.ts';
import { RecoverySite } from '../src/core/site.ts';
import { type Tensor, type Tensor3D, tf } from '../src/core/tf.ts';
import { floatToBfloat16, writeSafetensors, type TensorToWrite } from '../src/io/safetensors.ts';
import { Checkpoint } from '../src/model/checkpoint.ts';
import { type Gemma2BlockWeights, type Gemma2Config, Gemma2, type Matrix } from '../src/model/families/gemma2/model.ts';
import { processBlock } from '../src/model/families/gemma2/process.ts';
import { gptNeoxFamily } from '../src/model/families/gpt_neox/index.ts';
import type { GptNeoxConfig } from '../src/model/families/gpt_neox/model.ts';
import type { HfConfig } from '../src/model/config.ts';
import { gemma2FamilyConfig } from '../src/model/families/gemma2/config.ts';
import { gptNeoxFamilyConfig } from '../src/model/families/gpt_neox/config.ts';
import { type Backend, type MemoryPlan, type ModelShape, planRun } from '../src/model/memory-plan.ts';
import { MODEL_SHAPES, PUBLISHED_CONFIGS, publishedConfig } from '../src/model/published.ts';
import { TokenTable } from '../src/model/token-table.ts';
import type { LanguageModel } from '../src/model/types.ts';
import { native16, Weight16, widenBits } from '../src/model/weights16.ts';
import { logitBehaviour } from '../src/scenarios/builtin/common.ts';
import { addPeak, type BenchHost, failedRecord, PeakMemory, profileStep, rss, stepRate, timeSteps } from './levels.ts';
import { type BenchRecord, mib } from './record.ts';

export type StepVariant = 'onward' | 'from-hook';
export const stepImpl = (variant: StepVariant) => `unclamp ${variant}`;

// ---- Random 16-bit weights, fast enough for gemma-2-2b's 2.6 billion values ----

const bf16Tables = new Map<number, Uint16Array>();

/** 65,536 draws of N(0, std) rounded to bfloat16 (seeded): random weights index it with 16 random bits a value. */
function bf16Normals(std: number): Uint16Array {
  let t = bf16Tables.get(std);
  if (!t) {
    const v = normals(mulberry32(0x5eed), 65536);
    t = Uint16Array.from(v, (x) => floatToBfloat16(x * std));
    bf16Tables.set(std, t);
  }
  return t;
}

/** n bfloat16 values ≈ N(0, std), deterministic in `seed`: xorshift32, two table draws per number. */
export function randomBf16(n: number, std: number, seed: number): Uint16Array {
  const table = bf16Normals(std);
  const out = new Uint16Array(n);
  let s = Math.imul(seed + 1, 0x9e3779b1) | 0 || 1;
  for (let i = 0; i < n; i += 2) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = table[s & 0xffff];
    if (i + 1 < n) out[i + 1] = table[(s >>> 16) & 0xffff];
  }
  return out;
}

/** bfloat16 [rows, cols] → float32 [cols, rows] (torch's [out, in] → x · W's [in, out]), in 64 × 64 tiles. */
function widenTransposed(bits: Uint16Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const u = new Uint32Array(out.buffer);
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B)
    for (let c0 = 0; c0 < cols; c0 += B) {
      const r1 = Math.min(rows, r0 + B);
      const c1 = Math.min(cols, c0 + B);
      for (let c = c0; c < c1; c++) for (let r = r0; r < r1; r++) u[c * rows + r] = bits[r * cols + c] << 16;
    }
  return out;
}

/** Distinct values of `xs`, ascending. */
const distinct = (xs: Iterable<number>) => [...new Set(xs)].sort((a, b) => a - b);

/** A random readout per prompt: logit[a] − logit[b], a ≠ b. */
function logitDiffTerms(rand: () => number, n: number, vocab: number): [number, number][][] {
  return Array.from({ length: n }, () => {
    const a = Math.floor(rand() * vocab);
    const b = (a + 1 + Math.floor(rand() * (vocab - 1))) % vocab;
    return [
      [a, 1],
      [b, -1],
    ];
  });
}

const randomIds = (rand: () => number, n: number, t: number, vocab: number) =>
  Array.from({ length: n }, () => Array.from({ length: t }, () => Math.floor(rand() * vocab)));

// ---- Gemma-2 ----

export type GemmaSize = 'full' | 'reduced' | 'tiny';

/** A family's bench model: its config, the SAE's layer (at hook_resid_post), the SAE's width and the defended features. */
export interface StepShape<C> {
  config: C;
  hookLayer: number;
  dSae: number;
  /** Defended features. */
  s: number;
}

export type GemmaShape = StepShape<Gemma2Config>;

/** gemma-2-2b's published config.json with some fields changed, as the family's config.ts reads it. */
const gemmaConfig = (overrides: HfConfig = {}) => publishedConfig('gemma-2-2b', overrides).config as Gemma2Config;

export const GEMMA_SIZES: Record<GemmaSize, GemmaShape> = {
  full: {
    config: gemmaConfig(),
    hookLayer: 11,
    dSae: 16384,
    s: 64,
  },
  reduced: {
    config: gemmaConfig({
      hidden_size: 576,
      head_dim: 64,
      intermediate_size: 2304,
      vocab_size: 32000,
      query_pre_attn_scalar: 64,
    }),
    hookLayer: 11,
    dSae: 4096,
    s: 64,
  },
  tiny: {
    config: gemmaConfig({
      num_hidden_layers: 4,
      hidden_size: 32,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 8,
      intermediate_size: 64,
      max_position_embeddings: 64,
      vocab_size: 300,
      query_pre_attn_scalar: 8,
    }),
    hookLayer: 1,
    dSae: 96,
    s: 6,
  },
};

/** The SAE's hook of a bench model: Gemma Scope's and SAELens's Pythia SAEs read hook_resid_post. */
export const stepHook = (shape: StepShape<unknown>) => `blocks.${shape.hookLayer}.hook_resid_post`;

export interface GemmaStepOptions {
  size: GemmaSize;
  /** Prompts × tokens. */
  n: number;
  t: number;
  steps: number;
  modes: ProjectionMode[];
  variants: StepVariant[];
  /** Prompts of the from-hook variant (every position from the hook: its activations grow with T). */
  fromHookN: number;
  /** Keep the block matrices in 16 bits (default: where the backend multiplies them natively, WebGPU). */
  weights16?: boolean;
  /** Also one step under TF.js's profiler for its kernels (extra). */
  profile?: boolean;
  seed?: number;
}

export const GEMMA_DEFAULTS: GemmaStepOptions = {
  size: 'reduced',
  n: 24,
  t: 40,
  steps: 10,
  modes: ['none', 'encoder'],
  variants: ['onward'],
  fromHookN: 4,
};

export function gemmaCase(size: GemmaSize, n: number, t: number): string {
  const c = GEMMA_SIZES[size].config;
  const shape =
    size === 'full' ? 'gemma-2-2b' : `gemma-2-2b-shaped (${size}: d ${c.dModel}, ${c.nLayer} layers, MLP ${c.dMlp}, V ${c.vocabSize})`;
  return `${shape} step at ${stepHook(GEMMA_SIZES[size])}, ${n}×${t}`;
}

const INIT_STD = 0.02;
const NORM_STD = 0.1;

/**
 * Layer i's random weights, as the loader keeps them: 16-bit rows [out, in] stacked as it stacks them (q | k | v,
 * gate | up), or float32 [in, out] from the same bits with the pre-norms folded (processBlock).
 */
function gemmaBlock(c: Gemma2Config, i: number, seed: number, w16: boolean): Gemma2BlockWeights {
  const { dModel: d, dMlp: F, nHead: H, nKvHead: Hkv, headDim: hd } = c;
  const s = seed * 100_003 + i * 17;
  const made: (Matrix | tf.Tensor)[] = [];
  const track = <T extends Matrix | tf.Tensor>(x: T): T => {
    made.push(x);
    return x;
  };
  try {
    const matrix = (out: number, inn: number, k: number): Matrix => {
      const bits = randomBf16(out * inn, INIT_STD, s + k);
      return track(w16 ? Weight16.fromBits(bits, 'bfloat16', [out, inn]) : tf.tensor2d(widenTransposed(bits, out, inn), [inn, out]));
    };
    const scale = (k: number) => track(tf.tensor1d(Float32Array.from(widenBits(randomBf16(d, NORM_STD, s + k), 'bfloat16'), (w) => 1 + w)));
    const b: Gemma2BlockWeights = {
      ln1: scale(1),
      W_qkv: matrix((H + 2 * Hkv) * hd, d, 2),
      W_O: matrix(d, H * hd, 3),
      lnPostAttn: scale(4),
      ln2: scale(5),
      W_gateUp: matrix(2 * F, d, 6),
      W_down: matrix(d, F, 7),
      lnPostMlp: scale(8),
    };
    return w16 ? b : processBlock(b);
  } catch (e) {
    for (const x of made) x.dispose();
    throw e;
  }
}

/**
 * A gemma-2 model with random bfloat16 weights, kept as a LoadPlan {weights16: w16, firstLayer, tokens} keeps a
 * loaded one: the layers before firstLayer generated on demand (loadBlock: streamToHook runs and frees them), only
 * `tokens`' embedding rows (tied: also the read-out's columns).
 */
export function randomGemmaModel(
  c: Gemma2Config,
  o: { seed: number; w16: boolean; firstLayer: number; tokens: readonly number[] },
): Gemma2 {
  const blocks: (Gemma2BlockWeights | null)[] = [];
  const tokens = distinct(o.tokens);
  let embedding: TokenTable | null = null;
  try {
    for (let i = 0; i < c.nLayer; i++) blocks.push(i < o.firstLayer ? null : gemmaBlock(c, i, o.seed, o.w16));
    embedding = TokenTable.rows(
      tokens,
      widenBits(randomBf16(tokens.length * c.dModel, INIT_STD, o.seed * 7 + 3), 'bfloat16'),
      c.vocabSize,
      c.dModel,
    );
    const lnFinal = tf.tensor1d(Float32Array.from(widenBits(randomBf16(c.dModel, NORM_STD, o.seed * 7 + 5), 'bfloat16'), (w) => 1 + w));
    const model = new Gemma2(c, { embedding, blocks, lnFinal, unembedding: embedding });
    model.loadBlock = async (i) => gemmaBlock(c, i, o.seed, o.w16);
    return model;
  } catch (e) {
    embedding?.dispose();
    for (const b of blocks) if (b) for (const x of Object.values(b)) (x as Tensor | Weight16 | null)?.dispose();
    throw e;
  }
}

/** A Gemma-Scope-shaped JumpReLU SAE with random weights: W_enc = W_decᵀ, rows of W_dec ≈ unit norm, b_dec not subtracted. */
function gemmaScopeSae(d: number, m: number, seed: number): Sae {
  const W_dec = widenBits(randomBf16(m * d, 1 / Math.sqrt(d), seed), 'bfloat16');
  const W_enc = new Float32Array(d * m);
  for (let f = 0; f < m; f++) for (let j = 0; j < d; j++) W_enc[j * m + f] = W_dec[f * d + j];
  const cfg: SaeConfig = {
    architecture: 'jumprelu',
    dIn: d,
    dSae: m,
    applyBDecToInput: false,
    normalizeActivations: 'none',
    centerInput: false,
  };
  return Sae.create(cfg, {
    W_enc,
    W_dec,
    b_enc: new Float32Array(m),
    b_dec: widenBits(randomBf16(d, 0.01, seed + 1), 'bfloat16'),
    threshold: new Float32Array(m).fill(0.05),
  });
}

// ---- FLOPs and memory plans ----

interface LayerShape {
  d: number;
  /** Query heads × head size (the attention's width), key/value heads × head size. */
  q: number;
  kv: number;
  /** Multiply-adds of the MLP per row: d·F·(gated ? 3 : 2). */
  mlp: number;
}

/** One layer over `rows` query rows attending `keys` keys, forward and backward (input gradients only, as level c). */
function layerFlops(l: LayerShape, rows: number, keys: number): number {
  const weights = rows * 2 * (l.d * (l.q + 2 * l.kv) + l.q * l.d + l.mlp);
  const attention = rows * 2 * 2 * l.q * keys;
  return 2 * weights + 3 * attention;
}

const gemmaLayer = (c: Gemma2Config): LayerShape => ({
  d: c.dModel,
  q: c.nHead * c.headDim,
  kv: c.nKvHead * c.headDim,
  mlp: 3 * c.dModel * c.dMlp,
});
const neoxLayer = (c: GptNeoxConfig): LayerShape => ({ d: c.dModel, q: c.dModel, kv: c.dModel, mlp: 2 * c.dModel * c.dMlp });

/** A step's FLOPs: the layers after a hook_resid_post hook, at the last position (onward) or every one (from the hook). */
function stepFlops(l: LayerShape, layers: number, variant: StepVariant, n: number, t: number, columns: number): number {
  const perPrompt = variant === 'onward' ? layerFlops(l, 1, t) : layerFlops(l, t, (t + 1) / 2);
  return n * (layers * perPrompt + 2 * 2 * l.d * columns);
}

/** memory-plan.ts's figures for a Gemma2Config (gemma-2-2b's own at full size), as the family's config.ts gives them. */
export function gemmaModelShape(c: Gemma2Config, size: GemmaSize): ModelShape {
  const name = size === 'full' ? 'gemma-2-2b' : `gemma-2-2b-shaped (${size})`;
  return { ...gemma2FamilyConfig.shape(c, PUBLISHED_CONFIGS['gemma-2-2b']), name };
}

export function neoxModelShape(c: GptNeoxConfig): ModelShape {
  return { ...gptNeoxFamilyConfig.shape(c, PUBLISHED_CONFIGS['pythia-70m-deduped']), name: 'pythia-70m-deduped-shaped' };
}

/** memory-plan.ts's backends; a backend it does not know plans as wasm would not: null. */
export function planBackend(name: string): Backend | null {
  return (['wasm', 'webgpu', 'webgl', 'cpu'] as const).find((b) => b === name) ?? null;
}

export interface StepPlanRun {
  backend: Backend;
  hookLayer: number;
  n: number;
  t: number;
  variant: StepVariant;
  dSae: number;
  jumpRelu: boolean;
  readoutColumns: number;
  distinctTokens: number;
}

/**
 * The memory plan (src/model/memory-plan.ts) of a level-d step: the attack alone (no next-token view, no SAE check),
 * hook_resid_post, one δ shared at the last position, from the last position (onward) or from 0 (every position).
 */
export function stepPlan(m: ModelShape, r: StepPlanRun): MemoryPlan {
  return planRun(m, {
    backend: r.backend,
    hookLayer: r.hookLayer,
    hookPoint: 'hook_resid_post',
    prompts: r.n,
    tokens: r.t,
    from: r.variant === 'onward' ? r.t - 1 : 0,
    deltaPositions: 1,
    sharedDelta: true,
    readoutColumns: r.readoutColumns,
    view: 'readout',
    distinctTokens: r.distinctTokens,
    processing: 'none',
    sae: { dIn: m.dModel, dSae: r.dSae, threshold: r.jumpRelu },
    saeCheck: false,
    attributionFrom: r.variant === 'onward' ? r.t - 1 : 0,
    loader: 'lazy',
  });
}

/** gemma-2-2b's level-d run at full size (24 × 40, layer 11's resid_post, 16k JumpReLU SAE) planned on `backend`. */
export function gemmaFullPlan(backend: Backend, o: Pick<GemmaStepOptions, 'n' | 't'> = GEMMA_DEFAULTS): MemoryPlan {
  const s = GEMMA_SIZES.full;
  return stepPlan(MODEL_SHAPES['gemma-2-2b'], {
    backend,
    hookLayer: s.hookLayer,
    n: o.n,
    t: o.t,
    variant: 'onward',
    dSae: s.dSae,
    jumpRelu: true,
    readoutColumns: 2 * o.n,
    distinctTokens: Math.min(o.n * o.t, s.config.vocabSize),
  });
}

// ---- The measured body, shared by both families ----

/** One built case: a model, the residual at its hook, an SAE, the readout. */
export interface StepCase {
  model: LanguageModel;
  hook: string;
  /** The residual at the hook, [N, T, d] (owned by the case). */
  h: Tensor3D;
  sae: Sae;
  features: number[];
  /** The readout's position and terms per prompt. */
  at: number[];
  terms: [number, number][][];
  /** Case name at n prompts. */
  caseName(n: number): string;
  flops(variant: StepVariant, n: number): number;
  /** Planned bytes of the step's phase (memory-plan.ts), or null where it plans no such backend. */
  planStepBytes(variant: StepVariant, n: number): number | null;
  extra: Record<string, number | string>;
  dispose(): void;
}

export interface StepRunOptions {
  steps: number;
  modes: ProjectionMode[];
  variants: StepVariant[];
  fromHookN: number;
  profile?: boolean;
  /** Measure the backend's matrix-product peak after the case (default true; slow on the cpu backend). */
  matmulPeak?: boolean;
}

export const variantPrompts = (o: Pick<StepRunOptions, 'fromHookN'>, n: number, variant: StepVariant) =>
  variant === 'onward' ? n : Math.min(n, o.fromHookN);

/** The recovery site of a case for a variant at its first n prompts (the caller disposes both). */
export async function caseSite(c: StepCase, variant: StepVariant, n: number) {
  const [N, T, d] = c.h.shape;
  const b = logitBehaviour(c.model, c.hook, { at: c.at.slice(0, n), terms: c.terms.slice(0, n) });
  const hn = n === N ? c.h : (tf.slice(c.h, [0, 0, 0], [n, T, d]) as Tensor3D);
  try {
    const site = await RecoverySite.create({
      sae: c.sae,
      features: c.features,
      clamp: parseClampRule('zero'),
      h: hn,
      positions: c.at.slice(0, n).map((p) => [p]),
      behaviour: b.behaviour,
      hookOnward: variant === 'onward',
    });
    return {
      site,
      dispose: () => {
        site.dispose();
        b.dispose();
      },
    };
  } catch (e) {
    b.dispose();
    throw e;
  } finally {
    if (hn !== c.h) hn.dispose();
  }
}

/** Level c's options for a timed run: Adam, lr 0.1, ‖δ‖ ≤ 20, one δ shared by every prompt. */
export const stepOptions = (mode: ProjectionMode, steps: number) => resolveOptions({ mode, steps, lr: 0.1, budget: 20, delta: 'shared' });

/**
 * The highest tensor memory within one step, at kernel granularity (TF.js's profiler: tensor bytes after each
 * kernel), in MiB; the sampled peak of the timed steps only sees the memory between steps.
 */
async function stepHighWater(run: RecoveryRun): Promise<number> {
  const info = await tf.profile(() => run.stepOnce());
  await run.deltaValues();
  return mib(info.peakBytes);
}

/**
 * Every variant and mode of a case: ms per step after a warm-up step, peak tensor memory (sampled between steps,
 * and within one more step by the profiler), RSS, the memory plan's figure for the step. A variant or mode that
 * fails (out of memory) is a failed record and the rest still runs.
 */
export async function runCase(host: BenchHost, c: StepCase, o: StepRunOptions, records: BenchRecord[] = []): Promise<BenchRecord[]> {
  const first = records.length;
  const N = c.h.shape[0];
  for (const variant of o.variants) {
    const n = variantPrompts(o, N, variant);
    const what = { level: 'd' as const, case: c.caseName(n), impl: stepImpl(variant), backend: tf.getBackend() };
    let made: Awaited<ReturnType<typeof caseSite>> | null = null;
    try {
      host.progress(`level d: ${what.case}, ${variant}: the site (baseline forwards)`);
      made = await caseSite(c, variant, n);
      const peak = new PeakMemory();
      for (const mode of o.modes) {
        host.progress(`level d: ${variant}, mode ${mode}: ${o.steps} steps`);
        let run: RecoveryRun | null = null;
        try {
          run = await RecoveryRun.create(made.site, stepOptions(mode, o.steps + 2 + (o.profile ? 1 : 0)));
          const { ms, enqueueMs } = await timeSteps(run, o.steps, peak);
          const stepPeakMB = await stepHighWater(run);
          const profile = o.profile ? await profileStep(run, host) : {};
          const planned = c.planStepBytes(variant, n);
          records.push({
            ...what,
            mode,
            ...stepRate(ms, c.flops(variant, n) / 1e9),
            peakMB: peak.mb,
            rssMB: rss(host),
            extra: {
              ...c.extra,
              enqueueMs,
              stepPeakMB,
              ...(planned !== null ? { planStepMB: mib(planned) } : {}),
              ...profile,
            },
          });
          host.progress(
            `  ${variant} ${mode}: ${ms.toFixed(ms < 10 ? 2 : 0)} ms/step, peak ${peak.mb} MB (within a step ${stepPeakMB} MB)`,
          );
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
      made?.dispose();
    }
  }
  return o.matmulPeak === false ? records : addPeak(records, first);
}

/** Build the gemma case (model, residual at the hook, SAE, readout). */
export async function buildGemmaCase(host: BenchHost, o: GemmaStepOptions): Promise<StepCase> {
  const shape = GEMMA_SIZES[o.size];
  const { config: c, hookLayer, dSae, s } = shape;
  const seed = o.seed ?? 1;
  const w16 = o.weights16 ?? native16();
  const rand = mulberry32(seed * 31 + 7);
  const ids = randomIds(rand, o.n, o.t, c.vocabSize);
  const terms = logitDiffTerms(rand, o.n, c.vocabSize);
  const tokens = distinct([...ids.flat(), ...terms.flat().map(([tok]) => tok)]);
  const hook = stepHook(shape);
  host.progress(`level d: building ${gemmaCase(o.size, o.n, o.t)} (${w16 ? 'bfloat16' : 'float32'} weights)`);
  const t0 = performance.now();
  const model = randomGemmaModel(c, { seed, w16, firstLayer: hookLayer + 1, tokens });
  let sae: Sae | null = null;
  try {
    // The residual at the hook: the layers before it generated, run over every prompt and freed, one at a time.
    const h = await model.streamToHook(ids, hook);
    sae = gemmaScopeSae(c.dModel, dSae, seed + 11);
    const buildMs = performance.now() - t0;
    const mShape = gemmaModelShape(c, o.size);
    const backend = planBackend(tf.getBackend());
    const columns = distinct(terms.flat().map(([tok]) => tok)).length;
    const onwardLayers = c.nLayer - hookLayer - 1;
    const builtSae = sae;
    return {
      model,
      hook,
      h,
      sae,
      features: Array.from({ length: s }, (_, i) => (i * 37) % dSae),
      at: Array(o.n).fill(o.t - 1),
      terms,
      caseName: (n) => gemmaCase(o.size, n, o.t),
      flops: (variant, n) => stepFlops(gemmaLayer(c), onwardLayers, variant, n, o.t, columns),
      planStepBytes: (variant, n) =>
        backend
          ? stepPlan(mShape, {
              backend,
              hookLayer,
              n,
              t: o.t,
              variant,
              dSae,
              jumpRelu: true,
              readoutColumns: columns,
              distinctTokens: tokens.length,
            }).device.phases.step
          : null,
      extra: { weights: w16 ? 'bfloat16 (16-bit on the device)' : 'float32 (from bfloat16)', buildMs },
      dispose: () => {
        h.dispose();
        builtSae.dispose();
        model.dispose();
      },
    };
  } catch (e) {
    sae?.dispose();
    model.dispose();
    throw e;
  }
}

/** Level d, gemma: build the case, run its variants and modes. A case that cannot be built fails every record. */
export async function benchGemmaStep(host: BenchHost, o: GemmaStepOptions, records: BenchRecord[] = []): Promise<BenchRecord[]> {
  let c: StepCase | null = null;
  try {
    c = await buildGemmaCase(host, o);
  } catch (e) {
    host.progress(`level d failed: ${(e as Error)?.message ?? e}`);
    for (const variant of o.variants)
      for (const mode of o.modes)
        records.push(
          failedRecord(
            {
              level: 'd',
              case: gemmaCase(o.size, variantPrompts(o, o.n, variant), o.t),
              impl: stepImpl(variant),
              backend: tf.getBackend(),
              mode,
            },
            e,
          ),
        );
    return records;
  }
  try {
    return await runCase(host, c, o, records);
  } finally {
    c.dispose();
  }
}

// ---- GPT-NeoX (Pythia) ----

export type NeoxSize = 'real' | 'tiny';

export type NeoxShape = StepShape<GptNeoxConfig>;

/** pythia-70m-deduped's published config.json with some fields changed, as the family's config.ts reads it. */
const neoxConfig = (overrides: HfConfig = {}) => publishedConfig('pythia-70m-deduped', overrides).config as GptNeoxConfig;

export const NEOX_SIZES: Record<NeoxSize, NeoxShape> = {
  // pythia-70m-deduped: head size 64, rotary_pct 0.25 → 16 rotary dims.
  real: {
    config: neoxConfig(),
    hookLayer: 3,
    dSae: 32768,
    s: 64,
  },
  tiny: {
    config: neoxConfig({ num_hidden_layers: 3, hidden_size: 32, num_attention_heads: 4, intermediate_size: 64, vocab_size: 200 }),
    hookLayer: 1,
    dSae: 80,
    s: 6,
  },
};

export function neoxCase(size: NeoxSize, n: number, t: number): string {
  const c = NEOX_SIZES[size].config;
  const shape = size === 'real' ? 'pythia-70m-deduped-shaped' : `pythia-shaped (tiny: d ${c.dModel}, ${c.nLayer} layers)`;
  return `${shape} step at ${stepHook(NEOX_SIZES[size])}, ${n}×${t}`;
}

export interface NeoxStepOptions {
  size: NeoxSize;
  n: number;
  t: number;
  steps: number;
  modes: ProjectionMode[];
  variants: StepVariant[];
  fromHookN: number;
  profile?: boolean;
  seed?: number;
}

export const NEOX_DEFAULTS: NeoxStepOptions = {
  size: 'real',
  n: 64,
  t: 15,
  steps: 20,
  modes: ['none', 'encoder'],
  variants: ['onward', 'from-hook'],
  fromHookN: 64,
};

/** config.json of a GPTNeoXForCausalLM with this config (what the loader and neox_step_ref.py read). */
export function neoxConfigJson(c: GptNeoxConfig): string {
  return `${JSON.stringify(
    {
      model_type: 'gpt_neox',
      architectures: ['GPTNeoXForCausalLM'],
      hidden_size: c.dModel,
      num_hidden_layers: c.nLayer,
      num_attention_heads: c.nHead,
      intermediate_size: c.dMlp,
      rotary_pct: c.rotaryDims / (c.dModel / c.nHead),
      rotary_emb_base: c.rotaryBase,
      max_position_embeddings: c.nCtx,
      vocab_size: c.vocabSize,
      use_parallel_residual: c.parallel,
      hidden_act: c.act === 'erf' ? 'gelu' : 'gelu_new',
      layer_norm_eps: c.lnEps,
      tie_word_embeddings: c.tiedEmbeddings,
      attention_bias: c.attentionBias,
    },
    null,
    2,
  )}\n`;
}

/**
 * Random weights of a GPTNeoXForCausalLM in the Hugging Face layout (query_key_value's outputs head-major, [h][q|k|v]),
 * stored float16 as Pythia is released: matrices N(0, 0.02) (output projections by 1/√(2·n_layer)), LayerNorm scales
 * 1 + N(0, 0.1), biases N(0, 0.02).
 */
export function neoxCheckpoint(c: GptNeoxConfig, seed: number): Uint8Array {
  const { dModel: d, dMlp: F, vocabSize: V } = c;
  const rand = mulberry32(seed);
  const normal = (n: number, std: number, mean = 0) => normals(rand, n).map((x) => mean + std * x);
  const proj = 0.02 / Math.sqrt(2 * c.nLayer);
  const t: Record<string, TensorToWrite> = {};
  const put = (name: string, shape: number[], data: Float32Array) => {
    t[name] = { shape, data, dtype: 'F16' };
  };
  put('gpt_neox.embed_in.weight', [V, d], normal(V * d, 0.02));
  for (let i = 0; i < c.nLayer; i++) {
    const p = `gpt_neox.layers.${i}.`;
    put(`${p}input_layernorm.weight`, [d], normal(d, 0.1, 1));
    put(`${p}input_layernorm.bias`, [d], normal(d, 0.02));
    put(`${p}post_attention_layernorm.weight`, [d], normal(d, 0.1, 1));
    put(`${p}post_attention_layernorm.bias`, [d], normal(d, 0.02));
    put(`${p}attention.query_key_value.weight`, [3 * d, d], normal(3 * d * d, 0.02));
    put(`${p}attention.query_key_value.bias`, [3 * d], normal(3 * d, 0.02));
    put(`${p}attention.dense.weight`, [d, d], normal(d * d, proj));
    put(`${p}attention.dense.bias`, [d], normal(d, 0.02));
    put(`${p}mlp.dense_h_to_4h.weight`, [F, d], normal(F * d, 0.02));
    put(`${p}mlp.dense_h_to_4h.bias`, [F], normal(F, 0.02));
    put(`${p}mlp.dense_4h_to_h.weight`, [d, F], normal(d * F, proj));
    put(`${p}mlp.dense_4h_to_h.bias`, [d], normal(d, 0.02));
  }
  put('gpt_neox.final_layer_norm.weight', [d], normal(d, 0.1, 1));
  put('gpt_neox.final_layer_norm.bias', [d], normal(d, 0.02));
  put('embed_out.weight', [V, d], normal(V * d, 0.02));
  return writeSafetensors(t);
}

/** The rest of a Pythia case, for both sides: prompts, read-out, the SAE, the defended features, a probe δ. */
export interface NeoxCaseData {
  ids: number[][];
  terms: [number, number][][];
  sae: SaeArrays;
  features: number[];
  /** A fixed δ [d] (norm 5) at which both sides report the objective and its gradient. */
  probeDelta: Float32Array;
}

export function neoxCaseData(size: NeoxSize, n: number, t: number, seed: number): NeoxCaseData {
  const { config: c, dSae: m, s } = NEOX_SIZES[size];
  const d = c.dModel;
  const rand = mulberry32(seed * 31 + 5);
  const ids = randomIds(rand, n, t, c.vocabSize);
  const terms = logitDiffTerms(rand, n, c.vocabSize);
  const W_dec = normals(rand, m * d).map((v) => v / Math.sqrt(d));
  const W_enc = new Float32Array(d * m);
  for (let f = 0; f < m; f++) for (let j = 0; j < d; j++) W_enc[j * m + f] = W_dec[f * d + j];
  const probe = normals(rand, d);
  const norm = Math.hypot(...probe);
  return {
    ids,
    terms,
    sae: { W_enc, W_dec, b_enc: new Float32Array(m).fill(-0.05), b_dec: normals(rand, d).map((v) => 0.02 * v) },
    features: Array.from({ length: s }, (_, i) => (i * 7) % m),
    probeDelta: probe.map((v) => (5 * v) / norm),
  };
}

/** The case data as safetensors (float32; ids and tokens as exact float values), for neox_step_ref.py. */
export function neoxCaseFile(data: NeoxCaseData): Uint8Array {
  const [n, t] = [data.ids.length, data.ids[0].length];
  const d = data.sae.b_dec.length;
  const m = data.sae.b_enc.length;
  return writeSafetensors({
    ids: { shape: [n, t], data: data.ids.flat() },
    readout: { shape: [n, 2], data: data.terms.flatMap((row) => row.map(([tok]) => tok)) },
    W_enc: { shape: [d, m], data: data.sae.W_enc },
    W_dec: { shape: [m, d], data: data.sae.W_dec },
    b_enc: { shape: [m], data: data.sae.b_enc },
    b_dec: { shape: [d], data: data.sae.b_dec },
    features: { shape: [data.features.length], data: data.features },
    probe_delta: { shape: [d], data: data.probeDelta },
  });
}

/** The model through the family's own loader from checkpoint bytes (processing 'none': as stored, as PyTorch reads it). */
export async function loadNeox(config: GptNeoxConfig, weights: Uint8Array): Promise<LanguageModel> {
  const ckpt = new Checkpoint([{ name: 'model.safetensors', bytes: weights }], 'pythia-70m-deduped-shaped');
  return gptNeoxFamily.load(config, ckpt, 'none');
}

/** Build the Pythia case from a loaded model and its data: the residual at the hook, the SAE. */
export function buildNeoxCase(model: LanguageModel, o: NeoxStepOptions, data: NeoxCaseData): StepCase {
  const shape = NEOX_SIZES[o.size];
  const { config: c, hookLayer, dSae } = shape;
  const hook = stepHook(shape);
  const chunks: Tensor3D[] = [];
  for (let i = 0; i < data.ids.length; i += 16) chunks.push(tf.tidy(() => model.runToHook(data.ids.slice(i, i + 16), hook)));
  const h = chunks.length === 1 ? chunks[0] : (tf.concat(chunks, 0) as Tensor3D);
  if (chunks.length > 1) tf.dispose(chunks);
  const sae = Sae.create(
    { architecture: 'standard', dIn: c.dModel, dSae, applyBDecToInput: true, normalizeActivations: 'none', centerInput: false },
    data.sae,
  );
  const columns = distinct(data.terms.flat().map(([tok]) => tok)).length;
  const backend = planBackend(tf.getBackend());
  const mShape = neoxModelShape(c);
  return {
    model,
    hook,
    h,
    sae,
    features: data.features,
    at: Array(o.n).fill(o.t - 1),
    terms: data.terms,
    caseName: (n) => neoxCase(o.size, n, o.t),
    flops: (variant, n) => stepFlops(neoxLayer(c), c.nLayer - hookLayer - 1, variant, n, o.t, columns),
    planStepBytes: (variant, n) =>
      backend
        ? stepPlan(mShape, {
            backend,
            hookLayer,
            n,
            t: o.t,
            variant,
            dSae,
            jumpRelu: false,
            readoutColumns: columns,
            distinctTokens: distinct(data.ids.flat()).length,
          }).device.phases.step
        : null,
    extra: { weights: 'float32 (from float16)' },
    dispose: () => {
      h.dispose();
      sae.dispose();
    },
  };
}

// ---- The objective, for checking two implementations against each other ----

export interface StepObjective {
  /** B per prompt at δ = 0 (the clamp alone). */
  bDef: number[];
  /** −mean B at the probe δ, and its gradient [d]. */
  loss: number;
  grad: number[];
  /** δ [d] after `steps` optimiser steps from 0, per mode. */
  delta: Record<string, number[]>;
}

/**
 * What a step computes, read out: B at the clamp, the loss and its gradient at a given δ, and δ after a few steps
 * of each mode. Two implementations of the same step (onward and from the hook; float32 and 16-bit weights; ours and
 * PyTorch's) agree on these to float rounding.
 */
export async function stepObjective(
  c: StepCase,
  variant: StepVariant,
  probeDelta: Float32Array,
  modes: readonly ProjectionMode[],
  steps: number,
): Promise<StepObjective> {
  const n = c.h.shape[0];
  const made = await caseSite(c, variant, n);
  try {
    const { site } = made;
    const d = site.d;
    const { value, grad } = tf.tidy(() => {
      const x0 = tf.tensor3d(probeDelta, [1, 1, d]);
      const f = (x: Tensor) => tf.neg(tf.mean(site.behaviourAt(tf.mul(x, site.slotMask) as Tensor3D))) as tf.Scalar;
      return tf.valueAndGrad(f)(x0);
    });
    const [loss, g] = await Promise.all([value.data(), grad.data()]);
    tf.dispose([value, grad]);
    const delta: Record<string, number[]> = {};
    for (const mode of modes) {
      const run = await RecoveryRun.create(site, stepOptions(mode, steps));
      try {
        for (let i = 0; i < steps; i++) run.stepOnce();
        delta[mode] = Array.from(await run.deltaValues());
      } finally {
        run.dispose();
      }
    }
    return { bDef: Array.from(site.baseline.bDef), loss: loss[0], grad: Array.from(g), delta };
  } finally {
    made.dispose();
  }
}

/** Largest relative differences between two objectives (each against the larger magnitude of b's entries). */
export function compareObjectives(a: StepObjective, b: StepObjective): Record<string, number> {
  const rel = (x: readonly number[], y: readonly number[]) => {
    const scale = Math.max(1e-12, ...y.map(Math.abs));
    return Math.max(...x.map((v, i) => Math.abs(v - y[i]))) / scale;
  };
  const out: Record<string, number> = { bDef: rel(a.bDef, b.bDef), loss: rel([a.loss], [b.loss]), grad: rel(a.grad, b.grad) };
  for (const mode of Object.keys(b.delta)) if (a.delta[mode]) out[`delta ${mode}`] = rel(a.delta[mode], b.delta[mode]);
  return out;
}
