import { describe, expect, it } from 'vitest';
import { formatBytes } from '../core/format.ts';
import {
  checkFits,
  type ModelShape,
  parameterCount,
  planRun,
  probeNodeHost,
  type RunShape,
  saeCheckChunkRows,
  WASM_HEAP_FACTOR,
  WASM_HEAP_MAX,
  WASM_HEAP_WORST,
  whatRunsWhere,
} from './memory-plan.ts';
import { MODEL_SHAPES } from './published.ts';

const GPT2 = MODEL_SHAPES['gpt2-small'];
const GEMMA = MODEL_SHAPES['gemma-2-2b'];
const PYTHIA = MODEL_SHAPES['pythia-70m-deduped'];

describe('parameterCount', () => {
  it('GPT-2 small: 124,439,808 with wpe, tensor by tensor as Hugging Face stores them', () => {
    const [V, d, n, L] = [50257, 768, 1024, 12];
    const layer =
      2 * d + // ln_1 weight, bias
      (d * 3 * d + 3 * d) + // attn.c_attn
      (d * d + d) + // attn.c_proj
      2 * d + // ln_2
      (d * 4 * d + 4 * d) + // mlp.c_fc
      (4 * d * d + d); // mlp.c_proj
    expect(layer).toBe(7_087_872);
    const total = V * d + n * d + L * layer + 2 * d;
    expect(total).toBe(124_439_808);
    const p = parameterCount(GPT2);
    expect(p.perBlock).toBe(layer);
    expect(p.total).toBe(total);
    expect(p.unembedding).toBe(0);
  });

  it('gemma-2-2b: 2,614,341,888 (grouped-query attention, gated MLP, four RMSNorms a layer, no biases, tied)', () => {
    const [V, d, L, H, Hkv, hd, F] = [256000, 2304, 26, 8, 4, 256, 9216];
    const layer =
      d * H * hd + // q_proj
      2 * d * Hkv * hd + // k_proj, v_proj
      H * hd * d + // o_proj
      3 * d * F + // gate_proj, up_proj, down_proj
      4 * d; // input, post_attention, pre_feedforward, post_feedforward norms
    expect(layer).toBe(77_865_984);
    const total = V * d + L * layer + d;
    expect(total).toBe(2_614_341_888);
    expect(parameterCount(GEMMA).total).toBe(total);
  });

  it('pythia-70m-deduped: 70,426,624 (untied embed_out, biases, two LayerNorms a layer)', () => {
    const [V, d, L, F] = [50304, 512, 6, 2048];
    const layer =
      2 * 2 * d + // input_layernorm, post_attention_layernorm (weight, bias)
      (d * 3 * d + 3 * d) + // attention.query_key_value
      (d * d + d) + // attention.dense
      (d * F + F) + // mlp.dense_h_to_4h
      (F * d + d); // mlp.dense_4h_to_h
    expect(layer).toBe(3_152_384);
    const total = V * d + V * d + L * layer + 2 * d; // embed_in, embed_out, layers, final_layer_norm
    expect(total).toBe(70_426_624);
    expect(parameterCount(PYTHIA).total).toBe(total);
  });
});

/** The paper's IOI on GPT-2 small: 64 BABA prompts of 15 tokens, δ and the read-out at the last one, layer 4's SAE. */
const PAPER_IOI: RunShape = {
  backend: 'wasm',
  hookLayer: 4,
  prompts: 64,
  tokens: 15,
  readoutColumns: 2,
  sae: { dIn: 768, dSae: 24576 },
};

const item = (plan: ReturnType<typeof planRun>, start: string) => {
  const found = plan.device.items.filter((i) => i.what.startsWith(start));
  expect(found, start).toHaveLength(1);
  return found[0].bytes;
};

