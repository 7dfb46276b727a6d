// What a run on a real model needs, before anything is downloaded: device memory (the tensors TF.js holds on the
// backend), host memory (the bytes of the checkpoint on their way there) and the largest single tensor, from a
// family's config figures and the run's shape; and whether that fits the limits of where it would run. Pure
// TypeScript (no TF.js, no Node APIs): the page's main thread, the worker and the CLI all import it.
//
// API
//   parameterCount(m) → {embedding, positions, perBlock, blocks, finalNorm, unembedding, total}   (values, not bytes)
//   planRun(m, run) → MemoryPlan: device items by what they hold, their sum per phase and the peak, the largest
//       tensor no loader splits, host bytes (and how many copies of the file exist at once), described in words
//   checkFits(plan, limits) → {ok: true, warnings} | {ok: false, message, warnings}: refuses only on hard limits
//       (wasm's heap ceiling, a WebGPU buffer over the adapter's binding limit, more RAM than the machine has, a file
//       over Node's 2 GiB read limit), warns on soft ones (a browser's RAM hint, RAM free now)
//   whatRunsWhere(m, run, host) → one row per backend Node could use (WebGPU through Dawn when an adapter was found,
//       wasm, cpu): its ceiling, the plan's figures and checkFits' verdict — plain data the CLI can print
//   probeNodeHost(deps) → NodeHost: RAM (os.totalmem, os.freemem, process.constrainedMemory) and a Dawn adapter's
//       limits, from what the caller passes in (this module imports no Node or browser API)
//   the published models' shapes (GPT-2 small, gemma-2-2b, pythia-70m-deduped): published.ts's MODEL_SHAPES
//
// Formulas (values; × bytes per value below). d = dModel, H = nHead, Hkv = nKvHeads, hd = headDim, F = dMlp,
// V = vocab, L = nLayer; a block's matrices are W_qkv [d, (H + 2·Hkv)·hd], W_O [H·hd, d], the MLP's
// [d, (gated ? 2 : 1)·F] (gate | up, or GPT-2's c_fc) and [F, d]:
//   block    = d·(H + 2·Hkv)·hd + H·hd·d + (gated ? 3 : 2)·d·F                               (matrices)
//            + biases ? (H + 2·Hkv)·hd + d + (gated ? 2 : 1)·F + d : 0                      (GPT-2, Pythia; not Gemma)
//            + normsPerBlock · d · (normBias ? 2 : 1)                                        (LayerNorm w, b; RMSNorm w)
//   total    = V·d (embedding) + (tied ? 0 : V·d) + (learnedPositions ? nCtx·d : 0) + L·block + d·(normBias ? 2 : 1)
//   GPT-2 small 124,439,808; gemma-2-2b 2,614,341,888; pythia-70m-deduped 70,426,624 (memory-plan.test.ts).
// Device memory of a run (bytes; w = 2 for 16-bit weights kept 16-bit on WebGPU, else 4; activations float32):
//   weights     (layers from the hook on, ℓ = L − first) · block · w  +  one more block streamed (the layers before
//               the hook run one at a time to compute the residual there)  +  embedding rows of the prompts'
//               distinct tokens · d · w  +  positions T·d·4 (learned only)  +  unembedding: the C read-out columns
//               d·C·4, or all V·d·w (+ b_U V·4 after processing a LayerNorm model) for the next-token view,
//               generation and the SAE check's next-token loss
//   transposes  wasm only (src/core/tf.ts keepTransposes: a frozen weight's gradient multiplies by a kept Wᵀ): one
//               more copy of each onward block's matrices, ℓ · matrices · 4; and for a tied, unprocessed model whose
//               full unembedding runs on wasm, W_Eᵀ, V·d·4
//   sae         (2·dIn·dSae + dSae + dIn + (threshold ? dSae : 0)) · 4
//   site        the residual at the hook and the defended one, 2·N·T·d, their suffix from `from`, N·(T − from)·d,
//               the slots, 2·N·P·d — all · 4
//   kv cache    ℓ · 2·N·from·Hkv·hd · 4                               (keys and values of the prefix, per onward layer)
//   optimiser   (4 + (checkpoints ? 2 : 0)) · (shared ? 1 : N) · P · d · 4      (δ, Adam's m and v, the gradient)
// Transients, each over the resident set (values a row and layer at the backward pass's height, ACTIVATION_FLOATS;
// GPT-2 measured: 48·d + 8.5·d_mlp + 13·H·T a row, + 2·T·Hkv·hd + 8·d a prompt whose step starts after a cached
// prefix):
//   load        one layer processed as it arrives, 3 · block · w; the whole unembedding folded, 2·V·d·w, when needed
//               and the family folds it (foldsUnembedding: GPT-2, Pythia; Gemma-2 keeps its final norm)
//   step        ℓ · (N·(T − from) · perRow + N · perPrompt) · 4
//   attribution the feature attribution's backward pass, ℓ · N·(T − attributionFrom) · perRow · 4 (+ perPrompt),
//               attributionFrom = from by default: the onward form, as a real-model scenario computes it
//               (src/scenarios/model.ts: its weights are zero before the first δ position; the built-in scenarios
//               take the whole residual — pass attributionFrom: 0 to plan that); its chunk of feature activations,
//               3 · c·(T − attributionFrom)·dSae · 4 with c = min(N, max(1, ⌊4 M / ((T − attributionFrom)·dSae)⌋))
//               prompts, and on wasm W_decᵀ, dSae·dIn·4
//   (all four GPT-2 figures are checked against tf.memory() by bench/memory.bench.ts)
//   sae check   the whole unembedding (for the next-token loss), and the larger of a chunk's SAE encoding,
//               8 · c_e·T·dSae · 4, and a chunk's full forward, 10 · c_f·T·V · 4 (logits, log-softmax, the gathered
//               log-probabilities, the forward's own activations; clean and spliced one after the other): the two
//               passes follow one another. Both measured; the chunks c_e and c_f are as many prompts as keep one
//               [c·T, dSae] or [c·T, V] tensor under SAE_CHECK_CHUNK_BYTES (32 MiB: 22 and 11 prompts of 15 tokens
//               at GPT-2 small, 2 at Gemma-2's V)
// Peak = resident + the largest transient (conservative: the site and optimiser exist only from the run on).
// Host memory (the checkpoint on its way to the device), by loader:
//   'whole-file' (readFileSync, then parse): the file (F bytes) + every tensor decoded to float32 at once (F for
//                float32 files, 2F for 16-bit ones): 2 or 3 copies of the file at the peak
//   'lazy'       (fs.openAsBlob, a Blob: the checkpoint read tensor by tensor): the largest tensor as stored, and its
//                float32 copy where 16-bit weights are widened, or its packed words where they stay 16-bit (WebGPU)
// On wasm and cpu the device is host memory too: the host figure adds the device peak (wasm: × WASM_HEAP_WORST, for
// the heap's growth steps and fragmentation, measured; the heap never shrinks) and the process's own baseline.
//
// Limits (checkFits):
//   wasm     TF.js 4.22's wasm builds (single- and multi-threaded alike) declare a memory of at most 65,536 pages
//            (4 GiB) and Emscripten's getHeapMax() is 4,294,901,760 bytes (4 GiB − 64 KiB). Past it _malloc returns 0
//            and TF.js does not check: tensors alias the heap's first bytes and runs go on with corrupted values (no
//            error; or, later, "memory access out of bounds") — so a plan over the ceiling (× WASM_HEAP_FACTOR) is
//            refused before anything is allocated, and one that fragmentation could take over it (× WASM_HEAP_WORST)
//            is warned about. Measured (bench/memory.bench.ts --ceiling): one tensor of 4,095 MiB is accepted;
//            tensors of 256 MiB stop fitting after 15 (3,840 MiB of tensors, heap 3,936 MiB); the next ones
//            "succeed", tf.memory() counting them, until the process dies ("memory access out of bounds") or reads
//            wrong values. The engine wraps the module's _malloc wherever it starts wasm (src/engine/wasm-malloc-guard.ts:
//            after its first call, when Emscripten's stub has replaced itself) to throw on 0, or on a block past the
//            heap's end: an error that names the ceiling, and the backend stays usable (measured: --ceiling).
//   webgpu   one tensor (one GPUBuffer) may not exceed min(maxBufferSize, maxStorageBufferBindingSize) of the
//            device TF.js asks for (the adapter's own limits): refused, naming the tensor. 16-bit weights are split
//            into row chunks that fit (src/model/weights16.ts), so only unsplit tensors count. A browser reports no
//            GPU memory size: navigator.deviceMemory (RAM in GiB, rounded down to a power of two, at most 8; absent
//            in Firefox and Safari) is only a floor hint, so a plan over it is a warning, never a refusal.
//   webgl    not checked (float32 textures; its limits are texture sides, MAX_TEXTURE_SIZE).
//   host     a browser reports no tab memory either (see webgpu). Node: os.totalmem() (or process.constrainedMemory() in a container) is a hard limit, os.freemem()
//            (MemAvailable) a warning; Node's fs.readFileSync refuses files over 2 GiB (ERR_FS_FILE_TOO_LARGE), so the
//            'whole-file' loader cannot read such a shard at all.
import { formatBytes, formatLimit, layerRange } from '../core/format.ts';

