// `unclamp inspect` against numbers computed independently: the tiny-bpe checkpoint's logits and residuals from the
// float64 PyTorch forward (bench/reference/gpt2_ref.py, committed), and the SAE's features computed here in plain
// arithmetic from that reference residual.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mulberry32, normals } from '../core/rng.ts';
import { parseSafetensors } from '../io/safetensors.ts';
import { writeSaeLensFolder } from '../io/saelens.ts';
import type { InspectReport } from './inspect.ts';

const root = path.resolve(import.meta.dirname, '../..');
const modelDir = path.join(root, 'src/model/__fixtures__/tiny-bpe');
const ids = (JSON.parse(readFileSync(path.join(modelDir, 'ids.json'), 'utf8')) as number[][])[0];
const ref = parseSafetensors(new Uint8Array(readFileSync(path.join(modelDir, 'reference_logits.safetensors'))));
const d = 4;
const dSae = 12;
const rand = mulberry32(5);
const arrays = {
  W_enc: normals(rand, d * dSae),
  b_enc: new Float32Array(dSae).fill(0.05),
  W_dec: normals(rand, dSae * d),
  b_dec: normals(rand, d),
};

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'unclamp-inspect-'));
  const sae = writeSaeLensFolder(
    {
      architecture: 'standard',
      dIn: d,
      dSae,
      applyBDecToInput: true,
      normalizeActivations: 'none',
      centerInput: false,
      hookName: 'blocks.1.hook_resid_pre',
    },
    arrays,
  );
  mkdirSync(path.join(dir, 'sae'));
  writeFileSync(path.join(dir, 'sae/cfg.json'), sae.cfgJson);
  writeFileSync(path.join(dir, 'sae/sae_weights.safetensors'), sae.weights);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function inspect(extra: string[]): { code: number | null; stderr: string; report: InspectReport } {
  const json = path.join(dir, 'out.json');
  const args = ['inspect', '--model', modelDir, '--sae', path.join(dir, 'sae'), '--ids', ids.join(','), '--json', json, ...extra];
  const r = spawnSync(process.execPath, [path.join(root, 'bin/unclamp.js'), ...args], { encoding: 'utf8', cwd: root, timeout: 120_000 });
  return { code: r.status, stderr: r.stderr, report: r.status === 0 ? JSON.parse(readFileSync(json, 'utf8')) : (null as never) };
}

describe('unclamp inspect', () => {
  const T = ids.length;
  const V = 50257;
  const logits = ref.tensors.get('logits.0')!.data.subarray((T - 1) * V, T * V);
  const resid = ref.tensors.get('resid.0')!.data; // [L + 1, T, d]: layer 1's hook_resid_pre is block 1
  const hAt = (p: number) => Array.from(resid.subarray((1 * T + p) * d, (1 * T + p + 1) * d));

  it('unprocessed weights: the top next tokens and their logits, the hook norms and the features, as the reference has them', () => {
    const { code, stderr, report } = inspect(['--processing', 'none', '--top-k', '5', '--features', '12']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(report.tokens.map((t) => t.id)).toEqual(ids);
    const want = Array.from(logits.keys())
      .sort((a, b) => logits[b] - logits[a])
      .slice(0, 5);
    expect(report.nextTokens.map((t) => t.id)).toEqual(want);
    for (const t of report.nextTokens) expect(t.logit).toBeCloseTo(logits[t.id], 4);
    expect(report.nextTokens[0].prob).toBeGreaterThan(report.nextTokens[1].prob);
    for (const p of report.positions) {
      const h = hAt(p.index);
      expect(p.hookNorm).toBeCloseTo(Math.hypot(...h), 4);
      // z = relu((h − b_dec)·W_enc + b_enc), by hand.
      const z = Array.from({ length: dSae }, (_, f) => {
        let pre = arrays.b_enc[f];
        for (let j = 0; j < d; j++) pre += (h[j] - arrays.b_dec[j]) * arrays.W_enc[j * dSae + f];
        return Math.max(pre, 0);
      });
      const active = z.map((v, f) => [f, v] as const).filter(([, v]) => v > 0);
      expect(p.activeFeatures).toBe(active.length);
      for (const f of p.features) expect(f.value).toBeCloseTo(z[f.index], 4);
    }
  });

  it('processed weights: the same next tokens; the hook is the reference residual without its mean', () => {
    const { code, report } = inspect(['--top-k', '5']);
    expect(code).toBe(0);
    const want = Array.from(logits.keys())
      .sort((a, b) => logits[b] - logits[a])
      .slice(0, 5);
    expect(report.nextTokens.map((t) => t.id)).toEqual(want);
    expect(report.processing).toBe('transformer-lens');
    for (const p of report.positions) {
      const h = hAt(p.index);
      const mean = h.reduce((a, v) => a + v, 0) / d;
      expect(p.hookNorm).toBeCloseTo(Math.hypot(...h.map((v) => v - mean)), 4);
    }
  });

  it('asks for exactly one of --prompt and --ids', () => {
    const r = spawnSync(
      process.execPath,
      [path.join(root, 'bin/unclamp.js'), 'inspect', '--model', modelDir, '--sae', path.join(dir, 'sae')],
      {
        encoding: 'utf8',
        cwd: root,
      },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('unclamp: give --prompt TEXT or --ids LIST (one of them)\n');
  });
});