describe('planRun', () => {
  it("the paper's IOI on wasm, by hand", () => {
    const plan = planRun(GPT2, PAPER_IOI);
    const d = 768;
    const matrices = 12 * d * d; // W_attn 3d², W_O d², W_in 4d², W_out 4d²
    const vectors = 7_087_872 - matrices;
    const block = 4 * (matrices + vectors);
    expect(plan.firstLayer).toBe(4);
    expect(plan.onwardLayers).toBe(8);
    expect(item(plan, 'weights of layers 4–11')).toBe(8 * block);
    expect(item(plan, 'one of layers 0–3')).toBe(block);
    expect(item(plan, 'embedding rows of 960 tokens')).toBe(960 * d * 4);
    expect(item(plan, 'position embeddings of 15')).toBe(15 * d * 4);
    expect(item(plan, 'unembedding columns')).toBe(2 * d * 4);
    expect(item(plan, 'kept transposes')).toBe(8 * matrices * 4);
    expect(item(plan, 'the SAE (')).toBe((2 * d * 24576 + 24576 + d) * 4);
    expect(item(plan, 'residuals at the hook')).toBe((2 * 64 * 15 * d + 64 * d + 2 * 64 * d) * 4);
    expect(item(plan, 'keys and values of positions 0–13')).toBe(8 * 2 * 64 * 14 * d * 4);
    expect(item(plan, 'δ, Adam')).toBe(4 * d * 4);
    // At the backward pass's height a layer holds 48·d + 8.5·d_mlp + 13·H·T values a row (measured), and a prompt whose
    // step starts after a cached prefix the cache concatenated with its own keys and values, 2·T·d, and 8·d more.
    const perRow = 48 * d + 8.5 * 3072 + 13 * 12 * 15;
    expect(perRow).toBe(65_316);
    const perPrompt = 2 * 15 * d + 8 * d;
    expect(item(plan, 'activations kept')).toBe(8 * 64 * (perRow + perPrompt) * 4);
    // The attribution from the first δ position on (the onward form, as a real-model scenario computes it) costs the
    // same; over all 15 positions (the built-in scenarios' way), 15 times the rows.
    expect(item(plan, "the feature attribution's backward")).toBe(8 * 64 * (perRow + perPrompt) * 4);
    const today = planRun(GPT2, { ...PAPER_IOI, attributionFrom: 0 });
    expect(item(today, "the feature attribution's backward")).toBe(8 * 64 * 15 * perRow * 4);
    expect(item(plan, "the attribution's W_decᵀ")).toBe(24576 * d * 4);
    // Its chunk: as many prompts as keep [prompts·rows, d_sae] under 4 M values: all 64 at one row, 10 at 15.
    expect(item(plan, "the attribution's chunk")).toBe(3 * 64 * 24576 * 4);
    expect(item(today, "the attribution's chunk")).toBe(3 * 10 * 15 * 24576 * 4);
    expect(item(plan, 'processing one layer')).toBe(3 * block);
    expect(item(plan, 'processing the whole unembedding')).toBe(2 * 50257 * d * 4);
    expect(item(plan, 'the whole unembedding')).toBe(50257 * d * 4 + 50257 * 4);
    // The SAE check's chunks keep one [prompts·T, V] or [prompts·T, d_sae] tensor under 32 MiB: 11 prompts of logits
    // (10 such tensors at the height), 22 of feature activations (8); the forward's is the larger.
    expect(saeCheckChunkRows(15, 50257)).toBe(11);
    expect(saeCheckChunkRows(15, 24576)).toBe(22);
    expect(saeCheckChunkRows(15, 256000)).toBe(2);
    expect(saeCheckChunkRows(4096, 256000)).toBe(1);
    expect(item(plan, "the SAE check's full forward")).toBe(10 * 11 * 15 * 50257 * 4);
    expect(plan.device.items.some((i) => i.what.startsWith("the SAE check's encoding"))).toBe(false);
    // An SAE of 2²⁰ features: one prompt's activations are over 32 MiB, and its encoding is the larger.
    const wide = planRun(GPT2, { ...PAPER_IOI, sae: { dIn: 768, dSae: 2 ** 20 } });
    expect(item(wide, "the SAE check's encoding of 1 prompt (")).toBe(8 * 15 * 2 ** 20 * 4);
    const resident = plan.device.items.filter((i) => i.phase === 'resident').reduce((a, i) => a + i.bytes, 0);
    expect(plan.device.resident).toBe(resident);
    const transient = (p: string) => plan.device.items.filter((i) => i.phase === p).reduce((a, i) => a + i.bytes, 0);
    expect(plan.device.phases['sae-check']).toBe(resident + transient('sae-check'));
    expect(plan.device.peakPhase).toBe('sae-check');
    expect(plan.device.peak).toBe(Math.max(...Object.values(plan.device.phases)));
    // About 1.2 GB: within wasm's 4 GiB with room. Today's code (all layers, the raw and the processed copies at once
    // while processing) peaks at 1.3 GB of tensors (bench/memory.bench.ts); with the attribution over the whole residual
    // it peaked at 4.0 GB, and planned so the attribution alone is 2.8 GB.
    expect(plan.device.peak).toBeGreaterThan(1.1e9);
    expect(plan.device.peak).toBeLessThan(1.3e9);
    expect(today.device.peakPhase).toBe('attribution');
    expect(plan.description).toBe("GPT-2 small's layers 4–11 in float32 and 64 prompts");
    expect(checkFits(plan, { backend: 'wasm' })).toEqual({ ok: true, warnings: [] });
    // Host: a lazy loader holds the largest tensor (wte, 50257 × 768 floats), beside the process and the wasm heap.
    expect(plan.host.fileCopies).toBe(0);
    expect(plan.host.loaderBytes).toBe(50257 * d * 4);
    expect(plan.host.total).toBeCloseTo(50257 * d * 4 + 300e6 + plan.device.peak * WASM_HEAP_WORST, 0);
  });

  it("today's whole-file loader keeps two copies of a float32 file and three of a 16-bit one", () => {
    const f32 = planRun(GPT2, { ...PAPER_IOI, loader: 'whole-file', fileBytes: 548_105_171 });
    expect(f32.host.fileCopies).toBe(2);
    expect(f32.host.loaderBytes).toBe(2 * 548_105_171);
    const bf16 = planRun(GEMMA, { ...PAPER_IOI, sae: { dIn: 2304, dSae: 16384, threshold: true }, loader: 'whole-file' });
    expect(bf16.host.fileCopies).toBe(3);
    expect(bf16.host.loaderBytes).toBe(3 * 2_614_341_888 * 2);
  });

  it('gemma-2-2b on WebGPU keeps layers 11–25 in bfloat16, by hand', () => {
    const plan = planRun(GEMMA, {
      backend: 'webgpu',
      hookLayer: 11,
      prompts: 24,
      tokens: 40,
      sae: { dIn: 2304, dSae: 16384, threshold: true },
      saeCheck: false,
    });
    const [d, H, Hkv, hd, F] = [2304, 8, 4, 256, 9216];
    const matrices = d * (H + 2 * Hkv) * hd + H * hd * d + 3 * d * F;
    expect(item(plan, 'weights of layers 11–25 (bfloat16)')).toBe(15 * (2 * matrices + 4 * 4 * d));
    expect(plan.device.items.some((i) => i.what.includes('transposes'))).toBe(false);
    expect(item(plan, 'keys and values of positions 0–38')).toBe(15 * 2 * 24 * 39 * Hkv * hd * 4);
    expect(item(plan, 'the SAE (')).toBe((2 * d * 16384 + 2 * 16384 + d) * 4);
    expect(plan.description).toBe("gemma-2-2b's layers 11–25 in bfloat16 and 24 prompts");
    // The SAE's encoder is the largest tensor nothing splits: 2304 × 16384 floats, 151 MB, over WebGPU's default binding.
    expect(plan.largestTensor).toEqual({ what: "the SAE's W_enc (2304 × 16,384 floats)", bytes: d * 16384 * 4 });
    const refused = checkFits(plan, { backend: 'webgpu', maxBufferSize: 2 ** 28, maxStorageBufferBindingSize: 2 ** 27 });
    expect(refused).toEqual({
      ok: false,
      message:
        "this run needs one GPU buffer of 151 MB for the SAE's W_enc (2304 × 16,384 floats); WebGPU here allows at most 134 MB (128 MiB) in one buffer (maxStorageBufferBindingSize)",
      warnings: [],
    });
    expect(checkFits(plan, { backend: 'webgpu', maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 2 ** 31 }).ok).toBe(true);
    // The same on wasm: float32 everywhere and a transposed copy of each block matrix: over the 4 GiB heap.
    const wasm = planRun(GEMMA, { ...plan.run, backend: 'wasm', fileBytes: undefined, largestFileBytes: undefined });
    expect(item(wasm, 'weights of layers 11–25 (float32 (widened from bfloat16))')).toBe(15 * 4 * (matrices + 4 * d));
    expect(item(wasm, 'kept transposes')).toBe(15 * 4 * matrices);
    const fit = checkFits(wasm, { backend: 'wasm' });
    expect(fit.ok).toBe(false);
    if (!fit.ok)
      expect(fit.message).toBe(
        `this run needs ${formatBytes(wasm.device.peak * WASM_HEAP_FACTOR)} of wasm memory for gemma-2-2b's layers 11–25 in float32 (widened from bfloat16) and 24 prompts (at its peak, loading and processing the weights); the wasm backend has at most 4.3 GB (4 GiB) (past it TF.js's wasm backend corrupts tensors instead of failing): use WebGPU, fewer prompts or a later hook layer`,
      );
    expect(wasm.device.peakPhase).toBe('load');
  });

  it('the next-token view holds the whole unembedding (and W_Eᵀ for a tied, unprocessed model on wasm)', () => {
    const readout = planRun(GPT2, { ...PAPER_IOI, saeCheck: false });
    const view = planRun(GPT2, { ...PAPER_IOI, saeCheck: false, view: 'next-token' });
    expect(view.device.resident - readout.device.resident).toBe(50257 * 768 * 4 + 50257 * 4 - 2 * 768 * 4);
    const raw = planRun(GPT2, { ...PAPER_IOI, saeCheck: false, view: 'next-token', processing: 'none' });
    expect(item(raw, 'W_Eᵀ kept')).toBe(50257 * 768 * 4);
    expect(raw.device.items.some((i) => i.what.startsWith('embedding rows'))).toBe(false); // the unembedding is W_E
    // Pythia's own embed_out: generation needs embedding rows for the new tokens, and the whole unembedding.
    const gen = planRun(PYTHIA, { ...PAPER_IOI, hookLayer: 3, view: 'generate', generateTokens: 10, sae: { dIn: 512, dSae: 4096 } });
    expect(item(gen, 'embedding rows of 1,600 tokens')).toBe(1600 * 512 * 4);
    expect(item(gen, 'the whole unembedding')).toBe(50304 * 512 * 4 + 50304 * 4);
  });

  it("the unembedding is folded at load only where the family folds it: GPT-2's, not Gemma-2's tied embedding", () => {
    const folding = (p: ReturnType<typeof planRun>) => p.device.items.find((i) => i.what.startsWith('processing the whole unembedding'));
    expect(folding(planRun(GPT2, PAPER_IOI))?.bytes).toBe(2 * 50257 * 768 * 4);
    const gemma = planRun(GEMMA, {
      backend: 'webgpu',
      hookLayer: 11,
      hookPoint: 'hook_resid_post',
      prompts: 24,
      tokens: 40,
      sae: { dIn: 2304, dSae: 16384, threshold: true },
    });
    expect(folding(gemma)).toBeUndefined();
    // Its tied unembedding stays the embedding: the SAE check reads W_E's 256,000 rows, kept in bfloat16.
    expect(item(gemma, 'the whole unembedding, for the SAE check')).toBe(256000 * 2304 * 2);
  });

  it('a hook at hook_resid_post holds the layers after it', () => {
    const plan = planRun(PYTHIA, { ...PAPER_IOI, hookLayer: 5, hookPoint: 'hook_resid_post', sae: { dIn: 512, dSae: 4096 } });
    expect(plan.onwardLayers).toBe(0);
    expect(plan.device.items.some((i) => i.what.startsWith('weights of'))).toBe(false);
    expect(item(plan, 'one of layers 0–5')).toBeGreaterThan(0);
  });

  it('refuses a hook outside the model and a first position outside the prompt', () => {
    expect(() => planRun(GPT2, { ...PAPER_IOI, hookLayer: 12 })).toThrow('hook layer 12 is outside 0..11');
    expect(() => planRun(GPT2, { ...PAPER_IOI, from: 15 })).toThrow('from 15 is outside 0..14');
  });
});