export type Backend = 'wasm' | 'webgpu' | 'webgl' | 'cpu';
export type ResidPoint = 'hook_resid_pre' | 'hook_resid_mid' | 'hook_resid_post';

/** A family's config figures, as the lead maps each parsed config.json to them. */
export interface ModelShape {
  /** config.json's model_type ('gpt2', 'gemma2', 'gpt_neox'): selects the activation figures. */
  family: string;
  /** How messages name the model (e.g. 'gemma-2-2b'); default the family. */
  name?: string;
  nLayer: number;
  dModel: number;
  nHead: number;
  nKvHeads: number;
  headDim: number;
  dMlp: number;
  vocab: number;
  nCtx: number;
  /** The unembedding is W_Eᵀ (GPT-2, Gemma-2); false: a matrix of its own (Pythia's embed_out). */
  tied: boolean;
  /** gelu(x·W_gate) ⊙ x·W_up (Gemma-2): three MLP matrices, not two. */
  gatedMlp: boolean;
  /** Bytes per weight as released: 4 (float32: GPT-2), 2 (bfloat16: Gemma-2; float16: Pythia). */
  dtypeBytes: 2 | 4;
  /** The 16-bit format's name, for messages (default bfloat16). */
  dtype16?: 'bfloat16' | 'float16';
  /** GPT-2's wpe (nCtx × d); false: rotary, nothing stored. */
  learnedPositions: boolean;
  /** Biases on the attention and MLP projections (GPT-2, Pythia; not Gemma-2). */
  biases: boolean;
  /** Norms per block (GPT-2, Pythia 2; Gemma-2 4), each with a bias (LayerNorm) or not (RMSNorm). */
  normsPerBlock: number;
  normBias: boolean;
  /**
   * TransformerLens processing folds the final norm into the unembedding, which becomes a matrix of the model's own
   * (GPT-2, Pythia); false: the final norm keeps its scale and a tied unembedding stays the embedding (Gemma-2).
   */
  foldsUnembedding: boolean;
}

export interface SaeShape {
  dIn: number;
  dSae: number;
  /** JumpReLU's threshold vector. */
  threshold?: boolean;
}

