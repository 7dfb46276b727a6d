// npm run train:model -- [--seed 1] [--steps 3000] [--out public/models/tiny-world] [--resume]
// Trains the built-in GPT-2-architecture model on the synthetic world and writes it in the Hugging Face
// layout (model.safetensors, config.json) with its word-level tokenizer.json and training.json (curve,
// held-out accuracy). Deterministic given the seed; resumable from <out>/checkpoint/.
import './lib/clean-errors.ts';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { tf, type Variable } from '../src/core/tf.ts';
import { initNodeBackend } from '../src/engine/node-backend.ts';
import { gpt2ConfigJson, gpt2ToSafetensors, loadGpt2 } from '../src/model/families/gpt2/load.ts';
import { WordTokenizer } from '../src/model/tokenizers/word.ts';
import { parseSafetensors, writeSafetensors } from '../src/io/safetensors.ts';
import { FAMILIES, heldOutSet, trainingStream, worldVocabulary, type Example, type Family } from '../src/world/generate.ts';
import { accuracyByFamily } from '../src/world/evaluate.ts';
import { SPECIAL } from '../src/world/lexicon.ts';
import { AdamState, trainStep, trainableGpt2, type LmTrainOptions } from './train/lm.ts';

const { values: a } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    steps: { type: 'string', default: '3000' },
    batch: { type: 'string', default: '48' },
    lr: { type: 'string', default: '0.003' },
    'd-model': { type: 'string', default: '64' },
    layers: { type: 'string', default: '3' },
    heads: { type: 'string', default: '4' },
    ctx: { type: 'string', default: '32' },
    out: { type: 'string', default: 'public/models/tiny-world' },
    'eval-every': { type: 'string', default: '250' },
    'eval-size': { type: 'string', default: '200' },
    'checkpoint-every': { type: 'string', default: '250' },
    backend: { type: 'string', default: 'wasm' },
    resume: { type: 'boolean', default: false },
    /** Start from the weights of an existing model folder (a further training phase, fresh optimiser). */
    init: { type: 'string' },
    warmup: { type: 'string', default: '100' },
  },
});
const seed = Number(a.seed);
const out = a.out!;
const opts: LmTrainOptions = {
  steps: Number(a.steps),
  batch: Number(a.batch),
  lr: Number(a.lr),
  warmup: Number(a.warmup),
  answerWeight: 4,
  clip: 1,
  weightDecay: 0.01,
};
const log = (s: string) => process.stderr.write(`${s}\n`);

await initNodeBackend(a.backend as 'wasm' | 'cpu');
const vocab = worldVocabulary();
const tok = new WordTokenizer({ type: 'word', vocab, unk: SPECIAL.unk, pad: SPECIAL.pad, bos: SPECIAL.bos });
const config = {
  nLayer: Number(a.layers),
  nHead: Number(a.heads),
  dModel: Number(a['d-model']),
  nCtx: Number(a.ctx),
  vocabSize: vocab.length,
  lnEps: 1e-5,
};
const ckptDir = path.join(out, 'checkpoint');
mkdirSync(out, { recursive: true });

interface Curve {
  step: number;
  loss: number;
  accuracy?: Partial<Record<Family, number>>;
}
let curve: Curve[] = [];
let startStep = 0;
/** Seconds spent before a --resume, so training.json reports the whole run. */
let priorSeconds = 0;
let model = trainableGpt2(config, seed);
let adam = new AdamState(model.parameters() as Variable[]);
/** Earlier training phases of the model this run starts from (--init). */
let phases: unknown[] = [];
if (a.init) {
  const from = loadGpt2(
    readFileSync(path.join(a.init, 'config.json'), 'utf8'),
    readFileSync(path.join(a.init, 'model.safetensors')),
    a.init,
  ).model;
  model.dispose();
  adam.dispose();
  model = trainableGpt2(config, seed, from.weights);
  adam = new AdamState(model.parameters() as Variable[]);
  const prev = JSON.parse(readFileSync(path.join(a.init, 'training.json'), 'utf8'));
  phases = prev.phases ?? [
    { seed: prev.seed, options: prev.options, seconds: prev.seconds, heldOutAccuracy: prev.heldOutAccuracy, curve: prev.curve },
  ];
  log(`starting from ${a.init} (${phases.length} earlier phase${phases.length > 1 ? 's' : ''})`);
}

