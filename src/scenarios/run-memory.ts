// What a real-model run needs, from what is known before the model's weights are read or downloaded: its config.json
// and tokenizer (the prompts tokenised), the SAE's dimensions and hook, the backend and what the run keeps
// (src/model/memory-plan.ts has the figures). The CLI checks it before it downloads the weights, the page before it
// fetches them, and the scenario loader before it reads them; a run that cannot fit is refused with a message naming
// the figure and the limit. No TensorFlow.js: the page's main thread runs this.
import { InputError } from '../core/errors.ts';
import { parseResidHook } from '../model/hook-names.ts';
import type { OpenedModel } from '../model/configs.ts';
import { type Backend, checkFits, type Limits, type MemoryPlan, planRun, type SaeShape } from '../model/memory-plan.ts';
import { gemmaScopePathInfo } from '../io/sae-ref.ts';
import type { PromptSet } from './prompts.ts';

export class MemoryRefusal extends InputError {
  override name = 'MemoryRefusal';
}

/** The SAE as the plan needs it: its widths and where it reads. */
export interface SaeDims extends SaeShape {
  hook: string;
}

/**
 * An SAE folder's dimensions without its weights: a SAELens cfg.json's d_in, d_sae and hook, or a Gemma Scope path's
 * layer and width (d_in is the model's). Null when they cannot be told (the loader then reports the folder's problem).
 */
export function saeDimsOf(
  sae: { layout?: 'saelens'; cfgJson: string } | { layout: 'gemma-scope'; path: string },
  dModel: number,
): SaeDims | null {
  if (sae.layout === 'gemma-scope') {
    const info = gemmaScopePathInfo(sae.path);
    if (info.layer === undefined || info.dSae === undefined) return null;
    return { dIn: info.modelDIn ?? dModel, dSae: info.dSae, threshold: true, hook: `blocks.${info.layer}.hook_resid_post` };
  }
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(sae.cfgJson);
  } catch {
    return null;
  }
  const meta = (cfg.metadata ?? {}) as Record<string, unknown>;
  const hook = cfg.hook_name ?? meta.hook_name ?? cfg.hook_point;
  const [dIn, dSae] = [cfg.d_in, cfg.d_sae];
  if (typeof hook !== 'string' || !Number.isSafeInteger(dIn) || !Number.isSafeInteger(dSae)) return null;
  const arch = cfg.architecture ?? cfg.activation_fn_str;
  return { dIn: dIn as number, dSae: dSae as number, threshold: arch === 'jumprelu', hook };
}

export interface RunPlanOptions {
  backend: Backend;
  /** How the weights reach the device ('lazy': read tensor by tensor; 'whole-file': read whole, then parsed). */
  loader?: 'lazy' | 'whole-file';
  /** Keep only the prompts' and read-out's token rows: no whole-vocabulary logits (no SAE-check loss, no next-token view). */
  readTokensOnly?: boolean;
  /** One δ for the whole batch (the prompt-set scenarios' default) or one per prompt. */
  sharedDelta?: boolean;
  processing?: 'transformer-lens' | 'none';
}

/** The memory plan of a prompt-set run on an opened model folder (memory-plan.ts planRun), from the tokenised set. */
export function planModelRun(
  opened: OpenedModel,
  set: Pick<PromptSet, 'ids' | 'delta' | 'readout' | 'target' | 'contrast'>,
  sae: SaeDims,
  o: RunPlanOptions,
): MemoryPlan {
  const { layer, point } = parseResidHook(sae.hook, opened.config.nLayer);
  const T = Math.max(...set.ids.map((r) => r.length));
  const from = Math.min(...set.delta.flat(), ...set.readout);
  const distinct = new Set(set.ids.flat()).size;
  return planRun(opened.shape, {
    backend: o.backend,
    hookLayer: layer,
    hookPoint: point,
    prompts: set.ids.length,
    tokens: T,
    from,
    deltaPositions: Math.max(...set.delta.map((d) => d.length)),
    sharedDelta: o.sharedDelta ?? true,
    readoutColumns: new Set([...set.target, ...set.contrast]).size,
    view: 'readout',
    distinctTokens: distinct,
    processing: o.processing ?? 'transformer-lens',
    sae: { dIn: sae.dIn, dSae: sae.dSae, threshold: sae.threshold },
    saeCheck: !o.readTokensOnly,
    attributionFrom: from,
    loader: o.loader ?? 'lazy',
  });
}

/** Refuse a plan that cannot fit (a MemoryRefusal naming the figure and the limit); the soft limits' warnings otherwise. */
export function requireFits(plan: MemoryPlan, limits: Limits): string[] {
  const fit = checkFits(plan, limits);
  if (!fit.ok) throw new MemoryRefusal(fit.message);
  return fit.warnings;
}