/** A run's shape: where, on how many prompts, from which layer, and what else it computes. */
export interface RunShape {
  backend: Backend;
  /** The SAE's hook: blocks.{hookLayer}.{hookPoint} (default hook_resid_pre). */
  hookLayer: number;
  hookPoint?: ResidPoint;
  /** Prompts N and tokens T per prompt (the padded length). */
  prompts: number;
  tokens: number;
  /** The first position δ or the read-out touches: a step runs positions from..T−1 over the prefix's cached keys (default T − 1). */
  from?: number;
  /** δ positions per prompt P (default 1); one δ shared by every prompt (default) or one per prompt. */
  deltaPositions?: number;
  sharedDelta?: boolean;
  /** Best-δ checkpoints (checkpointMaxRelDrift): two more δ-sized tensors. */
  checkpoints?: boolean;
  /** Distinct unembedding columns the read-out weights (default 2: target and contrast). */
  readoutColumns?: number;
  /** 'readout': the attack alone; 'next-token' / 'generate': all V logits at one position per prompt. */
  view?: 'readout' | 'next-token' | 'generate';
  /** Tokens generated per prompt (view 'generate'): their embedding rows and positions. */
  generateTokens?: number;
  /** Distinct token ids in the prompts (default min(N·T, V)). */
  distinctTokens?: number;
  /** TransformerLens processing (default) makes the unembedding a matrix of its own (ln_final folded in). */
  processing?: 'transformer-lens' | 'none';
  sae: SaeShape;
  /** The SAE check's next-token loss (default true): a full forward per chunk of prompts, all V logits. */
  saeCheck?: boolean;
  /** First position of the feature attribution's gradient (default `from`: the onward form a real-model scenario takes; 0: the whole residual, as the built-in scenarios take it). */
  attributionFrom?: number;
  /** How the checkpoint reaches the device (default 'lazy'). */
  loader?: 'whole-file' | 'lazy';
  /** Bytes of the checkpoint's files (default: parameters · dtypeBytes), and of its largest file. */
  fileBytes?: number;
  largestFileBytes?: number;
}

export type Phase = 'load' | 'step' | 'attribution' | 'sae-check';

const PHASE_WORDS: Record<Phase, string> = {
  load: 'loading and processing the weights',
  step: 'the optimiser step',
  attribution: 'the feature attribution',
  'sae-check': 'the SAE check',
};

export interface PlanItem {
  /** What it holds, in words ("weights of layers 4–11"). */
  what: string;
  bytes: number;
  /** When it exists: all run long, or only during one phase. */
  phase: 'resident' | 'load' | 'step' | 'attribution' | 'sae-check';
}

export interface TensorSize {
  what: string;
  bytes: number;
}

export interface MemoryPlan {
  model: ModelShape;
  run: Required<Omit<RunShape, 'fileBytes' | 'largestFileBytes'>> & { fileBytes: number; largestFileBytes: number };
  params: ReturnType<typeof parameterCount>;
  /** Bytes per weight value on this backend. */
  weightBytes: 2 | 4;
  /** The first layer held (the hook's, or the next for hook_resid_post) and how many from there. */
  firstLayer: number;
  onwardLayers: number;
  device: {
    items: PlanItem[];
    resident: number;
    /** resident + each transient phase. */
    phases: Record<Phase, number>;
    peak: number;
    peakPhase: Phase;
  };
  /** The largest tensor no loader splits (a WebGPU buffer must hold it whole). */
  largestTensor: TensorSize;
  host: {
    /** Checkpoint bytes in host memory at the loader's peak. */
    loaderBytes: number;
    /** How many copies of the whole file exist at once (0 for a lazy loader: one tensor at a time). */
    fileCopies: number;
    /** Host memory in all: the loader's peak, the process's baseline, and the device peak where the device is host memory. */
    total: number;
    items: { what: string; bytes: number }[];
  };
  /** "gemma-2-2b's layers 11–25 in bfloat16 and 24 prompts". */
  description: string;
}

/** float32 values one layer holds at the height of a backward pass (what the forward saved and every gradient). */
export interface ActivationFloats {
  /** Per query row, attending `keys` keys. */
  perRow(m: ModelShape, keys: number): number;
  /** Per prompt, where the step's attention concatenates cached keys and values with its own (a suffix of T). */
  perPrompt(m: ModelShape, keys: number): number;
  /** Measured (bench/memory.bench.ts --calibrate) or estimated from the family's code. */
  source: 'measured' | 'estimated';
}

/**
 * A layer's share of a backward pass's peak, per query row. TF.js 4.22 holds, until the whole backward pass ends, both
 * what the forward saved for it (each op's inputsToSave / outputsToSave: a reshape keeps its input, an add and a
 * multiply both inputs, a softmax its output, a custom gradient what it saves) and every gradient it computes, the
 * intermediates of each custom gradient's gradFunc included (engine.gradients runs the backward pass in one tidy
 * scope and frees the saved tensors only at its end). Counting those by hand undercounts by half, so GPT-2's figures
 * are measured: tf.memory() at the backward pass's height on the wasm backend, hook at layer 4 of 12, 8 prompts
 * (bench/memory.bench.ts --calibrate), values a row and layer for the whole residual / a prompt and layer for one row
 * after a cached prefix, with each custom gradient's body in tf.tidy (src/model/layers.ts; before it, in brackets):
 *   d 768, T 15:  64,556 / 94,135    (96,432 / 120,690)
 *   d 768, T 30:  66,902 / 118,187   (98,777 / 145,710)
 *   d 512, T 15:  43,040 / 59,178    (64,292 / 80,462)
 *   d 512, T 15, d_mlp 2d and 8d: 34,848 / 50,986 and 60,919 / 80,421   (47,908 / 64,078 and 97,060 / 113,230)
 * The tidy cut a third of the whole residual's figure and a fifth to a quarter of the onward row's. The plan's
 * 48·d + 8.5·d_mlp + 13·H·keys a row (the d_mlp slope from the three d 512 widths, the keys slope from T 15 and 30) is
 * within 1.2% over each (0.02% under at d 512, d_mlp 2d); plus 2·keys·Hkv·hd + 8·d a prompt at a suffix (the cache
 * concatenated with the suffix's own keys and values), within 0–7% over the onward rows (0.02% under at d_mlp 8d).
 * Gemma-2 and GPT-NeoX are estimates from their code, not measured: Gemma's four norms, rotary embedding and
 * soft-capped scores and its gated MLP (gate, up, their product): 63·d + 14.5·d_mlp + 16·H·keys; NeoX is GPT-2's count
 * with rotary (51·d). Each was set at GPT-2's figure plus its own parts (73·d + 22·d_mlp + 12·H·keys and 61·d against
 * GPT-2's 58·d + 16·d_mlp + 9·H·keys then), and moved with GPT-2's when the tidy came in (−10·d, −7.5·d_mlp and +4·H·keys,
 * the last a correction: the old fit's keys slope was 9 where T 15 and 30 measure 13).
 */
