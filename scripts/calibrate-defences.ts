// How strong and how specific is each built-in scenario's defence? For a scenario and an SAE, the share of held-out
// samples the clamp flips (valid flips / samples) for each defended-set size K and clamp, the mean flips of K random
// features over --control-draws draws (a specific defence's control flips far fewer), and the scenario's side effect
// where it has one (unlearning: retain accuracy under the clamp; SAEBench keeps settings with ≥ 0.99): the figures
// the scenario table's defaults (src/scenarios/catalog.ts) were chosen from, against the paper's flip rates.
//   npx tsx scripts/calibrate-defences.ts --scenario ioi --sae relu --ks 2,4,8,16 [--clamps set:-5,set:-20] [--positive-only]
//     [--control-draws 5] [--seed 0]
import './lib/clean-errors.ts';
import { parseArgs } from 'node:util';
import { initNodeBackend } from '../src/engine/node-backend.ts';
import { parseClampRule, describeClamp } from '../src/core/clamp.ts';
import { isBuiltinScenarioId } from '../src/scenarios/catalog.ts';
import { loadScenario, topFeatures } from '../src/scenarios/load.ts';
import { createSite, siteAtHook } from '../src/scenarios/run.ts';
import { mulberry32 } from '../src/core/rng.ts';
import { readPublic } from '../src/cli/fs.ts';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'ioi' },
    sae: { type: 'string' },
    ks: { type: 'string', default: '2,4,8,16,32' },
    clamps: { type: 'string' },
    'positive-only': { type: 'boolean', default: false },
    seed: { type: 'string', default: '0' },
    'control-draws': { type: 'string', default: '0' },
  },
});
const id = values.scenario!;
if (!isBuiltinScenarioId(id)) throw new Error(`unknown built-in scenario ${id}`);
await initNodeBackend('wasm');
const sc = await loadScenario({ kind: 'builtin', scenario: id, sae: values.sae, seed: Number(values.seed) }, readPublic);
const clamps = values.clamps ? values.clamps.split(',').map((c) => parseClampRule(c, values['positive-only'])) : [sc.defaults.clamp];
console.log(`${id} on ${sc.saeInfo.name} (d_sae ${sc.sae.dSae}, ${sc.rank.length} features ranked), ${sc.h.shape[0]} samples`);
const draws = Number(values['control-draws']);
console.log('K\tclamp\tvalid flips\tflip rate\trandom K (mean flips)\tside effect');
for (const clamp of clamps) {
  for (const k of values.ks!.split(',').map(Number)) {
    if (k > sc.rank.length) continue;
    const features = topFeatures(sc, k);
    const site = await createSite(sc, { features, clamp, positions: 'default' });
    const flips = site.baseline.valid.filter(Boolean).length;
    const base = Array.from(site.baseline.bBase).filter((b) => b > 0).length;
    const extras = sc.extras ? await sc.extras({ features, clamp, atHook: siteAtHook(site), delta: null }) : {};
    site.dispose();
    let control = 0;
    const rand = mulberry32(Number(values.seed) * 1000 + k);
    const pool = Array.from({ length: sc.sae.dSae }, (_, i) => i).filter((i) => !features.includes(i));
    for (let d = 0; d < draws; d++) {
      const picked = new Set<number>();
      while (picked.size < k) picked.add(pool[Math.floor(rand() * pool.length)]);
      const rs = await createSite(sc, { features: [...picked], clamp, positions: 'default' });
      control += rs.baseline.valid.filter(Boolean).length / draws;
      rs.dispose();
    }
    const side = 'retainAccuracyClamped' in extras ? `retain accuracy ${extras.retainAccuracyBase} → ${extras.retainAccuracyClamped}` : '';
    console.log(
      `${k}\t${describeClamp(clamp)}\t${flips} / ${site.n} (base shows it: ${base})\t${(flips / site.n).toFixed(3)}\t${draws ? control.toFixed(1) : '—'}\t${side}`,
    );
  }
}
sc.dispose();