if (a.resume && existsSync(path.join(ckptDir, 'meta.json'))) {
  const meta = JSON.parse(readFileSync(path.join(ckptDir, 'meta.json'), 'utf8'));
  const loaded = loadGpt2(gpt2ConfigJson(config), readFileSync(path.join(ckptDir, 'model.safetensors')), ckptDir).model;
  model.dispose();
  adam.dispose();
  model = trainableGpt2(config, seed, loaded.weights);
  adam = new AdamState(model.parameters() as Variable[]);
  const moments = parseSafetensors(readFileSync(path.join(ckptDir, 'adam.safetensors')));
  adam.params.forEach((p, i) => {
    adam.m[i].assign(tf.tensor(moments.tensors.get(`m.${i}`)!.data, p.shape));
    adam.v[i].assign(tf.tensor(moments.tensors.get(`v.${i}`)!.data, p.shape));
  });
  adam.step = meta.step;
  startStep = meta.step;
  curve = meta.curve;
  priorSeconds = meta.seconds ?? 0;
  log(`resumed from step ${startStep}`);
}

const stream = trainingStream(seed + 7919 * phases.length);
for (let i = 0; i < startStep * opts.batch; i++) stream.next(); // replay the stream to where the checkpoint was
const evalSets = Object.fromEntries(FAMILIES.map((f) => [f, heldOutSet(f, Number(a['eval-size']), seed)])) as Record<Family, Example[]>;

async function checkpoint(step: number): Promise<void> {
  mkdirSync(ckptDir, { recursive: true });
  writeFileSync(path.join(ckptDir, 'model.safetensors'), await gpt2ToSafetensors(model));
  const moments: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (let i = 0; i < adam.params.length; i++) {
    moments[`m.${i}`] = { shape: adam.params[i].shape, data: (await adam.m[i].data()) as Float32Array };
    moments[`v.${i}`] = { shape: adam.params[i].shape, data: (await adam.v[i].data()) as Float32Array };
  }
  writeFileSync(path.join(ckptDir, 'adam.safetensors'), writeSafetensors(moments));
  writeFileSync(
    path.join(ckptDir, 'meta.json'),
    JSON.stringify({ step, curve, seed, config, opts, seconds: priorSeconds + Math.round((Date.now() - started) / 1000) }, null, 1),
  );
}

const started = Date.now();
let recent: number[] = [];
for (let step = startStep; step < opts.steps; step++) {
  const batch = Array.from({ length: opts.batch }, () => stream.next().value as Example);
  const { loss } = trainStep(model, adam, tok, batch, opts);
  recent.push(loss);
  const done = step + 1;
  if (done % 50 === 0) {
    const mean = recent.reduce((x, y) => x + y, 0) / recent.length;
    recent = [];
    const entry: Curve = { step: done, loss: mean };
    if (done % Number(a['eval-every']) === 0 || done === opts.steps) entry.accuracy = await accuracyByFamily(model, tok, evalSets);
    curve.push(entry);
    const rate = (done - startStep) / ((Date.now() - started) / 1000);
    log(`step ${done}/${opts.steps}  loss ${mean.toFixed(4)}  ${rate.toFixed(2)} steps/s${heldOut(entry.accuracy)}`);
  }
  if (done % Number(a['checkpoint-every']) === 0 && done < opts.steps) await checkpoint(done);
}

const final = await accuracyByFamily(
  model,
  tok,
  Object.fromEntries(FAMILIES.map((f) => [f, heldOutSet(f, 500, seed + 1)])) as Record<Family, Example[]>,
);
writeFileSync(path.join(out, 'model.safetensors'), await gpt2ToSafetensors(model));
writeFileSync(path.join(out, 'config.json'), gpt2ConfigJson(config, { tokenizer: 'word (tokenizer.json)', unclamp_seed: seed }));
writeFileSync(path.join(out, 'tokenizer.json'), `${JSON.stringify(tok.toJSON())}\n`);
const phase = {
  seed,
  options: opts,
  init: a.init ?? null,
  seconds: priorSeconds + Math.round((Date.now() - started) / 1000),
  heldOutAccuracy: final,
  curve,
};
const allPhases = [...phases, phase];
writeFileSync(
  path.join(out, 'training.json'),
  `${JSON.stringify(
    {
      seed,
      config,
      options: opts,
      seconds: allPhases.reduce((t: number, p) => t + (p as { seconds: number }).seconds, 0),
      heldOutAccuracy: final,
      curve,
      phases: allPhases,
    },
    null,
    1,
  )}\n`,
);
// The final checkpoint stays (ignored by git) so a later phase can --resume it.
await checkpoint(opts.steps);
log(`held-out accuracy (500 per family): ${JSON.stringify(final)}`);

/** "  held-out {…}" with accuracies to 3 decimals, or nothing when this step was not evaluated. */
function heldOut(accuracy: Record<string, number | undefined> | undefined): string {
  if (!accuracy) return '';
  return `  held-out ${JSON.stringify(Object.fromEntries(Object.entries(accuracy).map(([k, v]) => [k, +v!.toFixed(3)])))}`;
}