export const ACTIVATION_FLOATS: Record<string, ActivationFloats> = {
  gpt2: {
    perRow: (m, keys) => 48 * m.dModel + 8.5 * m.dMlp + 13 * m.nHead * keys,
    perPrompt: (m, keys) => 2 * keys * m.nKvHeads * m.headDim + 8 * m.dModel,
    source: 'measured',
  },
  gemma2: {
    perRow: (m, keys) => 63 * m.dModel + 14.5 * m.dMlp + 16 * m.nHead * keys,
    perPrompt: (m, keys) => 2 * keys * m.nKvHeads * m.headDim + 8 * m.dModel,
    source: 'estimated',
  },
  gpt_neox: {
    perRow: (m, keys) => 51 * m.dModel + 8.5 * m.dMlp + 13 * m.nHead * keys,
    perPrompt: (m, keys) => 2 * keys * m.nKvHeads * m.headDim + 8 * m.dModel,
    source: 'estimated',
  },
};

/** wasm's heap: 4 GiB − 64 KiB (Emscripten's getHeapMax() in TF.js 4.22's builds). */
export const WASM_HEAP_MAX = 4_294_901_760;
/**
 * The wasm heap's size over the tensors' peak: its growth steps (20%, or the request + 96 MiB) and fragmentation (a
 * freed block too small for the next tensor; the heap never shrinks). Measured on GPT-2 small's paper-ioi
 * (bench/memory.bench.ts): 1.09 where one phase's monotone climb made the peak (the attribution over the whole
 * residual); 1.65 (8 prompts) and 1.75 (64) since that is cut and tensors of many sizes come and go (processing
 * freed the raw weights' blocks, and later tensors fit their holes only in part). A plan over the ceiling at 1.1 is refused (it cannot fit); over it at
 * WASM_HEAP_WORST it is warned about, and the host figure counts the heap at WASM_HEAP_WORST.
 */
export const WASM_HEAP_FACTOR = 1.1;
export const WASM_HEAP_WORST = 1.9;
/** A Node CLI process before any model: V8, TF.js with its wasm module, the tokenizer (measured RSS, rounded up). */
export const NODE_BASELINE_BYTES = 300e6;
/**
 * The SAE check's full forward (one scope; clean and spliced one after the other): about 10 logit-sized tensors per
 * chunk, the forward's own activations included (measured: 306 MiB over 11 prompts × 15 × 50,257 logits, 9.7).
 */
export const SAE_CHECK_LOGIT_COPIES = 10;
/** The SAE check's encoding of a chunk (pre-activations, z, its step, the reconstruction): 7.4 [c·T, dSae] measured. */
export const SAE_CHECK_ENCODING_COPIES = 8;
/** Node's fs.readFileSync refuses a file over 2 GiB − 1 byte (ERR_FS_FILE_TOO_LARGE). */
export const NODE_READ_FILE_MAX = 2 ** 31 - 1;
/**
 * The SAE check (src/scenarios/sae-check.ts) runs a chunk of prompts at a time, as many as keep the chunk's largest
 * tensor — its [rows·T, d_sae] feature activations, or its [rows·T, V] logits — under this many bytes (one prompt at
 * least): GPT-2 small's 15-token IOI prompts go 11 to a forward (3 MB of logits a prompt), gemma-2-2b's 2.
 */
export const SAE_CHECK_CHUNK_BYTES = 32 * 2 ** 20;
/** Prompts per chunk of T tokens whose per-token width (d_sae, or the vocabulary) is `width` floats. */
export const saeCheckChunkRows = (tokens: number, width: number, bytes = SAE_CHECK_CHUNK_BYTES): number =>
  Math.max(1, Math.floor(bytes / (4 * tokens * width)));

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

function blockMatrices(m: ModelShape): { name: string; rows: number; cols: number }[] {
  const { dModel: d, nHead: H, nKvHeads: Hkv, headDim: hd, dMlp: F } = m;
  return [
    { name: 'W_qkv', rows: d, cols: (H + 2 * Hkv) * hd },
    { name: 'W_O', rows: H * hd, cols: d },
    { name: m.gatedMlp ? 'W_gate|W_up' : 'W_in', rows: d, cols: (m.gatedMlp ? 2 : 1) * F },
    { name: m.gatedMlp ? 'W_down' : 'W_out', rows: F, cols: d },
  ];
}

