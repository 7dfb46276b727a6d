// A small, seeded "bring your own activations" world for tests, benchmarks and the first page: an SAE whose
// decoder rows are the true features, activations that are sparse sums of them plus a part the SAE cannot
// explain, and a probe that reads a few "concept" features. Clamping the concept features flips the probe;
// the unexplained part is what a recovery can flow through.
import type { SaeArrays, SaeConfig } from '../core/sae.ts';
import { mulberry32, normals } from '../core/rng.ts';
import type { Activations, LinearProbe } from './probe.ts';

export interface SyntheticProbeOptions {
  seed?: number;
  n?: number;
  t?: number;
  d?: number;
  m?: number;
  architecture?: SaeConfig['architecture'];
  k?: number;
  concepts?: number;
  /** Norm of the per-token component outside the feature dictionary, relative to a feature. */
  noise?: number;
}

export interface SyntheticProbeWorld {
  config: SaeConfig;
  arrays: SaeArrays;
  acts: Activations;
  probe: LinearProbe;
  conceptFeatures: number[];
}

export function makeSyntheticProbeWorld(opts: SyntheticProbeOptions = {}): SyntheticProbeWorld {
  const { seed = 0, n = 32, t = 1, d = 24, m = 96, architecture = 'standard', k = 8, concepts = 4, noise = 0.35 } = opts;
  const rand = mulberry32(seed);
  const W_dec = normals(rand, m * d);
  for (let f = 0; f < m; f++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += W_dec[f * d + j] ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) W_dec[f * d + j] *= inv;
  }
  const W_enc = new Float32Array(d * m);
  const encNoise = normals(rand, d * m);
  for (let j = 0; j < d; j++) for (let f = 0; f < m; f++) W_enc[j * m + f] = W_dec[f * d + j] + 0.05 * encNoise[j * m + f];
  const b_enc = new Float32Array(m).fill(-0.15);
  const b_dec = normals(rand, d).map((v) => 0.05 * v);
  const threshold = new Float32Array(m).map(() => 0.05 + 0.1 * rand());
  const conceptFeatures = Array.from({ length: concepts }, (_, i) => i * 3 + 1);

  const h = new Float32Array(n * t * d);
  for (let i = 0; i < n; i++) {
    const hasConcept = rand() < 0.75;
    for (let tok = 0; tok < t; tok++) {
      const row = h.subarray((i * t + tok) * d, (i * t + tok + 1) * d);
      row.set(b_dec);
      const active = new Set<number>();
      while (active.size < 4) active.add(concepts * 3 + Math.floor(rand() * (m - concepts * 3)));
      if (hasConcept) for (const c of conceptFeatures) if (rand() < 0.8) active.add(c);
      for (const f of active) {
        const coef = 0.6 + 1.4 * rand();
        for (let j = 0; j < d; j++) row[j] += coef * W_dec[f * d + j];
      }
      const e = normals(rand, d);
      for (let j = 0; j < d; j++) row[j] += (noise / Math.sqrt(d)) * e[j];
    }
  }
  const w = new Float32Array(d);
  for (const c of conceptFeatures) for (let j = 0; j < d; j++) w[j] += W_dec[c * d + j];
  const probe: LinearProbe = { d, classes: 1, w, b: new Float32Array([-0.9]) };
  const config: SaeConfig = {
    architecture,
    dIn: d,
    dSae: m,
    applyBDecToInput: true,
    normalizeActivations: 'none',
    centerInput: false,
    k: architecture === 'topk' ? k : undefined,
    hookName: 'synthetic.hook_resid',
    modelName: 'synthetic-probe-world',
  };
  return {
    config,
    arrays: { W_enc, b_enc, W_dec, b_dec, threshold: architecture === 'jumprelu' ? threshold : undefined },
    acts: { h, n, t, d, mask: new Float32Array(n * t).fill(1) },
    probe,
    conceptFeatures,
  };
}
