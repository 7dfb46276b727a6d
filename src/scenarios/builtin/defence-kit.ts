// The built-in model's defence kit (scenarios/defences.ts): clean text from the built-in corpus (held-out sentences
// of every family, with their answers), and the SAEs the model index lists at later residual hooks.
import { tf, type Tensor3D } from '../../core/tf.ts';
import type { Sae } from '../../core/sae.ts';
import { FAMILIES, heldOutSet } from '../../world/generate.ts';
import { batchIds } from '../../world/evaluate.ts';
import { type CleanText, type DefenceKit, type LaterSae, laterResidHooks } from '../defences.ts';
import { type BuiltinModel, loadBuiltinSae, type ReadAsset } from './assets.ts';

/** Held-out sentences per family: 4 × 64 clean inputs, half calibrate the monitor and half measure its false positives. */
const CLEAN_PER_FAMILY = 64;
const CLEAN_SEED = 9090;

export function builtinDefenceKit(
  builtin: BuiltinModel,
  hook: string,
  read: ReadAsset,
  rankAt: ((hook: string, sae: Sae) => Promise<number[]>) | undefined,
): DefenceKit {
  const { model, tokenizer } = builtin;
  let clean: CleanText | null = null;
  let later: LaterSae[] | null = null;
  return {
    model,
    hook,
    rankAt,
    async clean() {
      if (!clean) {
        const examples = FAMILIES.flatMap((f) => heldOutSet(f, CLEAN_PER_FAMILY, CLEAN_SEED));
        const { ids, lengths } = batchIds(tokenizer, examples, 'full');
        const t = ids[0].length;
        const mask = new Float32Array(ids.length * t);
        lengths.forEach((l, i) => mask.fill(1, i * t, i * t + l));
        const h = tf.tidy(() => model.runToHook(ids, hook)) as Tensor3D;
        clean = { source: `${examples.length} held-out sentences of the built-in corpus (${FAMILIES.join(', ')})`, ids, h, mask };
      }
      return clean;
    },
    async laterSaes() {
      if (!later) {
        const hooks = laterResidHooks(model, hook);
        const found: LaterSae[] = [];
        for (const at of hooks) {
          const entry = builtin.entry.saes.find((s) => s.hook === at);
          if (!entry) continue;
          const { loaded } = await loadBuiltinSae(read, builtin.entry, entry.id);
          found.push({ hook: at, sae: loaded.sae, name: entry.name });
        }
        later = found;
      }
      return later;
    },
    dispose() {
      clean?.h.dispose();
      for (const l of later ?? []) l.sae.dispose();
      clean = null;
      later = null;
    },
  };
}