/** Parameter counts (values) by part, from the config's figures (see the file's head). */
export function parameterCount(m: ModelShape) {
  const { dModel: d, nHead: H, nKvHeads: Hkv, headDim: hd, dMlp: F, vocab: V } = m;
  const matrices = sum(blockMatrices(m).map((w) => w.rows * w.cols));
  const biases = m.biases ? (H + 2 * Hkv) * hd + d + (m.gatedMlp ? 2 : 1) * F + d : 0;
  const norms = m.normsPerBlock * d * (m.normBias ? 2 : 1);
  const perBlock = matrices + biases + norms;
  const embedding = V * d;
  const positions = m.learnedPositions ? m.nCtx * d : 0;
  const unembedding = m.tied ? 0 : V * d;
  const finalNorm = d * (m.normBias ? 2 : 1);
  const blocks = m.nLayer * perBlock;
  return {
    embedding,
    positions,
    perBlock,
    perBlockMatrices: matrices,
    blocks,
    finalNorm,
    unembedding,
    total: embedding + positions + blocks + finalNorm + unembedding,
  };
}

/** Bytes per weight value on a backend: 16-bit weights stay 16-bit on WebGPU (weights16.ts), float32 elsewhere. */
export const weightBytesOn = (backend: Backend, dtypeBytes: 2 | 4): 2 | 4 => (backend === 'webgpu' && dtypeBytes === 2 ? 2 : 4);

function dtypeName(m: ModelShape, w: 2 | 4): string {
  const released = m.dtypeBytes === 2 ? (m.dtype16 ?? 'bfloat16') : 'float32';
  if (w === 2) return released;
  return m.dtypeBytes === 2 ? `float32 (widened from ${released})` : 'float32';
}

