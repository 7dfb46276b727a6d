// IOI (docs/method.md §7.1): "Then , Mary and John went to the store . John gave a ring to" → Mary.
// B = logit[IO] − logit[S] at the answer position (the last prompt token); one template and the BABA order
// so that every prompt has the same answer position and a shared δ can sit there (as in the paper).
// Defended features: top-K positive attribution to B at the answer position.
import { mulberry32 } from '../../core/rng.ts';
import { featureAttribution } from '../../core/attribution.ts';
import { rankPositive } from '../../core/select.ts';
import { SCENARIOS } from '../catalog.ts';
import { ioiExample } from '../../world/generate.ts';
import { attributionRankAt, buildOwning, logitBehaviour, logitDiff, promptIds, residualAt } from './common.ts';
import type { BuiltScenario, ScenarioContext, ScenarioParams } from './types.ts';

export async function buildIoi(ctx: ScenarioContext, p: ScenarioParams = {}): Promise<BuiltScenario> {
  const { model, tokenizer: tok, sae, hook } = ctx;
  return buildOwning(async (own, release) => {
    const n = p.n ?? SCENARIOS.ioi.defaults.n!;
    const rand = mulberry32((p.seed ?? 0) + 101);
    const examples = Array.from({ length: n }, () => ioiExample(rand, 'heldout', { template: 1, order: 'BABA' }));
    const ids = promptIds(tok, examples);
    const T = ids[0].length;
    const h = residualAt(model, ids, hook);
    own(() => h.dispose());
    const last = Array(n).fill(T - 1);
    const readout = {
      at: last,
      terms: logitDiff(examples.map((e) => (e.family === 'ioi' ? [tok.id(e.meta.io), tok.id(e.meta.s)] : [0, 0]))),
    };
    const { behaviour, dispose: disposeB } = logitBehaviour(model, hook, readout);
    own(disposeB);
    const weights = new Float32Array(n * T);
    for (let i = 0; i < n; i++) weights[i * T + T - 1] = 1;
    const rank = rankPositive(await featureAttribution(sae, h, behaviour, weights));
    return {
      title: 'Indirect object identification',
      behaviourText: 'B = logit[IO] − logit[S] at the answer position; a valid flip has B > 0 before the clamp and B ≤ 0 after.',
      hook,
      samples: examples.map((e, i) => ({
        index: i,
        tokens: e.tokens.slice(0, e.promptLength),
        label: e.family === 'ioi' ? `IO ${e.meta.io}, S ${e.meta.s}` : '',
        deltaPositions: [T - 1],
      })),
      h,
      behaviour,
      readout,
      positions: last.map((t) => [t]),
      rank,
      featureRule: 'positive attribution to B at the answer position',
      rankAt: (at, laterSae) => attributionRankAt(model, ids, readout, weights, at, laterSae),
      dispose: release,
    };
  });
}
