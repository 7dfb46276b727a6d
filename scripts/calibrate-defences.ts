// How strong is each built-in scenario's defence? For a scenario and an SAE, the share of held-out samples the
// clamp flips (valid flips / samples) for each defended-set size K and clamp: the figures the scenario table's
// defaults (src/scenarios/catalog.ts) were chosen from, against the paper's flip rates.
//   npx tsx scripts/calibrate-defences.ts --scenario ioi --sae relu --ks 2,4,8,16 [--clamps set:-5,set:-20] [--positive-only]
import './lib/clean-errors.ts';
import { parseArgs } from 'node:util';
import { initNodeBackend } from '../src/engine/node-backend.ts';
import { parseClampRule, describeClamp } from '../src/core/clamp.ts';
import { isBuiltinScenarioId } from '../src/scenarios/catalog.ts';
import { loadScenario, topFeatures } from '../src/scenarios/load.ts';
import { createSite } from '../src/scenarios/run.ts';
import { readPublic } from '../src/cli/fs.ts';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'ioi' },
    sae: { type: 'string' },
    ks: { type: 'string', default: '2,4,8,16,32' },
    clamps: { type: 'string' },
    'positive-only': { type: 'boolean', default: false },
    seed: { type: 'string', default: '0' },
  },
});
const id = values.scenario!;
if (!isBuiltinScenarioId(id)) throw new Error(`unknown built-in scenario ${id}`);
await initNodeBackend('wasm');
const sc = await loadScenario({ kind: 'builtin', scenario: id, sae: values.sae, seed: Number(values.seed) }, readPublic);
const clamps = values.clamps ? values.clamps.split(',').map((c) => parseClampRule(c, values['positive-only'])) : [sc.defaults.clamp];
console.log(`${id} on ${sc.saeInfo.name} (d_sae ${sc.sae.dSae}, ${sc.rank.length} features ranked), ${sc.h.shape[0]} samples`);
console.log('K\tclamp\tvalid flips\tflip rate');
for (const clamp of clamps) {
  for (const k of values.ks!.split(',').map(Number)) {
    if (k > sc.rank.length) continue;
    const site = await createSite(sc, { features: topFeatures(sc, k), clamp, positions: 'default' });
    const flips = site.baseline.valid.filter(Boolean).length;
    const base = Array.from(site.baseline.bBase).filter((b) => b > 0).length;
    console.log(`${k}\t${describeClamp(clamp)}\t${flips} / ${site.n} (base shows it: ${base})\t${(flips / site.n).toFixed(3)}`);
    site.dispose();
  }
}
sc.dispose();