/** What a run needs (see the file's head for every formula). */
export function planRun(m: ModelShape, shape: RunShape): MemoryPlan {
  const params = parameterCount(m);
  const T = shape.tokens;
  const N = shape.prompts;
  const run = {
    backend: shape.backend,
    hookLayer: shape.hookLayer,
    hookPoint: shape.hookPoint ?? 'hook_resid_pre',
    prompts: N,
    tokens: T,
    from: shape.from ?? T - 1,
    deltaPositions: shape.deltaPositions ?? 1,
    sharedDelta: shape.sharedDelta ?? true,
    checkpoints: shape.checkpoints ?? false,
    readoutColumns: shape.readoutColumns ?? 2,
    view: shape.view ?? 'readout',
    generateTokens: shape.view === 'generate' ? (shape.generateTokens ?? 0) : 0,
    distinctTokens: Math.min(shape.distinctTokens ?? N * T, m.vocab),
    processing: shape.processing ?? 'transformer-lens',
    sae: shape.sae,
    saeCheck: shape.saeCheck ?? true,
    attributionFrom: shape.attributionFrom ?? shape.from ?? T - 1,
    loader: shape.loader ?? 'lazy',
    fileBytes: shape.fileBytes ?? params.total * m.dtypeBytes,
    largestFileBytes: shape.largestFileBytes ?? shape.fileBytes ?? params.total * m.dtypeBytes,
  };
  if (!(run.hookLayer >= 0 && run.hookLayer < m.nLayer)) throw new RangeError(`hook layer ${run.hookLayer} is outside 0..${m.nLayer - 1}`);
  if (!(run.from >= 0 && run.from < T)) throw new RangeError(`from ${run.from} is outside 0..${T - 1}`);
  const { dModel: d, vocab: V } = m;
  const kvWidth = m.nKvHeads * m.headDim;
  const w = weightBytesOn(run.backend, m.dtypeBytes);
  const F32 = 4;
  const firstLayer = run.hookPoint === 'hook_resid_post' ? run.hookLayer + 1 : run.hookLayer;
  const onward = m.nLayer - firstLayer;
  const matrixValues = params.perBlockMatrices;
  const vectorValues = params.perBlock - matrixValues;
  const blockBytes = matrixValues * w + vectorValues * F32;
  const fullUnembed = run.view !== 'readout';
  const foldedUnembed = run.processing === 'transformer-lens' && m.foldsUnembedding;
  const ownUnembed = !m.tied || foldedUnembed;
  const items: PlanItem[] = [];
  const add = (what: string, bytes: number, phase: PlanItem['phase'] = 'resident') => {
    if (bytes > 0) items.push({ what, bytes, phase });
  };

  // Weights.
  if (onward > 0) add(`weights of ${layerRange(firstLayer, m.nLayer - 1)} (${dtypeName(m, w)})`, onward * blockBytes);
  if (firstLayer > 0) add(`one of layers 0–${firstLayer - 1} at a time, streamed to compute the residual at the hook`, blockBytes);
  const embedRows = run.distinctTokens + N * run.generateTokens;
  // A tied, unprocessed model's full unembedding is the embedding itself: its rows are already there.
  if (!(fullUnembed && !ownUnembed)) add(`embedding rows of ${embedRows.toLocaleString('en-US')} tokens`, Math.min(embedRows, V) * d * w);
  if (m.learnedPositions) add(`position embeddings of ${T + run.generateTokens} positions`, (T + run.generateTokens) * d * F32);
  add('final norm', params.finalNorm * F32);
  const unembedFull = V * d * w + (foldedUnembed && m.normBias ? V * F32 : 0);
  if (fullUnembed)
    add(
      `the whole unembedding (${V.toLocaleString('en-US')} columns) for ${run.view === 'generate' ? 'generation' : 'the next-token view'}`,
      unembedFull,
    );
  else add(`unembedding columns of the read-out (${run.readoutColumns})`, run.readoutColumns * d * F32);

  // Kept transposes on wasm.
  if (run.backend === 'wasm') {
    add(`kept transposes (Wᵀ) of ${layerRange(firstLayer, m.nLayer - 1)}'s matrices (wasm)`, onward * matrixValues * F32);
    if (fullUnembed && !ownUnembed) add('W_Eᵀ kept for the tied unembedding (wasm)', V * d * F32);
    add('the read-out columns transposed (wasm)', run.readoutColumns * d * F32);
  }

  // SAE, site, cache, optimiser.
  const { dIn, dSae } = run.sae;
  add(`the SAE (${dIn} × ${dSae.toLocaleString('en-US')}, float32)`, (2 * dIn * dSae + dSae + dIn + (run.sae.threshold ? dSae : 0)) * F32);
  const P = run.deltaPositions;
  add('residuals at the hook (base, defended, its suffix, the δ slots)', (2 * N * T * d + N * (T - run.from) * d + 2 * N * P * d) * F32);
  add(`keys and values of positions 0–${run.from - 1} at ${onward} layers`, onward * 2 * N * run.from * kvWidth * F32);
  const deltaValues = (run.sharedDelta ? 1 : N) * P * d;
  add(`δ, Adam's moments${run.checkpoints ? ', the best δ' : ''} and the gradient`, (4 + (run.checkpoints ? 2 : 0)) * deltaValues * F32);

  // Transients.
  const acts = ACTIVATION_FLOATS[m.family] ?? ACTIVATION_FLOATS.gpt2;
  const stepRows = T - run.from;
  // Loading: one layer at a time, processed (folded and centred) as it arrives: the layer and two processed copies;
  // and the unembedding, when all of it is needed and the family folds it, folded step by step (two [d, V] at once).
  if (run.processing === 'transformer-lens')
    add('processing one layer as it loads (the layer and two processed copies)', 3 * blockBytes, 'load');
  if (foldedUnembed && (fullUnembed || run.saeCheck)) add('processing the whole unembedding (two copies at once)', 2 * V * d * w, 'load');
  add(
    `activations kept for the backward pass: ${N} prompts × ${stepRows} position${stepRows > 1 ? 's' : ''} × ${onward} layers`,
    onward * (N * stepRows * acts.perRow(m, T) + (run.from > 0 ? N * acts.perPrompt(m, T) : 0)) * F32,
    'step',
  );
  const attrRows = T - run.attributionFrom;
  add(
    `the feature attribution's backward pass: ${N} prompts × ${attrRows} position${attrRows > 1 ? 's' : ''} × ${onward} layers`,
    onward * (N * attrRows * acts.perRow(m, T) + (run.attributionFrom > 0 ? N * acts.perPrompt(m, T) : 0)) * F32,
    'attribution',
  );
  if (run.backend === 'wasm') add("the attribution's W_decᵀ (wasm)", dSae * dIn * F32, 'attribution');
  // The attribution's chunk: [chunk·rows, dSae] activations, their gradient and product (≤ 4 M values each, one
  // prompt at least; core/attribution.ts).
  const attrChunk = Math.min(N, Math.max(1, Math.floor(4_000_000 / (attrRows * dSae))));
  add("the attribution's chunk of feature activations", 3 * attrChunk * attrRows * dSae * F32, 'attribution');
  if (run.saeCheck) {
    const chunk = Math.min(saeCheckChunkRows(T, V), N);
    const encodeChunk = Math.min(saeCheckChunkRows(T, dSae), N);
    if (!fullUnembed) add('the whole unembedding, for the SAE check’s next-token loss', unembedFull, 'sae-check');
    // Its encoding pass, then its forwards: the larger of the two chunks' transients.
    const forward = SAE_CHECK_LOGIT_COPIES * chunk * T * V * F32;
    const encoding = SAE_CHECK_ENCODING_COPIES * encodeChunk * T * dSae * F32;
    if (forward >= encoding)
      add(
        `the SAE check's full forward: ${chunk} prompt${chunk === 1 ? '' : 's'} × ${T} positions × ${V.toLocaleString('en-US')} logits`,
        forward,
        'sae-check',
      );
    else
      add(
        `the SAE check's encoding of ${encodeChunk} prompt${encodeChunk === 1 ? '' : 's'} (pre-activations, z, its reconstruction)`,
        encoding,
        'sae-check',
      );
    if (run.backend === 'wasm' && !ownUnembed && !fullUnembed) add('W_Eᵀ for the SAE check (wasm)', V * d * F32, 'sae-check');
  }

  const resident = sum(items.filter((i) => i.phase === 'resident').map((i) => i.bytes));
  const phaseSum = (p: PlanItem['phase']) => resident + sum(items.filter((i) => i.phase === p).map((i) => i.bytes));
  const phases = {
    load: phaseSum('load'),
    step: phaseSum('step'),
    attribution: phaseSum('attribution'),
    'sae-check': phaseSum('sae-check'),
  };
  const peakPhase = (Object.keys(phases) as (keyof typeof phases)[]).reduce((a, b) => (phases[b] > phases[a] ? b : a));
  const peak = phases[peakPhase];

  // The largest tensor no loader splits: 16-bit weights on WebGPU are split into chunks that fit a binding.
  const tensors: TensorSize[] = [
    { what: `the SAE's W_enc (${dIn} × ${dSae.toLocaleString('en-US')} floats)`, bytes: dIn * dSae * F32 },
    { what: `one layer's keys (${N} prompts × ${run.from} positions × ${kvWidth})`, bytes: N * run.from * kvWidth * F32 },
    {
      what: `one layer's MLP activations (${N * attrRows} rows × ${(m.gatedMlp ? 2 : 1) * m.dMlp})`,
      bytes: N * attrRows * (m.gatedMlp ? 2 : 1) * m.dMlp * F32,
    },
  ];
  if (run.saeCheck || fullUnembed) {
    const rows = run.saeCheck ? Math.min(saeCheckChunkRows(T, V), N) * T : N;
    tensors.push({ what: `logits (${rows} rows × ${V.toLocaleString('en-US')})`, bytes: rows * V * F32 });
  }
  if (w === 4) {
    for (const b of blockMatrices(m))
      tensors.push({ what: `a block's ${b.name} (${b.rows} × ${b.cols} floats)`, bytes: b.rows * b.cols * F32 });
    if (fullUnembed || run.saeCheck)
      tensors.push({ what: `the unembedding (${d} × ${V.toLocaleString('en-US')} floats)`, bytes: V * d * F32 });
  }
  const largestTensor = tensors.reduce((a, b) => (b.bytes > a.bytes ? b : a));

  // Host.
  const hostItems: { what: string; bytes: number }[] = [];
  let fileCopies = 0;
  if (run.loader === 'whole-file') {
    hostItems.push({ what: 'the checkpoint file read whole', bytes: run.fileBytes });
    hostItems.push({ what: 'every tensor decoded to float32 at once', bytes: (run.fileBytes * 4) / m.dtypeBytes });
    fileCopies = 1 + 4 / m.dtypeBytes;
  } else {
    const largest = Math.max(...blockMatrices(m).map((b) => b.rows * b.cols), V * d);
    // float32 kept float32: the bytes read are the tensor; widened: and its float32 copy; 16-bit on WebGPU: and its
    // packed int32 words (weights16.ts packRows), the same size.
    const second = w === 2 ? ' and packed' : m.dtypeBytes === 2 ? ' and as float32' : '';
    hostItems.push({ what: `the largest tensor as stored${second}`, bytes: largest * m.dtypeBytes + (second ? largest * w : 0) });
  }
  const loaderBytes = sum(hostItems.map((i) => i.bytes));
  hostItems.push({ what: 'the process (V8, TF.js, the tokenizer)', bytes: NODE_BASELINE_BYTES });
  if (run.backend === 'wasm')
    hostItems.push({
      what: "the wasm heap (the device's peak, grown in steps and fragmented)",
      bytes: Math.min(WASM_HEAP_MAX, peak * WASM_HEAP_WORST),
    });
  if (run.backend === 'cpu') hostItems.push({ what: "the cpu backend's tensors", bytes: peak });

  const description = `${m.name ?? m.family}'s ${layerRange(firstLayer, m.nLayer - 1)} in ${dtypeName(m, w)} and ${N} prompt${N === 1 ? '' : 's'}`;
  return {
    model: m,
    run,
    params,
    weightBytes: w,
    firstLayer,
    onwardLayers: onward,
    device: { items, resident, phases, peak, peakPhase },
    largestTensor,
    host: { loaderBytes, fileCopies, total: sum(hostItems.map((i) => i.bytes)), items: hostItems },
    description,
  };
}

