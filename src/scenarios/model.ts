// A scenario on a real model: a checkpoint of any family the registry knows (model/registry.ts; Hugging Face
// layout), an SAE at one of its residual hooks, and the user's prompt set (prompts.ts). The model's weights are
// processed as TransformerLens does by default (each family's processingNote), because SAELens SAEs were trained
// on those activations; `processing: 'none'` keeps the checkpoint's own weights (and says so in the result).
import { tf, type Tensor3D } from '../core/tf.ts';
import { InputError } from '../core/errors.ts';
import { featureAttributionOnward } from '../core/attribution.ts';
import { rankPositive } from '../core/select.ts';
import { WEIGHTS_FILE } from '../model/checkpoint.ts';
import type { WeightProcessing } from '../model/family.ts';
import type { LoadPlan } from '../model/family.ts';
import { parseResidHook } from '../model/hooks.ts';
import type { Limits } from '../model/memory-plan.ts';
import { loadWeights, type ModelFolder, openModel } from '../model/registry.ts';
import { planModelRun, requireFits } from './run-memory.ts';
import type { LanguageModel } from '../model/types.ts';
import { loadSaeFolder, type SaeFolder } from '../io/sae-folder.ts';
import { SCENARIOS } from './catalog.ts';
import { logitBehaviour, logitDiff } from './builtin/common.ts';
import { positionSets, sharedDeltaProblem } from './positions.ts';
import { type PromptSet, parsePromptLines, tokenisePromptSet } from './prompts.ts';
import { native16 } from '../model/weights16.ts';
import { checkSae } from './sae-check.ts';
import type { LoadedScenario } from './loaded.ts';

type Bytes = Uint8Array | ArrayBuffer;

export type { WeightProcessing };

export interface ModelScenarioSpec {
  kind: 'model';
  /** Which catalog entry supplies the title and defaults (default: prompts, the user's own). */
  scenario?: 'prompts' | 'paper-ioi';
  /**
   * config.json, the weights (model.safetensors, or the shards of model.safetensors.index.json) and the tokenizer
   * files the family reads (tokenizer.json, tokenizer_config.json); `name` is how results cite it.
   */
  model: ModelFolder | { configJson: string; weights: Bytes; tokenizerJson?: string; tokenizerConfigJson?: string; name: string };
  /** An SAE folder of either layout (SAELens or Gemma Scope: src/io/sae-folder.ts). */
  sae: SaeFolder & { name: string };
  /** The prompt set's JSON lines, and its name. */
  prompts: { text: string; name: string };
  processing?: WeightProcessing;
  /** Prepend the tokenizer's BOS token to every prompt (the paper's IOI runs without; default: what the tokenizer's model was trained with). */
  prependBos?: boolean;
  /** Wrap each prompt in the instruction-tuned model's chat template (one user turn, then the model's turn). */
  chat?: boolean;
  /** What to keep of a model whose family reads its weights itself (Gemma-2), where it differs from loadPlanFor's. */
  load?: Omit<LoadPlan, 'tokens'>;
  /** Keep only the prompts' and the read-out's token rows of the (un)embedding (no whole-vocabulary logits). */
  readTokensOnly?: boolean;
  /** Where the run goes and what that allows: a run that cannot fit is refused before any weight is read. */
  limits?: Limits;
  /** Use the first n prompts. */
  n?: number;
}

/**
 * What the run reads of the model (LoadPlan), unless the spec says: the layers from the hook's on (those a recovery
 * step runs; the residual at the hook is computed layer by layer), 16-bit weights where the backend multiplies them
 * natively, and the whole vocabulary (the next-token view and the SAE check's loss read it) unless the spec keeps
 * only the prompts' and the read-out's tokens.
 */