describe('checkFits', () => {
  it('refuses on wasm what is over the heap, naming both figures', () => {
    // δ at every position of 256 prompts of 64 tokens: the step's activations alone are several GB.
    const plan = planRun(GPT2, { ...PAPER_IOI, prompts: 256, tokens: 64, from: 0, attributionFrom: 0 });
    expect(plan.device.peak * WASM_HEAP_FACTOR).toBeGreaterThan(WASM_HEAP_MAX);
    const fit = checkFits(plan, { backend: 'wasm' });
    expect(fit.ok).toBe(false);
    if (!fit.ok) {
      expect(fit.message).toMatch(/^this run needs \d+\.\d GB of wasm memory for GPT-2 small's layers 4–11 in float32 and 256 prompts/);
      expect(fit.message).toContain('the wasm backend has at most 4.3 GB (4 GiB)');
    }
    // A browser known to allow less: its own figure.
    const small = checkFits(planRun(GPT2, PAPER_IOI), { backend: 'wasm', wasmHeapBytes: 2 ** 30, label: 'wasm in this browser' });
    expect(small.ok).toBe(false);
    if (!small.ok) expect(small.message).toContain('wasm in this browser has at most 1.1 GB (1 GiB)');
  });

  it('warns, never refuses, on a browser that reports less RAM than the plan', () => {
    const plan = planRun(GEMMA, {
      backend: 'webgpu',
      hookLayer: 3,
      prompts: 64,
      tokens: 30,
      sae: { dIn: 2304, dSae: 16384, threshold: true },
    });
    const fit = checkFits(plan, { backend: 'webgpu', maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 2 ** 32, deviceMemoryGiB: 4 });
    expect(fit.ok).toBe(true);
    expect(fit.warnings).toHaveLength(1);
    expect(fit.warnings[0]).toMatch(
      /^this run needs \d+\.\d GB of GPU memory for gemma-2-2b's layers 3–25 in bfloat16 and 64 prompts \(at its peak, .*\); this browser reports 4 GB of RAM \(a lower bound, and a GPU's own memory is not reported\): it may not fit$/,
    );
  });

  it("refuses more RAM than the machine has, warns over what is free, and a shard Node's readFileSync cannot read", () => {
    const plan = planRun(GPT2, PAPER_IOI);
    const total = plan.host.total;
    const over = checkFits(plan, { backend: 'wasm', hostTotalBytes: total - 1 });
    expect(over.ok).toBe(false);
    if (!over.ok)
      expect(over.message).toContain(`of memory (RAM) for GPT-2 small's layers 4–11 in float32 and 64 prompts; this machine has`);
    const busy = checkFits(plan, { backend: 'wasm', hostTotalBytes: total * 2, hostAvailableBytes: total / 2 });
    expect(busy.ok).toBe(true);
    expect(busy.warnings[0]).toMatch(/is free now$/);
    const shard = planRun(GEMMA, {
      ...PAPER_IOI,
      backend: 'cpu',
      sae: { dIn: 2304, dSae: 16384 },
      loader: 'whole-file',
      largestFileBytes: 4.99e9,
    });
    const read = checkFits(shard, { backend: 'cpu', nodeReadFile: true });
    expect(read.ok).toBe(false);
    if (!read.ok)
      expect(read.message).toBe(
        'the checkpoint has a file of 5.0 GB; Node reads a file whole only up to 2 GiB (fs.readFileSync): it must be read tensor by tensor',
      );
    expect(checkFits(planRun(GEMMA, { ...shard.run, loader: 'lazy' }), { backend: 'cpu', nodeReadFile: true }).ok).toBe(true);
  });
});