/** Where a run would go, and what that place allows; any figure left out is not checked. */
export interface Limits {
  backend: Backend;
  /** Where it runs, for messages ("WebGPU here", "WebGPU on NVIDIA H200 (Dawn)"). */
  label?: string;
  /** wasm: the heap's ceiling (default WASM_HEAP_MAX); lower it for a browser known to allow less. */
  wasmHeapBytes?: number;
  /** WebGPU: the device's (= the adapter's, as TF.js requests them) limits. */
  maxBufferSize?: number;
  maxStorageBufferBindingSize?: number;
  /** A browser's navigator.deviceMemory (GiB of RAM, coarse): a floor hint, warned against, never refused on. */
  deviceMemoryGiB?: number;
  /** Host RAM: total (Node os.totalmem(), or a container's limit) and available now (os.freemem()). */
  hostTotalBytes?: number;
  hostAvailableBytes?: number;
  /** Node reads files whole with readFileSync (the 'whole-file' loader): a file over 2 GiB cannot be read. */
  nodeReadFile?: boolean;
}

export type FitResult = { ok: true; warnings: string[] } | { ok: false; message: string; warnings: string[] };

/** Refuse on hard limits, warn on soft ones (see the file's head). */
export function checkFits(plan: MemoryPlan, limits: Limits): FitResult {
  const warnings: string[] = [];
  const refusals: string[] = [];
  const needs = (bytes: number, what: string) => `this run needs ${formatBytes(bytes)} of ${what} for ${plan.description}`;
  const peakPart = `(at its peak, ${PHASE_WORDS[plan.device.peakPhase]})`;
  const where = limits.label;
  if (limits.backend === 'wasm') {
    const ceiling = limits.wasmHeapBytes ?? WASM_HEAP_MAX;
    const heap = plan.device.peak * WASM_HEAP_FACTOR;
    if (heap > ceiling)
      refusals.push(
        `${needs(heap, 'wasm memory')} ${peakPart}; ${where ?? 'the wasm backend'} has at most ${formatLimit(ceiling)} (past it TF.js's wasm backend corrupts tensors instead of failing): use WebGPU, fewer prompts or a later hook layer`,
      );
    else if (plan.device.peak * WASM_HEAP_WORST > ceiling)
      warnings.push(
        `${needs(plan.device.peak, 'tensor memory')} ${peakPart}; with the wasm heap's fragmentation that can reach ${formatBytes(plan.device.peak * WASM_HEAP_WORST)}, over the ${formatLimit(ceiling)} ${where ?? 'the wasm backend'} has: it may run out`,
      );
  }
  if (limits.backend === 'webgpu') {
    const binding = Math.min(
      limits.maxBufferSize ?? Number.POSITIVE_INFINITY,
      limits.maxStorageBufferBindingSize ?? Number.POSITIVE_INFINITY,
    );
    if (plan.largestTensor.bytes > binding) {
      const which =
        (limits.maxStorageBufferBindingSize ?? Number.POSITIVE_INFINITY) <= (limits.maxBufferSize ?? Number.POSITIVE_INFINITY)
          ? 'maxStorageBufferBindingSize'
          : 'maxBufferSize';
      refusals.push(
        `this run needs one GPU buffer of ${formatBytes(plan.largestTensor.bytes)} for ${plan.largestTensor.what}; ${where ?? 'WebGPU here'} allows at most ${formatLimit(binding)} in one buffer (${which})`,
      );
    }
    if (limits.deviceMemoryGiB !== undefined && plan.device.peak > limits.deviceMemoryGiB * 2 ** 30)
      warnings.push(
        `${needs(plan.device.peak, 'GPU memory')} ${peakPart}; this browser reports ${limits.deviceMemoryGiB} GB of RAM (a lower bound, and a GPU's own memory is not reported): it may not fit`,
      );
  }
  if (limits.nodeReadFile && plan.run.loader === 'whole-file' && plan.run.largestFileBytes > NODE_READ_FILE_MAX)
    refusals.push(
      `the checkpoint has a file of ${formatBytes(plan.run.largestFileBytes)}; Node reads a file whole only up to 2 GiB (fs.readFileSync): it must be read tensor by tensor`,
    );
  if (limits.hostTotalBytes !== undefined && plan.host.total > limits.hostTotalBytes)
    refusals.push(`${needs(plan.host.total, 'memory (RAM)')}; this machine has ${formatBytes(limits.hostTotalBytes)}`);
  else if (limits.hostAvailableBytes !== undefined && plan.host.total > limits.hostAvailableBytes)
    warnings.push(`${needs(plan.host.total, 'memory (RAM)')}; ${formatBytes(limits.hostAvailableBytes)} is free now`);
  return refusals.length ? { ok: false, message: refusals.join('; and '), warnings } : { ok: true, warnings };
}

