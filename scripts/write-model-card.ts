// Writes public/models/<name>/README.md (the model card) and public/models/index.json from the training
// records (training.json, saes.json) — run after train:model and train:sae.
//   npx tsx scripts/write-model-card.ts [--model public/models/tiny-world] [--default-sae ladder-mid]
import './lib/clean-errors.ts';
import { readFileSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({ options: { model: { type: 'string', default: 'public/models/tiny-world' }, 'default-sae': { type: 'string', default: 'ladder-mid' } } });
const dir = a.model!;
const name = path.basename(dir);
const training = JSON.parse(readFileSync(path.join(dir, 'training.json'), 'utf8'));
const saes: Record<string, number | string | null>[] = JSON.parse(readFileSync(path.join(dir, 'saes.json'), 'utf8'));
const c = training.config;
const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

function folderBytes(p: string): number {
  return readdirSync(p).reduce((n, f) => {
    const q = path.join(p, f);
    return n + (statSync(q).isDirectory() ? folderBytes(q) : statSync(q).size);
  }, 0);
}

interface Phase {
  seed: number;
  init: string | null;
  seconds: number;
  options: { steps: number; batch: number; lr: number; warmup: number; answerWeight: number };
  curve: { step: number; loss: number; accuracy?: Record<string, number> }[];
}
const phases: Phase[] = training.phases ?? [{ ...training, init: null }];
let offset = 0;
const curveRows: string[] = [];
for (const ph of phases) {
  for (const e of ph.curve.filter((x) => x.accuracy)) {
    curveRows.push(`| ${offset + e.step} | ${e.loss.toFixed(4)} | ${['ioi', 'refusal', 'attributes', 'mcq'].map((f) => pct(e.accuracy![f] ?? NaN)).join(' | ')} |`);
  }
  offset += ph.options.steps;
}
const phaseText = phases
  .map((ph, i) => `phase ${i + 1}: ${ph.options.steps} steps × batch ${ph.options.batch}, AdamW lr ${ph.options.lr} (warm-up ${ph.options.warmup}, cosine to 10%)${ph.init ? ', from the previous phase\'s weights with a fresh optimiser and fresh examples' : ''}`)
  .join('; ');

const card = `# ${name} — Unclamp's built-in model

A GPT-2-architecture transformer trained by \`npm run train:model\` on Unclamp's synthetic world
(\`src/world/\`): four task families matching the paper's experiments. Stored in the Hugging Face GPT-2
layout (\`model.safetensors\`, \`config.json\`) with a word-level \`tokenizer.json\`; its SAEs are SAELens
folders under \`saes/\`. Everything here is regenerated, byte for byte, by the commands below.

## Model

| | |
|---|---|
| architecture | GPT-2 (pre-LayerNorm, learned positions, GELU tanh, tied unembedding) |
| layers × heads × d_model | ${c.nLayer} × ${c.nHead} × ${c.dModel} |
| context | ${c.nCtx} tokens |
| vocabulary | ${c.vocabSize} words (word-level) |
| seed | ${training.seed} |
| training | ${phaseText}; answer tokens weighted ×${training.options.answerWeight} |
| training time | ${Math.round(training.seconds / 60)} min on 2 CPU cores (TF.js wasm backend) |

Commands: ${phases
  .map((ph, i) => (i === 0 ? `\`npm run train:model -- --layers ${c.nLayer} --seed ${ph.seed} --steps ${ph.options.steps}\`` : `\`npm run train:model -- --layers ${c.nLayer} --seed ${ph.seed} --init public/models/${name} --steps ${ph.options.steps} --lr ${ph.options.lr} --warmup ${ph.options.warmup}\``))
  .join(', then ')}, then \`npm run train:sae\`, then \`npx tsx scripts/write-model-card.ts\`. Training resumes from
its checkpoint with \`--resume\`.

## Held-out accuracy (500 held-out examples per family)

| family | what is held out | accuracy rule | accuracy |
|---|---|---|---|
| IOI | 15% of name pairs | logit[IO] > logit[S] at the answer position | ${pct(training.heldOutAccuracy.ioi)} |
| refusal | 4 harmful, 4 borderline, 6 benign requests | first answer token: "I" (refuse) for harmful, "Sure" otherwise | ${pct(training.heldOutAccuracy.refusal)} |
| attributes (probes) | 15% of (job, adjective) pairs | top token right at both attribute-dependent words | ${pct(training.heldOutAccuracy.attributes)} |
| multiple choice (unlearning) | 20% of option orders | correct letter has the top logit among A–D | ${pct(training.heldOutAccuracy.mcq)} |

## Training curve (loss; held-out accuracy on 200 per family)

| step | loss | IOI | refusal | attributes | MC |
|---|---|---|---|---|---|
${curveRows.join('\n')}

## SAEs

Trained by \`npm run train:sae\` on ${'residual activations of training-distribution text'}; evaluated on held-out text.
Explained variance = 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖². The **quality ladder** (same layer, rising explained variance)
lets you see how the recovery path changes with the size of the error term.

| SAE | hook | architecture | width | k | explained variance | mean L0 | dead | role |
|---|---|---|---|---|---|---|---|---|
${saes.map((s) => `| \`${s.name}\` | ${s.hook} | ${s.architecture} | ${s.width} | ${s.k ?? '—'} | ${(s.explainedVariance as number).toFixed(3)} | ${(s.meanL0 as number).toFixed(1)} | ${pct(s.deadShare as number)} | ${s.role} |`).join('\n')}

Default SAE for the scenarios: \`${a['default-sae']}\`. Total size of this folder: ${(folderBytes(dir) / 2 ** 20).toFixed(2)} MB.
`;
writeFileSync(path.join(dir, 'README.md'), card);

const index = {
  models: [
    {
      name,
      path: name,
      description: `GPT-2 architecture, ${c.nLayer} layers, d_model ${c.dModel}, trained on Unclamp's synthetic world (IOI, refusal, attributes, multiple choice).`,
      defaultSae: a['default-sae'],
      saes,
    },
  ],
};
writeFileSync(path.join(path.dirname(dir), 'index.json'), JSON.stringify(index, null, 1) + '\n');
console.error(`wrote ${path.join(dir, 'README.md')} and ${path.join(path.dirname(dir), 'index.json')}`);
