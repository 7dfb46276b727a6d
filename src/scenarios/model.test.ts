// A real-model scenario: a GPT-2 checkpoint in the Hugging Face layout (the tiny-bpe fixture: random weights, the
// real 50,257-token vocabulary), a SAELens SAE at one of its residual hooks, and a prompt set — loaded through the
// one loader and run through `unclamp run --prompts` as a user would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tf } from '../core/tf.ts';
import { maxRelErr } from '../core/compare.ts';
import { mulberry32, normals } from '../core/rng.ts';
import { tinyBpeSae } from '../model/__fixtures__/tiny-bpe-sae.ts';
import { loadGpt2 } from '../model/families/gpt2/load.ts';
import { processWeights } from '../model/families/gpt2/process.ts';
import { Gpt2BpeTokenizer } from '../model/tokenizers/bpe.ts';
import { loadScenario } from './load.ts';
import { runScenario } from './run.ts';
import type { ModelScenarioSpec } from './model.ts';
import { parsePromptLines, tokenisePromptSet } from './prompts.ts';
import { checkSae } from './sae-check.ts';
import { Sae } from '../core/sae.ts';

const root = path.resolve(import.meta.dirname, '../..');
const modelDir = path.join(root, 'src/model/__fixtures__/tiny-bpe');
const HOOK = 'blocks.1.hook_resid_pre';