function loadPlanFor(spec: ModelScenarioSpec, hook: string, nLayer: number, set: PromptSet, pad: number): LoadPlan {
  const { layer, point } = parseResidHook(hook, nLayer);
  // The padding id fills ragged rows: its row is embedded too.
  const tokens = spec.readTokensOnly ? [...new Set([...set.ids.flat(), ...set.target, ...set.contrast, pad])] : undefined;
  return { firstLayer: point === 'hook_resid_post' ? layer + 1 : layer, weights16: native16(), tokens, ...spec.load };
}

const isFolder = (m: ModelScenarioSpec['model']): m is ModelFolder => Array.isArray(m.weights);

/** The residual at `hook` for right-padded ids, `chunk` prompts at a time (a whole batch's activations are not needed at once). */
async function residualAtHook(model: LanguageModel, ids: number[][], hook: string, chunk = 16): Promise<Tensor3D> {
  if (model.streamToHook) return model.streamToHook(ids, hook, chunk);
  const parts: Tensor3D[] = [];
  for (let i = 0; i < ids.length; i += chunk) parts.push(tf.tidy(() => model.runToHook(ids.slice(i, i + chunk), hook)));
  const h = parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as Tensor3D);
  if (parts.length > 1) tf.dispose(parts);
  return h;
}

