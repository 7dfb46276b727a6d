// Random folders at GPT-2 small's real size for the memory measurements (bench/memory.bench.ts): a Hugging Face GPT-2
// folder (config.json + model.safetensors: 12 layers, d 768, vocab 50,257, 1,024 positions, float32, with the 12
// attn.bias causal-mask buffers the released file carries: 548 MB like openai-community/gpt2's) and a SAELens v6 SAE
// folder with the paper's SAE's shape (24,576 features at blocks.4.hook_resid_pre, float32: 151 MB). Written under
// os.tmpdir() (never into the repository), streamed tensor by tensor so the writer holds one tensor at a time, and
// reused when already there with the right sizes. Values are uniform noise of GPT-2's init scale: memory does not
// depend on them.
//   npx tsx bench/memory-fixtures.ts [DIR]      (prints the two folders)
import { closeSync, existsSync, mkdirSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const GPT2_SMALL = { nLayer: 12, nHead: 12, dModel: 768, nCtx: 1024, vocab: 50257 } as const;
export const PAPER_SAE = { dSae: 24576, hook: 'blocks.4.hook_resid_pre' } as const;

interface TensorSpec {
  name: string;
  shape: number[];
  /** Fills `out` (float32) with the tensor's values from flat index `offset` on. */
  fill: (out: Float32Array, offset: number) => void;
}

/** A seeded uniform generator in [−a, a] (xorshift32: fast enough for 124 M values, and deterministic). */
function noise(seed: number, a: number): TensorSpec['fill'] {
  let s = seed >>> 0 || 1;
  return (out) => {
    for (let i = 0; i < out.length; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      out[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * a;
    }
  };
}

const constant =
  (v: number): TensorSpec['fill'] =>
  (out) =>
    out.fill(v);

/** Writes an F32 safetensors file from specs, one chunk of at most 4 M values in memory at a time. */
export function writeSafetensorsStreamed(file: string, tensors: TensorSpec[], metadata: Record<string, string> = {}): number {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const bytes = 4 * t.shape.reduce((a, b) => a * b, 1);
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8); // the data section starts 8-aligned, as the reference writer does
  const fd = openSync(file, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json, 'utf8'));
    const CHUNK = 4 << 20;
    for (const t of tensors) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      for (let start = 0; start < n; start += CHUNK) {
        const part = new Float32Array(Math.min(CHUNK, n - start));
        t.fill(part, start);
        writeSync(fd, new Uint8Array(part.buffer));
      }
    }
  } finally {
    closeSync(fd);
  }
  return 8 + json.length + offset;
}

/** The GPT-2-small-sized tensors, in the released file's names and order (Conv1D layout, attn.bias buffers included). */
function gpt2Tensors(): TensorSpec[] {
  const { nLayer, dModel: d, nCtx, vocab } = GPT2_SMALL;
  let seed = 1;
  const w = (name: string, shape: number[], a = 0.035) => ({ name, shape, fill: noise(seed++, a) });
  const c = (name: string, shape: number[], v: number) => ({ name, shape, fill: constant(v) });
  const causal: TensorSpec['fill'] = (out, offset) => {
    for (let i = 0; i < out.length; i++) {
      const k = offset + i;
      out[i] = k % nCtx <= Math.floor(k / nCtx) ? 1 : 0;
    }
  };
  const tensors: TensorSpec[] = [w('wte.weight', [vocab, d]), w('wpe.weight', [nCtx, d], 0.017)];
  for (let i = 0; i < nLayer; i++) {
    const p = `h.${i}.`;
    tensors.push(
      c(`${p}ln_1.weight`, [d], 1),
      c(`${p}ln_1.bias`, [d], 0),
      { name: `${p}attn.bias`, shape: [1, 1, nCtx, nCtx], fill: causal },
      w(`${p}attn.c_attn.weight`, [d, 3 * d]),
      c(`${p}attn.c_attn.bias`, [3 * d], 0),
      w(`${p}attn.c_proj.weight`, [d, d], 0.01),
      c(`${p}attn.c_proj.bias`, [d], 0),
      c(`${p}ln_2.weight`, [d], 1),
      c(`${p}ln_2.bias`, [d], 0),
      w(`${p}mlp.c_fc.weight`, [d, 4 * d]),
      c(`${p}mlp.c_fc.bias`, [4 * d], 0),
      w(`${p}mlp.c_proj.weight`, [4 * d, d], 0.01),
      c(`${p}mlp.c_proj.bias`, [d], 0),
    );
  }
  tensors.push(c('ln_f.weight', [d], 1), c('ln_f.bias', [d], 0));
  return tensors;
}