const PROMPTS = [
  { prompt: 'When Mary and John went to the store, John gave a drink to', target: ' Mary', contrast: ' John' },
  { prompt: 'Then, Anna and Paul had a long talk. Paul passed the book to', target: ' Anna', contrast: ' Paul' },
  { prompt: 'After the meeting, Sarah and Tom walked home, and Tom waved at', target: ' Sarah', contrast: ' Tom' },
  { prompt: 'Friends call him Tom', target: ' and', contrast: '.' },
];
const jsonl = (rows: object[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;

const saeFolder = tinyBpeSae;

function spec(over: Partial<ModelScenarioSpec> = {}): ModelScenarioSpec {
  return {
    kind: 'model',
    model: {
      configJson: readFileSync(path.join(modelDir, 'config.json'), 'utf8'),
      weights: new Uint8Array(readFileSync(path.join(modelDir, 'model.safetensors'))),
      name: 'tiny-bpe',
    },
    sae: { ...saeFolder(4, HOOK), name: 'sae' },
    prompts: { text: jsonl(PROMPTS), name: 'set.jsonl' },
    ...over,
  };
}

describe('prompt sets', () => {
  const tok = new Gpt2BpeTokenizer();
  it('tokenises prompts and single-token completions', () => {
    const set = tokenisePromptSet(parsePromptLines(jsonl(PROMPTS)), tok, 32);
    expect(set.target[0]).toBe(tok.tokenId(' Mary'));
    expect(set.tokens[0].join('')).toBe(PROMPTS[0].prompt);
    const bos = tokenisePromptSet(parsePromptLines(jsonl(PROMPTS)), tok, 32, { prependBos: true });
    expect(bos.ids[0][0]).toBe(50256);
  });

  it.each([
    [
      '{"prompt": "a", "target": " Mary and", "contrast": " John"}',
      'set.jsonl, line 1: target " Mary and" is 2 tokens; a completion must be exactly one token',
    ],
    ['{"prompt": "a", "target": " Mary"}', 'set.jsonl, line 1: "contrast" is missing or not a string'],
    ['{"prompt": "", "target": " Mary", "contrast": " John"}', 'set.jsonl, line 1: "prompt" is empty'],
    ['\n{oops', 'set.jsonl, line 2: not JSON'],
    ['{"prompt": "a", "target": " Mary", "contrast": " Mary"}', 'set.jsonl, line 1: target and contrast are the same token'],
    [
      `{"prompt": "${'word '.repeat(40)}", "target": " Mary", "contrast": " John"}`,
      "set.jsonl, line 1: the prompt is 41 tokens; the model's context is 32",
    ],
    ['', 'set.jsonl has no prompts'],
  ])('%s → %s', (text, message) => {
    expect(() => tokenisePromptSet(parsePromptLines(text, 'set.jsonl'), tok, 32, { source: 'set.jsonl' })).toThrow(message);
  });
});

describe('the model scenario', () => {
  it('reads the processed model at the SAE hook, B at each prompt’s last token, features by attribution', async () => {
    const sc = await loadScenario(spec(), async () => new Uint8Array());
    try {
      expect(sc.id).toBe('prompts');
      expect(sc.h.shape[0]).toBe(4);
      expect(sc.positions.default.map((r) => r[0])).toEqual(sc.samples.map((s) => (s.tokens?.length ?? 0) - 1));
      expect(sc.rank.length).toBeGreaterThan(0);
      expect(sc.defaults.features).toEqual(sc.rank.slice(0, 16));
      expect(sc.modelName).toBe('tiny-bpe (GPT-2, TransformerLens-processed weights)');
      // The residual is the processed model's, so centred over d_model at every real token.
      const { model } = loadGpt2(
        readFileSync(path.join(modelDir, 'config.json'), 'utf8'),
        new Uint8Array(readFileSync(path.join(modelDir, 'model.safetensors'))),
      );
      const processed = processWeights(model);
      const tok = new Gpt2BpeTokenizer();
      const ids = tok.encode(PROMPTS[0].prompt);
      const [want, got] = tf.tidy(() => [
        Array.from(processed.runToHook([ids], HOOK).dataSync()),
        Array.from(tf.slice(sc.h, [0, 0, 0], [1, ids.length, 4]).dataSync()),
      ]);
      expect(maxRelErr(got, want)).toBeLessThan(1e-5);
      // B from the scenario's behaviour equals logit[target] − logit[contrast] of the processed model.
      const [b, logits] = tf.tidy(() => [Array.from(sc.behaviour(sc.h).dataSync()), processed.forward([ids]).arraySync() as number[][][]]);
      const l = logits[0][ids.length - 1];
      expect(b[0]).toBeCloseTo(l[tok.tokenId(' Mary')!] - l[tok.tokenId(' John')!], 4);
      model.dispose();
      processed.dispose();
    } finally {
      sc.dispose();
    }
  });

  it('refuses an SAE for another width or hook, and disposes what it made', async () => {
    const before = tf.memory().numTensors;
    await expect(loadScenario(spec({ sae: { ...saeFolder(8, HOOK), name: 'wide' } }), async () => new Uint8Array())).rejects.toThrow(
      'wide reads d_in = 8 but tiny-bpe has d_model = 4',
    );
    await expect(
      loadScenario(spec({ sae: { ...saeFolder(4, 'blocks.5.hook_resid_pre'), name: 'deep' } }), async () => new Uint8Array()),
    ).rejects.toThrow('blocks.5.hook_resid_pre: the model has layers 0..1');
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('prompt sets that place δ and the read-out', () => {
  const noAssets = async () => new Uint8Array();

  it('the paper’s IOI prompts without the fields read exactly as before they existed (figures recorded then)', async () => {
    const want = JSON.parse(readFileSync(path.join(import.meta.dirname, '__fixtures__/paper-ioi-defaults.json'), 'utf8'));
    const text = readFileSync(path.join(root, 'public/data/paper-ioi.jsonl'), 'utf8');
    expect(text).not.toMatch(/delta_positions|readout_position/);
    const sc = await loadScenario(spec({ scenario: 'paper-ioi', prompts: { text, name: 'paper-ioi.jsonl' } }), noAssets);
    try {
      expect(sc.featureRule).toBe('positive attribution to B at the last prompt token');
      expect(sc.defaults.features).toEqual(want.features);
      const out = await runScenario(sc, { settings: { steps: 10 } });
      expect(out.result.aggregate.validFlips).toBe(want.validFlips);
      expect(out.result.aggregate.recovered).toBe(want.recovered);
      const samples = out.result.samples;
      // The forwards read exactly as recorded. What the optimiser reached moves with float32 rounding when the
      // backward pass is computed in another order (the written-out LayerNorm gradient did: B 1.3e-5 after 10 steps;
      // δ 5e-4 of its largest entry, since Adam's first steps divide by √v and so scale up the rounding of
      // near-zero gradient entries), so those get 1e-4 and 1e-3, still far below any change in what the prompts say.
      for (const k of ['base', 'defended'] as const)
        expect(
          maxRelErr(
            samples.map((s) => s[k]),
            want.b[k],
          ),
          k,
        ).toBeLessThan(1e-5);
      expect(
        maxRelErr(
          samples.map((s) => s.recovered),
          want.b.recovered,
        ),
        'recovered',
      ).toBeLessThan(1e-4);
      expect(
        maxRelErr(
          out.result.history.map((e) => e.objective as number),
          want.objective,
        ),
        'objective',
      ).toBeLessThan(1e-4);
      expect(maxRelErr(Array.from(out.delta), want.delta), 'delta').toBeLessThan(1e-3);
    } finally {
      sc.dispose();
    }
  }, 300_000);

  it('δ and B where each line places them: B read at the read-out position, the same as an independent forward', async () => {
    // Prompt 1 (14 tokens): δ at " John" (3) and "," (8), B read at " gave" (10); prompt 4 (4 tokens): δ at 1, B at its last.
    const rows = PROMPTS.map((p, i) =>
      i === 0 ? { ...p, delta_positions: [3, -6], readout_position: 10 } : i === 3 ? { ...p, delta_positions: [1, -1] } : p,
    );
    const placed = await loadScenario(spec({ prompts: { text: jsonl(rows), name: 'placed.jsonl' } }), noAssets);
    // The same set with the defaults written out reads as the set without them.
    const written = PROMPTS.map((p) => ({ ...p, delta_positions: [-1], readout_position: -1 }));
    const plain = await loadScenario(spec(), noAssets);
    const explicit = await loadScenario(spec({ prompts: { text: jsonl(written), name: 'set.jsonl' } }), noAssets);
    const tok = new Gpt2BpeTokenizer();
    try {
      const lengths = PROMPTS.map((p) => tok.encode(p.prompt).length);
      expect(lengths[0]).toBe(14);
      expect(placed.samples.map((s) => s.deltaPositions)).toEqual([[3, 8], [lengths[1] - 1], [lengths[2] - 1], [1, 3]]);
      // Rows of different lengths are padded with the unused slot; the last-token choice is still the last token.
      expect(placed.positions.default[1]).toEqual([lengths[1] - 1, -1]);
      expect(placed.positions.last.map((r) => r[0])).toEqual(lengths.map((l) => l - 1));
      expect(placed.lm?.readout?.at).toEqual([10, ...lengths.slice(1).map((l) => l - 1)]);
      expect(placed.featureRule).toBe("positive attribution to B at each prompt's δ positions");
      expect(explicit.positions).toEqual(plain.positions);
      expect(explicit.featureRule).toBe(plain.featureRule);
      expect(explicit.rank).toEqual(plain.rank);
      expect(Array.from(tf.tidy(() => explicit.behaviour(explicit.h)).dataSync())).toEqual(
        Array.from(tf.tidy(() => plain.behaviour(plain.h)).dataSync()),
      );
      // B of prompt 1 is the logit difference after " gave", not after the last token.
      const { model } = loadGpt2(
        readFileSync(path.join(modelDir, 'config.json'), 'utf8'),
        new Uint8Array(readFileSync(path.join(modelDir, 'model.safetensors'))),
      );
      const processed = processWeights(model);
      const ids = tok.encode(PROMPTS[0].prompt);
      const [b, logits] = tf.tidy(() => [
        Array.from(placed.behaviour(placed.h).dataSync()),
        processed.forward([ids]).arraySync() as number[][][],
      ]);
      const l = logits[0][10];
      expect(b[0]).toBeCloseTo(l[tok.tokenId(' Mary')!] - l[tok.tokenId(' John')!], 4);
      model.dispose();
      processed.dispose();
    } finally {
      placed.dispose();
      plain.dispose();
      explicit.dispose();
    }
  });

  it('a shared δ needs as many positions in every prompt: the run names the first two prompts that differ; δ per sample runs', async () => {
    const rows = PROMPTS.map((p, i) => (i === 2 ? { ...p, delta_positions: [4, -1] } : p));
    const sc = await loadScenario(spec({ prompts: { text: jsonl(rows), name: 'mixed.jsonl' } }), noAssets);
    try {
      await expect(runScenario(sc, { settings: { steps: 2 } })).rejects.toThrow(
        "mixed.jsonl: one shared δ needs the same number of δ positions in every prompt (its k-th slot goes to each prompt's k-th position), " +
          'but prompt 1 has 1 (position 13) and prompt 3 has 2 (positions 4, 13): give every prompt the same number of "delta_positions", or run δ per sample',
      );
      const out = await runScenario(sc, { settings: { steps: 2, delta: 'per-sample' } });
      expect(out.deltaShape).toEqual([4, 2, 4]);
      // Every real token or the last one line up whatever the set places: a shared δ runs there.
      const last = await runScenario(sc, { settings: { steps: 2, positions: 'last' } });
      expect(last.deltaShape).toEqual([1, 1, 4]);
    } finally {
      sc.dispose();
    }
  });
});

describe('the SAE check', () => {
  it('an SAE that reconstructs exactly explains all the variance and leaves the loss as it was; a random one is flagged', async () => {
    const { model: raw } = loadGpt2(
      readFileSync(path.join(modelDir, 'config.json'), 'utf8'),
      new Uint8Array(readFileSync(path.join(modelDir, 'model.safetensors'))),
    );
    const model = processWeights(raw);
    raw.dispose();
    const tok = new Gpt2BpeTokenizer();
    const rows = PROMPTS.map((p) => tok.encode(p.prompt));
    const T = Math.max(...rows.map((r) => r.length));
    const ids = rows.map((r) => [...r, ...Array(T - r.length).fill(50256)]);
    const lengths = rows.map((r) => r.length);
    const h = tf.tidy(() => model.runToHook(ids, HOOK));
    // z = [relu(h), relu(−h)], ĥ = relu(h) − relu(−h) = h.
    const d = 4;
    const W_enc = new Float32Array(d * 2 * d);
    const W_dec = new Float32Array(2 * d * d);
    for (let i = 0; i < d; i++) {
      W_enc[i * 2 * d + i] = 1;
      W_enc[i * 2 * d + d + i] = -1;
      W_dec[i * d + i] = 1;
      W_dec[(d + i) * d + i] = -1;
    }
    const cfg = {
      architecture: 'standard' as const,
      dIn: d,
      dSae: 2 * d,
      applyBDecToInput: false,
      normalizeActivations: 'none' as const,
      centerInput: false,
    };
    const exact = Sae.create(cfg, { W_enc, W_dec, b_enc: new Float32Array(2 * d), b_dec: new Float32Array(d) });
    const good = await checkSae(model, exact, HOOK, ids, lengths, h);
    expect(good.explainedVariance).toBeCloseTo(1, 5);
    expect(good.lossSpliced).toBeCloseTo(good.lossClean as number, 4);
    expect(good.lossClean).toBeGreaterThan(1); // a random model is far from certain about the next token
    expect(good.l0).toBeCloseTo(d, 0);
    expect(good.warnings).toEqual([]);
    const rand = mulberry32(9);
    const random = Sae.create(cfg, {
      W_enc: normals(rand, 2 * d * d),
      W_dec: normals(rand, 2 * d * d),
      b_enc: new Float32Array(2 * d),
      b_dec: new Float32Array(d),
    });
    const bad = await checkSae(model, random, HOOK, ids, lengths, h);
    expect(bad.explainedVariance).toBeLessThan(0.5);
    expect(bad.warnings[0]).toMatch(/^explained variance -?\d+\.\d{3} is below 0\.5: the SAE probably does not match these activations/);
    tf.dispose([h]);
    exact.dispose();
    random.dispose();
    model.dispose();
  });
});

describe('unclamp run --prompts', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'unclamp-prompts-'));
    const sae = saeFolder(4, HOOK);
    mkdirSync(path.join(dir, 'sae'));
    writeFileSync(path.join(dir, 'sae/cfg.json'), sae.cfgJson);
    writeFileSync(path.join(dir, 'sae/sae_weights.safetensors'), sae.weights);
    writeFileSync(path.join(dir, 'set.jsonl'), jsonl(PROMPTS));
    writeFileSync(path.join(dir, 'bad.jsonl'), jsonl([{ prompt: 'x', target: ' Mary Ann', contrast: ' John' }]));
    writeFileSync(path.join(dir, 'mixed.jsonl'), jsonl(PROMPTS.map((p, i) => (i === 1 ? { ...p, delta_positions: [2, -1] } : p))));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const unclamp = (args: string[]) => {
    const r = spawnSync(process.execPath, [path.join(root, 'bin/unclamp.js'), ...args], { encoding: 'utf8', cwd: root, timeout: 180_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('runs the scenario end to end and records where everything came from', () => {
    const json = path.join(dir, 'out.json');
    const args = ['run', '--model', modelDir, '--sae', path.join(dir, 'sae'), '--prompts', path.join(dir, 'set.jsonl')];
    const r = unclamp([...args, '--steps', '3', '--quiet', '--json', json, '--processing', 'none']);
    // A random SAE on a random model: the check says it does not fit (and the run goes on).
    expect(r.stderr).toMatch(/^unclamp: warning: explained variance -?\d+\.\d{3} is below 0\.5/);
    expect(r.stdout).toMatch(
      /^SAE check on the prompts: L0 [\d.]+, explained variance -?[\d.]+, next-token loss [\d.]+ → [\d.]+ with the SAE spliced in$/m,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^prompts: mode encoder, adam, δ shared at default positions, 3 steps/m);
    const out = JSON.parse(readFileSync(json, 'utf8'));
    expect(out.config).toMatchObject({
      scenario: 'prompts',
      model: `${modelDir} (GPT-2, unprocessed weights)`,
      hook: HOOK,
      params: { processing: 'none' },
    });
    expect(out.samples).toHaveLength(4);
  });

  it('says what is wrong with a prompt set, and that --prompts and a built-in scenario do not mix', () => {
    const bad = unclamp(['run', '--model', modelDir, '--sae', path.join(dir, 'sae'), '--prompts', path.join(dir, 'bad.jsonl')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('bad.jsonl, line 1: target " Mary Ann" is 2 tokens');
    // One shared δ (the default) over prompts with different numbers of δ positions: an input error, before any step.
    const mixed = path.join(dir, 'mixed.jsonl');
    const shared = unclamp(['run', '--model', modelDir, '--sae', path.join(dir, 'sae'), '--prompts', mixed, '--steps', '1', '--quiet']);
    expect(shared.code).toBe(2);
    expect(shared.stderr).toContain(`unclamp: ${mixed}: one shared δ needs the same number of δ positions in every prompt`);
    expect(shared.stderr).toContain('but prompt 1 has 1 (position 13) and prompt 2 has 2 (positions 2, 14)');
    const both = unclamp(['run', '--scenario', 'ioi', '--prompts', path.join(dir, 'set.jsonl')]);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe('unclamp: --prompts runs your own prompts: leave out --scenario ioi\n');
    const none = unclamp(['run']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(
      /^unclamp: give --scenario \(ioi, refusal, tpp, unlearning, probe-example, paper-ioi\) or your own --prompts/,
    );
  });
});
