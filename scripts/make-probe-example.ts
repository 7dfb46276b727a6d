// Writes the small "bring your own activations" example under public/examples/probe/ (SAELens SAE folder,
// activations.safetensors, probe.safetensors) from the seeded synthetic world, so the CLI example (README, docs/cli.md)
// and the playground's probe scenario have files to open. Deterministic: same bytes every run.
//   npx tsx scripts/make-probe-example.ts [outDir]
import './lib/clean-errors.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeSyntheticProbeWorld } from '../src/scenarios/synthetic-probe.ts';
import { writeSaeLensFolder } from '../src/io/saelens.ts';
import { writeSafetensors } from '../src/io/safetensors.ts';

const out = process.argv[2] ?? 'public/examples/probe';
const world = makeSyntheticProbeWorld({ seed: 7, n: 48, t: 4, d: 32, m: 128, noise: 0.5 });
const sae = writeSaeLensFolder(world.config, world.arrays);
mkdirSync(path.join(out, 'sae'), { recursive: true });
writeFileSync(path.join(out, 'sae', 'cfg.json'), sae.cfgJson);
writeFileSync(path.join(out, 'sae', 'sae_weights.safetensors'), sae.weights);
const { n, t, d } = world.acts;
writeFileSync(
  path.join(out, 'activations.safetensors'),
  writeSafetensors({ h: { shape: [n, t, d], data: world.acts.h }, mask: { shape: [n, t], data: world.acts.mask } }),
);
writeFileSync(
  path.join(out, 'probe.safetensors'),
  writeSafetensors({ w: { shape: [d], data: world.probe.w }, b: { shape: [], data: world.probe.b } }),
);
writeFileSync(
  path.join(out, 'README.md'),
  `# Probe example (synthetic)\n\nA seeded synthetic world (scripts/make-probe-example.ts): an SAE with ${world.config.dSae} features on d = ${d},\n` +
    `${n} samples × ${t} tokens whose residuals are sparse sums of decoder directions plus a part the SAE cannot explain,\n` +
    `and a linear probe that reads the "concept" features ${world.conceptFeatures.join(', ')}.\n\n` +
    '```\nnpx unclamp recover --sae public/examples/probe/sae --activations public/examples/probe/activations.safetensors \\\n' +
    '  --probe public/examples/probe/probe.safetensors --top-k 4 --clamp zero --mode encoder --steps 100 --lr 0.05 --budget 2\n```\n',
);
console.error(`wrote ${out}`);