/** What Node found: RAM, cores and (through Dawn) a GPU adapter's limits. */
export interface NodeHost {
  totalBytes: number;
  availableBytes: number;
  /** A cgroup's memory limit, when lower than the machine's RAM. */
  constrainedBytes?: number;
  cores: number;
  gpu: { adapter: string; maxBufferSize: number; maxStorageBufferBindingSize: number } | null;
}

export interface Placement {
  backend: Backend;
  /** How it runs: "WebGPU through Dawn on …", "TF.js wasm (4 GiB heap)", "TF.js cpu (plain JavaScript)". */
  how: string;
  /** Its memory ceiling, in words. */
  ceiling: string;
  devicePeak: number;
  hostPeak: number;
  fits: FitResult;
}

/** One row per backend this Node process could use, best first: WebGPU (Dawn) when an adapter was found, wasm, cpu. */
export function whatRunsWhere(m: ModelShape, run: Omit<RunShape, 'backend'>, host: NodeHost): Placement[] {
  const total = Math.min(host.totalBytes, host.constrainedBytes ?? Number.POSITIVE_INFINITY);
  const hostLimits = { hostTotalBytes: total, hostAvailableBytes: host.availableBytes };
  const rows: Placement[] = [];
  const row = (backend: Backend, how: string, ceiling: string, limits: Limits) => {
    const plan = planRun(m, { ...run, backend });
    rows.push({ backend, how, ceiling, devicePeak: plan.device.peak, hostPeak: plan.host.total, fits: checkFits(plan, limits) });
  };
  if (host.gpu) {
    const { adapter, maxBufferSize, maxStorageBufferBindingSize } = host.gpu;
    const binding = Math.min(maxBufferSize, maxStorageBufferBindingSize);
    row('webgpu', `WebGPU through Dawn on ${adapter}`, `${formatLimit(binding)} per buffer; the GPU's total memory is not reported`, {
      backend: 'webgpu',
      label: `WebGPU on ${adapter}`,
      maxBufferSize,
      maxStorageBufferBindingSize,
      ...hostLimits,
    });
  }
  row('wasm', `TF.js wasm, ${host.cores} core${host.cores === 1 ? '' : 's'}`, `${formatLimit(WASM_HEAP_MAX)} heap`, {
    backend: 'wasm',
    ...hostLimits,
  });
  row('cpu', 'TF.js cpu (plain JavaScript, slow)', `${formatBytes(total)} RAM`, { backend: 'cpu', ...hostLimits });
  return rows;
}

/** The parts of Dawn's Node addon (npm `webgpu`) probeNodeHost reads. */
export interface DawnModule {
  create(flags: string[]): { requestAdapter(options?: object): Promise<DawnAdapter | null> };
}
interface DawnAdapter {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
}

/**
 * RAM and a GPU as Node sees them; the caller passes Node's APIs (this module imports none), e.g.
 *   probeNodeHost({ totalmem: os.totalmem, freemem: os.freemem, cores: os.availableParallelism(),
 *                   constrainedMemory: process.constrainedMemory, loadDawn: () => import(DAWN_PACKAGE) })
 * with DAWN_PACKAGE = 'webgpu' in a variable (an optional package: bench/dawn.bench.ts). No Dawn, or no adapter: gpu null.
 */
export async function probeNodeHost(deps: {
  totalmem: () => number;
  freemem: () => number;
  cores: number;
  constrainedMemory?: () => number | undefined;
  loadDawn?: () => Promise<unknown>;
}): Promise<NodeHost> {
  const totalBytes = deps.totalmem();
  const constrained = deps.constrainedMemory?.();
  let gpu: NodeHost['gpu'] = null;
  if (deps.loadDawn) {
    try {
      const dawn = (await deps.loadDawn()) as DawnModule;
      const adapter = await dawn.create([]).requestAdapter({ powerPreference: 'high-performance' });
      if (adapter) {
        const i = adapter.info ?? {};
        gpu = {
          adapter: [i.description || i.device, i.vendor].filter(Boolean).join(', ') || 'unknown adapter',
          maxBufferSize: adapter.limits.maxBufferSize,
          maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        };
      }
    } catch {
      gpu = null;
    }
  }
  return {
    totalBytes,
    availableBytes: deps.freemem(),
    // process.constrainedMemory() is 2^64 − 1 (or 0, or undefined) without a limit.
    ...(constrained && constrained > 0 && constrained < totalBytes ? { constrainedBytes: constrained } : {}),
    cores: deps.cores,
    gpu,
  };
}