export async function loadModelScenario(spec: ModelScenarioSpec): Promise<LoadedScenario> {
  const bytes = (b: Bytes) => (b instanceof Uint8Array ? b : new Uint8Array(b));
  const processing = spec.processing ?? 'transformer-lens';
  // The cheap checks first: the prompt lines, the SAE's cfg.
  const lines = parsePromptLines(spec.prompts.text, spec.prompts.name).slice(0, spec.n);
  const saeFiles = spec.sae.layout === 'gemma-scope' ? spec.sae : { ...spec.sae, weights: bytes(spec.sae.weights) };
  const loaded = loadSaeFolder(saeFiles, { source: spec.sae.name });
  const { sae, config: saeCfg } = loaded;
  let model: LanguageModel | null = null;
  let h: Tensor3D | null = null;
  let b: ReturnType<typeof logitBehaviour> | null = null;
  try {
    const folder = spec.model;
    const weightFiles = isFolder(folder) ? folder.weights : [{ name: WEIGHTS_FILE, bytes: bytes(folder.weights) }];
    // The folder's family, config and tokenizer first: the prompts are tokenised and checked, and what the run
    // needs of the model is known, before any weight is read.
    const opened = openModel(folder);
    const { tokenizer, config } = opened;
    const hook = saeCfg.hookName;
    if (!hook) throw new InputError(`${spec.sae.name}: cfg.json names no hook (hook_name); the SAE's place in the model is unknown`);
    if (sae.dIn !== config.dModel)
      throw new InputError(`${spec.sae.name} reads d_in = ${sae.dIn} but ${spec.model.name} has d_model = ${config.dModel}`);
    if (spec.chat && !tokenizer.chat)
      throw new InputError(`${spec.model.name} has no chat template (tokenizer_config.json's chat_template): leave out the chat option`);
    const prependBos = spec.prependBos ?? tokenizer.wantsBos ?? false;
    const set = tokenisePromptSet(lines, tokenizer, config.nCtx, {
      prependBos,
      chat: spec.chat ? tokenizer.chat : undefined,
      source: spec.prompts.name,
    });
    parseResidHook(hook, config.nLayer);
    // What the run needs, against where it runs, before a weight is read (the host says where: spec.limits).
    const memoryWarnings = spec.limits
      ? requireFits(
          planModelRun(
            opened,
            set,
            { dIn: sae.dIn, dSae: sae.dSae, threshold: saeCfg.architecture === 'jumprelu', hook },
            { backend: spec.limits.backend, readTokensOnly: spec.readTokensOnly, processing },
          ),
          spec.limits,
        )
      : [];
    const pad = tokenizer.padId ?? 0;
    model = (await loadWeights(opened, weightFiles, processing, loadPlanFor(spec, hook, config.nLayer, set, pad))).model;
    model.residHook(hook);
    const n = set.ids.length;
    const T = Math.max(...set.ids.map((r) => r.length));
    const ids = set.ids.map((r) => [...r, ...Array(T - r.length).fill(pad)]);
    // δ and B's read-out where each line places them (its last token unless it says otherwise).
    const atLast = set.ids.every(
      (r, i) => set.readout[i] === r.length - 1 && set.delta[i].length === 1 && set.delta[i][0] === r.length - 1,
    );
    h = await residualAtHook(model, ids, hook);
    const saeCheck = await checkSae(
      model,
      sae,
      hook,
      ids,
      set.ids.map((r) => r.length),
      h,
    );
    const readout = { at: set.readout, terms: logitDiff(set.target.map((t, i) => [t, set.contrast[i]])) };
    b = logitBehaviour(model, hook, readout);
    const mask = new Float32Array(n * T);
    set.ids.forEach((r, i) => mask.fill(1, i * T, i * T + r.length));
    // The paper's rule, attribution where δ acts: there the clamp is what δ must undo. Its backward pass runs from the
    // first δ position on (the behaviour's onward form: the weights are zero before it).
    const weights = new Float32Array(n * T);
    set.delta.forEach((row, i) => {
      for (const t of row) weights[i * T + t] = 1;
    });
    const attribution = await featureAttributionOnward(sae, h, b.behaviour, weights);
    const rank = rankPositive(attribution);
    const id = spec.scenario ?? 'prompts';
    const entry = SCENARIOS[id];
    const [m, hh, bb] = [model, h, b];
    const tokStr = (id: number) => tokenizer.tokenStrings([id])[0];
    return {
      id,
      title: entry.title,
      behaviourText: `B = logit[target] − logit[contrast] ${atLast ? 'after the prompt' : "at each prompt's read-out position"}; a valid flip is a prompt the model completes with the target rather than the contrast before the clamp, and not after.`,
      sae,
      saeInfo: {
        name: saeCfg.modelName ? `${spec.sae.name} (${saeCfg.modelName})` : spec.sae.name,
        architecture: saeCfg.architecture,
        hookName: hook,
        k: saeCfg.k,
        notes: loaded.notes,
      },
      warnings: memoryWarnings,
      modelName: `${spec.model.name} (${opened.family.title}, ${processing === 'none' ? 'unprocessed weights' : 'TransformerLens-processed weights'}${m.residency?.() ? `; ${m.residency()}` : ''})`,
      h: hh,
      mask,
      behaviour: bb.behaviour,
      positions: positionSets(mask, n, T, set.delta),
      sharedDeltaProblem: sharedDeltaProblem(set.delta, spec.prompts.name) ?? undefined,
      samples: set.tokens.map((tokens, i) => ({
        index: i,
        tokens,
        label: lines[i].label ?? `${JSON.stringify(tokStr(set.target[i]))} vs ${JSON.stringify(tokStr(set.contrast[i]))}`,
        deltaPositions: set.delta[i],
      })),
      rank,
      featureRule: atLast ? 'positive attribution to B at the last prompt token' : "positive attribution to B at each prompt's δ positions",
      logDensity: loaded.logDensity ?? null,
      defaults: { features: rank.slice(0, entry.defaults.k(sae.dSae)), clamp: entry.defaults.clamp, run: entry.defaults.run },
      params: { processing, prependBos: prependBos ? 'yes' : 'no', ...(spec.chat ? { chat: 'yes' } : {}), n },
      sources: { model: spec.model.name, sae: spec.sae.name, prompts: spec.prompts.name },
      attribution,
      saeCheck,
      lm: { model: m, tokenizer, hook, readout },
      dispose: () => {
        hh.dispose();
        bb.dispose();
        m.dispose();
        sae.dispose();
      },
    };
  } catch (e) {
    h?.dispose();
    b?.dispose();
    model?.dispose();
    sae.dispose();
    throw e;
  }
}
