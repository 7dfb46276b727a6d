// The one scenario loader: from a scenario spec (a built-in experiment, the bundled probe example, the user's
// own SAE + activations + probe files, or a real model + SAE + prompt set) to a loaded scenario — the residual
// at the hook, the behaviour B, the δ positions, the features ranked by the scenario's rule and the scenario's
// defaults. The CLI, the worker session and the report all load through here, with an injected reader of the
// public folder (files on Node, fetch in the worker).
import type { Tensor3D } from '../core/tf.ts';
import { InputError } from '../core/errors.ts';
import { featureAttribution } from '../core/attribution.ts';
import { featureStatistics } from '../core/feature-stats.ts';
import { rankPositive } from '../core/select.ts';
import { loadSaeLens } from '../io/saelens.ts';
import { SCENARIOS, type BuiltinScenarioId } from './catalog.ts';
import { loadBuiltinModel, loadBuiltinSae, type ReadAsset } from './builtin/assets.ts';
import { BUILDERS } from './builtin/index.ts';
import { builtinDefenceKit } from './builtin/defence-kit.ts';
import type { BuiltScenario } from './builtin/types.ts';
import type { LoadedScenario } from './loaded.ts';
import { positionSets } from './positions.ts';
import { loadModelScenario, type ModelScenarioSpec } from './model.ts';
import { activationsTensor, allTokenPositions, checkProbeScenario, parseActivations, parseProbe, probeBehaviour } from './probe.ts';

// Every consumer of a loaded scenario imports its type from here, beside the loader that makes it.

type Bytes = Uint8Array | ArrayBuffer;

/** The files of the bring-your-own probe scenario, as read from disk or from the page's file inputs. */
export interface ProbeFiles {
  cfgJson: string;
  weights: Bytes;
  sparsity?: Bytes;
  activations: Bytes;
  probe: Bytes;
}

export type ScenarioSpec =
  /** One of the paper's experiments on the built-in model (public/models/). */
  | { kind: 'builtin'; scenario: BuiltinScenarioId; model?: string; sae?: string; seed?: number; n?: number; targetClass?: number }
  /** The bundled synthetic example under public/examples/probe/. */
  | { kind: 'probe-example' }
  /** `names`: how to call each file in messages and in the result (paths on the CLI). */
  | {
      kind: 'probe';
      files: ProbeFiles;
      target?: number;
      centerInput?: boolean;
      normScalingFactor?: number;
      names?: { sae?: string; activations?: string; probe?: string };
    }
  /** A real model (GPT-2 family, Hugging Face layout), a SAELens SAE at one of its residual hooks, and prompts. */
  | ModelScenarioSpec;

const PROBE_EXAMPLE = 'examples/probe';

export async function loadScenario(spec: ScenarioSpec, read: ReadAsset): Promise<LoadedScenario> {
  if (spec.kind === 'builtin') return loadBuiltin(spec, read);
  if (spec.kind === 'probe') return loadProbe(spec, 'probe');
  if (spec.kind === 'model') return loadModelScenario(spec);
  const [cfg, weights, activations, probe] = await Promise.all(
    ['sae/cfg.json', 'sae/sae_weights.safetensors', 'activations.safetensors', 'probe.safetensors'].map((f) =>
      read(`${PROBE_EXAMPLE}/${f}`),
    ),
  );
  const files = { cfgJson: new TextDecoder().decode(cfg), weights, activations, probe };
  return loadProbe(
    {
      kind: 'probe',
      files,
      names: {
        sae: `${PROBE_EXAMPLE}/sae`,
        activations: `${PROBE_EXAMPLE}/activations.safetensors`,
        probe: `${PROBE_EXAMPLE}/probe.safetensors`,
      },
    },
    'probe-example',
  );
}

/** The first K features of the scenario's ranking (an input error when K is not a usable size). */
export function topFeatures(sc: Pick<LoadedScenario, 'rank' | 'sae'>, k: number): number[] {
  const dSae = sc.sae.dSae;
  if (!Number.isInteger(k) || k < 1 || k > dSae)
    throw new InputError(`the defended-set size K must be a whole number in 1..${dSae}, got ${k}`);
  if (sc.rank.length === 0) throw new InputError("no feature scores positive under the scenario's selection rule: nothing to defend");
  return sc.rank.slice(0, k);
}

/** The feature table the page shows: attribution to B at the default δ positions, mean activation, density. */
export async function featureTable(
  sc: LoadedScenario,
): Promise<{ attribution: Float32Array; meanActivation: Float32Array; logDensity: Float32Array }> {
  const [n, t] = sc.h.shape;
  let attribution = sc.attribution;
  if (!attribution) {
    const weights = new Float32Array(n * t);
    sc.positions.default.forEach((row, i) => {
      for (const p of row) if (p >= 0) weights[i * t + p] = 1;
    });
    attribution = await featureAttribution(sc.sae, sc.h, sc.behaviour, weights);
  }
  const stats = await featureStatistics(sc.sae, sc.h, sc.mask);
  return { attribution, meanActivation: stats.meanActivation, logDensity: sc.logDensity ?? stats.logDensity };
}