describe('what runs where (Node)', () => {
  const gpu = { adapter: 'NVIDIA H200, nvidia', maxBufferSize: 2 ** 40, maxStorageBufferBindingSize: 2 ** 32 - 4 };
  const host = { totalBytes: 24e9, availableBytes: 20e9, cores: 2, gpu };
  const gemmaRun = { hookLayer: 11, prompts: 24, tokens: 40, sae: { dIn: 2304, dSae: 16384, threshold: true } };

  it('lists WebGPU through Dawn first when an adapter was found, then wasm and cpu, each with its verdict', () => {
    const rows = whatRunsWhere(GEMMA, gemmaRun, host);
    expect(rows.map((r) => r.backend)).toEqual(['webgpu', 'wasm', 'cpu']);
    expect(rows[0].how).toBe('WebGPU through Dawn on NVIDIA H200, nvidia');
    expect(rows[0].fits.ok).toBe(true);
    expect(rows[1].fits.ok).toBe(false); // float32 layers 11–25 and their transposes: over 4 GiB
    expect(rows[1].ceiling).toBe('4.3 GB (4 GiB) heap');
    expect(rows[0].devicePeak).toBeLessThan(rows[2].devicePeak); // bfloat16 on the GPU, float32 on the cpu backend
    expect(whatRunsWhere(GEMMA, gemmaRun, { ...host, gpu: null }).map((r) => r.backend)).toEqual(['wasm', 'cpu']);
  });

  it('a container limit lower than the RAM is the limit', () => {
    const rows = whatRunsWhere(GPT2, PAPER_IOI, { ...host, gpu: null, constrainedBytes: 1e9 });
    expect(rows.every((r) => !r.fits.ok && r.fits.message.includes('this machine has 1.0 GB'))).toBe(true);
  });

  it('probeNodeHost reads RAM and a Dawn adapter from what it is given', async () => {
    const dawn = {
      create: () => ({
        requestAdapter: async () => ({
          info: { description: 'NVIDIA H200', vendor: 'nvidia' },
          limits: { maxBufferSize: 2 ** 40, maxStorageBufferBindingSize: 2 ** 32 - 4 },
        }),
      }),
    };
    const deps = { totalmem: () => 24e9, freemem: () => 20e9, cores: 2, constrainedMemory: () => 2 ** 64 - 1 };
    expect(await probeNodeHost({ ...deps, loadDawn: async () => dawn })).toEqual(host);
    expect((await probeNodeHost({ ...deps, loadDawn: async () => Promise.reject(new Error('no webgpu package')) })).gpu).toBeNull();
    expect((await probeNodeHost({ ...deps, constrainedMemory: () => 8e9 })).constrainedBytes).toBe(8e9);
    const noAdapter = { create: () => ({ requestAdapter: async () => null }) };
    expect((await probeNodeHost({ ...deps, loadDawn: async () => noAdapter })).gpu).toBeNull();
  });
});

it("the published shapes are their family's reading of the published config.json", () => {
  const shapes: ModelShape[] = Object.values(MODEL_SHAPES);
  expect(shapes.map((s) => s.family)).toEqual(['gpt2', 'gemma2', 'gpt_neox']);
  expect(GEMMA).toMatchObject({ nLayer: 26, dModel: 2304, nKvHeads: 4, headDim: 256, vocab: 256000, dtypeBytes: 2, gatedMlp: true });
  expect(PYTHIA).toMatchObject({ nLayer: 6, dModel: 512, dMlp: 2048, vocab: 50304, tied: false, dtypeBytes: 2 });
  expect(GPT2).toMatchObject({ nLayer: 12, dModel: 768, vocab: 50257, tied: true, learnedPositions: true, dtypeBytes: 4 });
});
