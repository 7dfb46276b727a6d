// A small random SAELens folder (standard ReLU, d_sae 16, seeded) for the tiny-bpe checkpoint beside it, for the
// tests that load a real-model scenario (src/scenarios/model.test.ts, src/engine/next-tokens.test.ts).
import { mulberry32, normals } from '../../core/rng.ts';
import { writeSaeLensFolder } from '../../io/saelens.ts';

export function tinyBpeSae(dIn: number, hook: string) {
  const rand = mulberry32(3);
  const dSae = 16;
  return writeSaeLensFolder(
    {
      architecture: 'standard',
      dIn,
      dSae,
      applyBDecToInput: true,
      normalizeActivations: 'none',
      centerInput: false,
      hookName: hook,
      modelName: 'tiny-bpe',
    },
    {
      W_enc: normals(rand, dIn * dSae),
      b_enc: new Float32Array(dSae).fill(0.1),
      W_dec: normals(rand, dSae * dIn),
      b_dec: new Float32Array(dIn),
    },
  );
}