async function loadBuiltin(spec: Extract<ScenarioSpec, { kind: 'builtin' }>, read: ReadAsset): Promise<LoadedScenario> {
  const entry = SCENARIOS[spec.scenario];
  const builtin = await loadBuiltinModel(read, spec.model);
  let sae: Awaited<ReturnType<typeof loadBuiltinSae>> | null = null;
  let built: BuiltScenario | null = null;
  try {
    sae = await loadBuiltinSae(read, builtin.entry, spec.sae ?? entry.defaults.sae ?? undefined);
    const params = { seed: spec.seed ?? 0, n: spec.n, targetClass: spec.targetClass };
    built = await BUILDERS[spec.scenario](
      { model: builtin.model, tokenizer: builtin.tokenizer, sae: sae.loaded.sae, hook: sae.entry.hook },
      params,
    );
    const [n, t] = built.h.shape;
    const mask = new Float32Array(n * t);
    built.samples.forEach((s, i) => mask.fill(1, i * t, i * t + s.tokens.length));
    const saeSel = sae;
    const b = built;
    const kit = builtinDefenceKit(builtin, b.hook, read, b.rankAt);
    const { k, explainedVariance, meanL0 } = sae.entry;
    return {
      id: spec.scenario,
      title: b.title,
      behaviourText: b.behaviourText,
      sae: sae.loaded.sae,
      saeInfo: {
        name: sae.entry.name,
        architecture: sae.entry.architecture,
        hookName: b.hook,
        k: k ?? undefined,
        notes: [`explained variance ${explainedVariance.toFixed(3)}, mean L0 ${meanL0}`],
      },
      modelName: builtin.entry.name,
      h: b.h,
      mask,
      behaviour: b.behaviour,
      positions: positionSets(mask, n, t, b.positions),
      samples: b.samples,
      rank: b.rank,
      featureRule: b.featureRule,
      logDensity: sae.loaded.logDensity ?? null,
      defaults: { features: b.rank.slice(0, entry.defaults.k(sae.loaded.sae.dSae)), clamp: entry.defaults.clamp, run: entry.defaults.run },
      params: Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as Record<string, number>,
      sources: { model: builtin.entry.name, sae: sae.entry.name },
      lm: { model: builtin.model, tokenizer: builtin.tokenizer, hook: b.hook, readout: b.readout },
      extras: b.extras,
      defenceKit: kit,
      dispose: () => {
        kit.dispose();
        b.dispose();
        saeSel.loaded.sae.dispose();
        builtin.model.dispose();
      },
    };
  } catch (e) {
    built?.dispose();
    sae?.loaded.sae.dispose();
    builtin.model.dispose();
    throw e;
  }
}

async function loadProbe(spec: Extract<ScenarioSpec, { kind: 'probe' }>, id: 'probe' | 'probe-example'): Promise<LoadedScenario> {
  const names = { sae: 'SAE', activations: 'activations', probe: 'probe', ...spec.names };
  const bytes = (b: Bytes) => (b instanceof Uint8Array ? b : new Uint8Array(b));
  const { files } = spec;
  // Parse and check the cheap things before any tensor exists.
  const acts = parseActivations(bytes(files.activations), names.activations);
  const probe = parseProbe(bytes(files.probe), names.probe);
  const loaded = loadSaeLens(
    { cfgJson: files.cfgJson, weights: bytes(files.weights), sparsity: files.sparsity ? bytes(files.sparsity) : undefined },
    { source: names.sae, centerInput: spec.centerInput, normScalingFactor: spec.normScalingFactor },
  );
  const { sae } = loaded;
  let pb: ReturnType<typeof probeBehaviour> | null = null;
  let h: Tensor3D | null = null;
  try {
    const target = checkProbeScenario(acts, probe, sae.dIn, spec.target);
    pb = probeBehaviour(probe, target, acts);
    h = activationsTensor(acts);
    const all = allTokenPositions(acts);
    // Attribution over every real token: the ranking and the feature table share it.
    const attribution = await featureAttribution(sae, h, pb.behaviour);
    const rank = rankPositive(attribution);
    const { config } = loaded;
    const hh = h,
      pbb = pb;
    return {
      id,
      title: SCENARIOS[id].title,
      behaviourText: `B = logit of probe class ${target} on the mean-pooled residual; a valid flip has B > 0 before the clamp and B ≤ 0 after.`,
      sae,
      saeInfo: {
        name: config.modelName ?? names.sae,
        architecture: config.architecture,
        hookName: config.hookName,
        k: config.k,
        notes: loaded.notes,
      },
      h: hh,
      mask: acts.mask,
      behaviour: pbb.behaviour,
      positions: positionSets(acts.mask, acts.n, acts.t, all),
      samples: Array.from({ length: acts.n }, (_, i) => ({ index: i, deltaPositions: all[i].filter((p) => p >= 0) })),
      rank,
      featureRule: 'positive attribution to B over every real token',
      logDensity: loaded.logDensity ?? null,
      defaults: {
        features: rank.slice(0, SCENARIOS[id].defaults.k(sae.dSae)),
        clamp: SCENARIOS[id].defaults.clamp,
        run: SCENARIOS[id].defaults.run,
      },
      params: { target },
      sources: names,
      attribution,
      dispose: () => {
        hh.dispose();
        pbb.dispose();
        sae.dispose();
      },
    };
  } catch (e) {
    h?.dispose();
    pb?.dispose();
    sae.dispose();
    throw e;
  }
}
