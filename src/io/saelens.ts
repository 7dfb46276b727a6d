// SAELens SAE folders: cfg.json + sae_weights.safetensors (+ optional sparsity.safetensors).
// Reads v6 cfgs and pre-6.0 ones (hook_point, activation_fn_str, activation_fn_kwargs.k, boolean
// normalize_activations), and writes v6 cfgs. Silent misreads are the failure mode users report most
// (TopK loaded as ReLU, unfolded norm factors), so anything we cannot honour is an error, not a guess.
import { z } from 'zod';
import { Sae, SaeError, foldNormScalingFactor, type SaeArchitecture, type SaeArrays, type SaeConfig } from '../core/sae.ts';
import { parseSafetensors, requireTensor, writeSafetensors, type SafetensorsFile } from './safetensors.ts';

const cfgSchema = z.looseObject({
  architecture: z.string().optional(),
  d_in: z.number().int().positive(),
  d_sae: z.number().int().positive(),
  apply_b_dec_to_input: z.boolean().optional(),
  normalize_activations: z.union([z.string(), z.boolean(), z.null()]).optional(),
  k: z.number().optional(),
  rescale_acts_by_decoder_norm: z.boolean().optional(),
  reshape_activations: z.string().optional(),
  hook_name: z.string().optional(),
  hook_point: z.string().optional(),
  model_name: z.string().optional(),
  activation_fn_str: z.string().optional(),
  activation_fn: z.string().optional(),
  activation_fn_kwargs: z.looseObject({ k: z.number().optional() }).nullable().optional(),
  norm_scaling_factor: z.number().nullable().optional(),
  metadata: z
    .looseObject({
      model_name: z.string().optional(),
      hook_name: z.string().optional(),
      model_from_pretrained_kwargs: z.record(z.string(), z.unknown()).nullable().optional(),
    })
    .optional(),
  model_from_pretrained_kwargs: z.record(z.string(), z.unknown()).nullable().optional(),
});

export type RawSaeLensCfg = z.infer<typeof cfgSchema>;

export interface SaeLoadOptions {
  /** Override: subtract each token's mean before encoding (default: on when the cfg says the model was loaded with center_writing_weights). */
  centerInput?: boolean;
  /** Scalar for normalize_activations = expected_average_only_in when the cfg does not carry it. */
  normScalingFactor?: number;
  /** Name of the folder or file, for error messages. */
  source?: string;
}

export interface SaeFolderFiles {
  cfgJson: string;
  weights: Uint8Array;
  sparsity?: Uint8Array;
}

export interface LoadedSae {
  sae: Sae;
  config: SaeConfig;
  /** log10 feature density per feature, when sparsity.safetensors was present. */
  logDensity?: Float32Array;
  /** Things we changed while loading that a researcher should know about (folded factors, centring). */
  notes: string[];
}