function gpt2ConfigJson(): string {
  const { nLayer, nHead, dModel, nCtx, vocab } = GPT2_SMALL;
  return `${JSON.stringify(
    {
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      n_embd: dModel,
      n_layer: nLayer,
      n_head: nHead,
      n_positions: nCtx,
      n_ctx: nCtx,
      vocab_size: vocab,
      layer_norm_epsilon: 1e-5,
      activation_function: 'gelu_new',
    },
    null,
    2,
  )}\n`;
}

function saeCfgJson(): string {
  return `${JSON.stringify(
    {
      architecture: 'standard',
      d_in: GPT2_SMALL.dModel,
      d_sae: PAPER_SAE.dSae,
      dtype: 'float32',
      device: 'cpu',
      apply_b_dec_to_input: true,
      normalize_activations: 'none',
      reshape_activations: 'none',
      metadata: {
        model_name: 'gpt2-small',
        hook_name: PAPER_SAE.hook,
        hook_head_index: null,
        prepend_bos: true,
        sae_lens_version: '6.0.0',
        model_from_pretrained_kwargs: { center_writing_weights: true },
      },
    },
    null,
    2,
  )}\n`;
}

function saeTensors(): TensorSpec[] {
  const d = GPT2_SMALL.dModel;
  const m = PAPER_SAE.dSae;
  return [
    { name: 'W_enc', shape: [d, m], fill: noise(101, 0.06) },
    { name: 'b_enc', shape: [m], fill: constant(-0.02) },
    { name: 'W_dec', shape: [m, d], fill: noise(102, 0.06) },
    { name: 'b_dec', shape: [d], fill: constant(0) },
  ];
}

const bytesOf = (tensors: TensorSpec[]) => tensors.reduce((a, t) => a + 4 * t.shape.reduce((x, y) => x * y, 1), 0);

/** Writes (or reuses) `dir`/gpt2-small-random and `dir`/sae-24576-blocks.4; returns their paths and file sizes. */
export function writeGpt2SmallFolders(dir = path.join(os.tmpdir(), 'unclamp-memory-fixtures')): {
  model: string;
  sae: string;
  modelBytes: number;
  saeBytes: number;
} {
  const model = path.join(dir, 'gpt2-small-random');
  const sae = path.join(dir, `sae-${PAPER_SAE.dSae}-${PAPER_SAE.hook}`);
  const write = (folder: string, json: [string, string], file: string, tensors: TensorSpec[]) => {
    mkdirSync(folder, { recursive: true });
    const weights = path.join(folder, file);
    // Reuse a complete file: its size is the header plus the data, and the data alone is known.
    if (!(existsSync(weights) && statSync(weights).size > bytesOf(tensors) && existsSync(path.join(folder, json[0])))) {
      writeFileSync(path.join(folder, json[0]), json[1]);
      writeSafetensorsStreamed(weights, tensors, { format: 'pt' });
    }
    return statSync(weights).size;
  };
  const modelBytes = write(model, ['config.json', gpt2ConfigJson()], 'model.safetensors', gpt2Tensors());
  const saeBytes = write(sae, ['cfg.json', saeCfgJson()], 'sae_weights.safetensors', saeTensors());
  return { model, sae, modelBytes, saeBytes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = writeGpt2SmallFolders(process.argv[2]);
  console.log(JSON.stringify(out, null, 2));
}