/** Interpret a cfg.json (either SAELens generation) as our SaeConfig, before weights are seen. */
export function parseSaeLensCfg(
  json: string,
  opts: SaeLoadOptions = {},
): { config: SaeConfig; normScalingFactor?: number; notes: string[] } {
  const src = opts.source ?? 'cfg.json';
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new SaeError(`${src}: not valid JSON (${(e as Error).message})`);
  }
  const parsed = cfgSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SaeError(`${src}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const c = parsed.data;
  const notes: string[] = [];

  let architecture: SaeArchitecture;
  const arch = c.architecture ?? 'standard';
  const actFn = c.activation_fn_str ?? c.activation_fn;
  if (arch === 'standard' && actFn === 'topk') architecture = 'topk';
  else if (arch === 'standard' || arch === 'jumprelu' || arch === 'topk') architecture = arch;
  else throw new SaeError(`${src}: architecture "${arch}" is not supported (supported: standard, jumprelu, topk)`);
  if (actFn && !['relu', 'topk'].includes(actFn)) {
    throw new SaeError(`${src}: activation function "${actFn}" is not supported (supported: relu, topk)`);
  }
  const k = c.k ?? c.activation_fn_kwargs?.k ?? undefined;
  if (architecture === 'topk' && k === undefined) throw new SaeError(`${src}: a TopK SAE needs k (cfg.k or activation_fn_kwargs.k)`);
  if (architecture === 'topk' && !(Number.isInteger(k) && k! >= 1 && k! <= c.d_sae)) {
    throw new SaeError(`${src}: k must be an integer from 1 to d_sae=${c.d_sae}, got ${k}`);
  }
  if (c.rescale_acts_by_decoder_norm) throw new SaeError(`${src}: rescale_acts_by_decoder_norm is not supported`);
  if (c.reshape_activations && c.reshape_activations !== 'none') {
    throw new SaeError(`${src}: reshape_activations "${c.reshape_activations}" is not supported (residual-stream SAEs only)`);
  }

  let norm = c.normalize_activations;
  if (typeof norm === 'boolean') norm = norm ? 'expected_average_only_in' : 'none';
  norm ??= 'none';
  let normScalingFactor: number | undefined;
  let normalizeActivations: SaeConfig['normalizeActivations'];
  if (norm === 'none' || norm === 'constant_norm_rescale') normalizeActivations = norm;
  else if (norm === 'expected_average_only_in') {
    normScalingFactor = opts.normScalingFactor ?? c.norm_scaling_factor ?? undefined;
    if (normScalingFactor === undefined) {
      throw new SaeError(
        `${src}: normalize_activations is expected_average_only_in but no scaling factor is given (add "norm_scaling_factor" to cfg.json or pass it as an option)`,
      );
    }
    if (!(Number.isFinite(normScalingFactor) && normScalingFactor > 0)) {
      throw new SaeError(`${src}: norm_scaling_factor must be a positive number, got ${normScalingFactor}`);
    }
    normalizeActivations = 'none';
    notes.push(`folded expected_average_only_in scaling factor ${normScalingFactor} into W_enc, W_dec and b_dec`);
  } else
    throw new SaeError(
      `${src}: normalize_activations "${norm}" is not supported (supported: none, constant_norm_rescale, expected_average_only_in)`,
    );

  const kwargs = c.metadata?.model_from_pretrained_kwargs ?? c.model_from_pretrained_kwargs ?? {};
  const centeredModel = kwargs?.center_writing_weights === true;
  const centerInput = opts.centerInput ?? centeredModel;
  if (centerInput) notes.push('residual is centred per token (mean over d_model removed) before encoding');

  const config: SaeConfig = {
    architecture,
    dIn: c.d_in,
    dSae: c.d_sae,
    applyBDecToInput: c.apply_b_dec_to_input ?? true,
    normalizeActivations,
    k: architecture === 'topk' ? k : undefined,
    centerInput,
    hookName: c.metadata?.hook_name ?? c.hook_name ?? c.hook_point,
    modelName: c.metadata?.model_name ?? c.model_name,
    foldedNormScalingFactor: normScalingFactor,
  };
  return { config, normScalingFactor, notes };
}

function weightsFromFile(file: SafetensorsFile, config: SaeConfig, src: string): SaeArrays {
  const get = (name: string, shape: number[]) => {
    // Gemma-Scope-style lower-case names appear in some exports; accept both.
    const key = file.tensors.has(name) ? name : file.tensors.has(name.replace(/^W_/, 'w_')) ? name.replace(/^W_/, 'w_') : name;
    const t = requireTensor(file, key, src);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new SaeError(
        `${src}: ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}] (d_in=${config.dIn}, d_sae=${config.dSae} from cfg.json)`,
      );
    }
    return t.data;
  };
  const { dIn, dSae } = config;
  const arrays: SaeArrays = {
    W_enc: get('W_enc', [dIn, dSae]),
    b_enc: get('b_enc', [dSae]),
    W_dec: get('W_dec', [dSae, dIn]),
    b_dec: get('b_dec', [dIn]),
  };
  if (config.architecture === 'jumprelu') arrays.threshold = get('threshold', [dSae]);
  const sf = file.tensors.get('scaling_factor');
  if (sf && sf.shape.length === 1 && sf.shape[0] === dSae) {
    // Early SAELens per-feature scaling factor: z·diag(s)·W_dec, folded into the decoder rows.
    const W = arrays.W_dec.slice();
    for (let f = 0; f < dSae; f++) for (let j = 0; j < dIn; j++) W[f * dIn + j] *= sf.data[f];
    arrays.W_dec = W;
  }
  return arrays;
}

/** Load an SAELens folder's contents into a ready Sae. */
export function loadSaeLens(files: SaeFolderFiles, opts: SaeLoadOptions = {}): LoadedSae {
  const src = opts.source ?? 'SAE';
  const { config, normScalingFactor, notes } = parseSaeLensCfg(files.cfgJson, { ...opts, source: `${src}/cfg.json` });
  const weightsSrc = `${src}/sae_weights.safetensors`;
  let arrays = weightsFromFile(parseSafetensors(files.weights, weightsSrc), config, weightsSrc);
  if (normScalingFactor !== undefined) arrays = foldNormScalingFactor(arrays, normScalingFactor);
  let logDensity: Float32Array | undefined;
  if (files.sparsity) {
    const sp = requireTensor(parseSafetensors(files.sparsity, `${src}/sparsity.safetensors`), 'sparsity', `${src}/sparsity.safetensors`);
    if (sp.data.length !== config.dSae) {
      throw new SaeError(`${src}/sparsity.safetensors: sparsity has ${sp.data.length} values, expected d_sae=${config.dSae}`);
    }
    logDensity = sp.data;
  }
  return { sae: Sae.create(config, arrays), config, logDensity, notes };
}

/** A v6-style cfg.json for an SAE we wrote ourselves. */
export function saeLensCfgJson(config: SaeConfig, extra: Record<string, unknown> = {}): string {
  const cfg = {
    architecture: config.architecture,
    d_in: config.dIn,
    d_sae: config.dSae,
    dtype: 'float32',
    device: 'cpu',
    apply_b_dec_to_input: config.applyBDecToInput,
    normalize_activations: config.normalizeActivations,
    reshape_activations: 'none',
    ...(config.architecture === 'topk' ? { k: config.k } : {}),
    metadata: {
      model_name: config.modelName,
      hook_name: config.hookName,
      hook_head_index: null,
      prepend_bos: false,
      sae_lens_version: '6.0.0',
      model_from_pretrained_kwargs: { center_writing_weights: config.centerInput },
    },
    ...extra,
  };
  return `${JSON.stringify(cfg, null, 2)}\n`;
}

/** Serialise an SAE in SAELens' folder layout. */
export function writeSaeLensFolder(
  config: SaeConfig,
  arrays: SaeArrays,
  logDensity?: Float32Array,
  extraCfg: Record<string, unknown> = {},
): SaeFolderFiles {
  const { dIn, dSae } = config;
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {
    W_enc: { shape: [dIn, dSae], data: arrays.W_enc },
    b_enc: { shape: [dSae], data: arrays.b_enc },
    W_dec: { shape: [dSae, dIn], data: arrays.W_dec },
    b_dec: { shape: [dIn], data: arrays.b_dec },
  };
  if (arrays.threshold) tensors.threshold = { shape: [dSae], data: arrays.threshold };
  return {
    cfgJson: saeLensCfgJson(config, extraCfg),
    weights: writeSafetensors(tensors),
    sparsity: logDensity ? writeSafetensors({ sparsity: { shape: [dSae], data: logDensity } }) : undefined,
  };
}
