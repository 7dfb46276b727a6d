import { describe, expect, it } from 'vitest';
import { tf } from '../core/tf.ts';
import { loadSaeLens, parseSaeLensCfg, writeSaeLensFolder } from './saelens.ts';
import { makeSyntheticProbeWorld } from '../scenarios/synthetic-probe.ts';
import { writeSafetensors } from './safetensors.ts';

describe('SAELens cfg.json', () => {
  it('reads a v6 cfg', () => {
    const { config } = parseSaeLensCfg(
      JSON.stringify({
        architecture: 'jumprelu',
        d_in: 2304,
        d_sae: 16384,
        apply_b_dec_to_input: false,
        normalize_activations: 'none',
        metadata: { model_name: 'gemma-2-2b', hook_name: 'blocks.3.hook_resid_post' },
      }),
    );
    expect(config).toMatchObject({
      architecture: 'jumprelu',
      dIn: 2304,
      dSae: 16384,
      applyBDecToInput: false,
      hookName: 'blocks.3.hook_resid_post',
      modelName: 'gemma-2-2b',
      centerInput: false,
    });
  });

  it('reads a pre-6.0 cfg (gpt2-small-res-jb style) and its TopK variant', () => {
    const legacy = {
      d_in: 768,
      d_sae: 24576,
      hook_point: 'blocks.4.hook_resid_pre',
      model_name: 'gpt2-small',
      activation_fn_str: 'relu',
      normalize_activations: false,
    };
    expect(parseSaeLensCfg(JSON.stringify(legacy)).config).toMatchObject({
      architecture: 'standard',
      applyBDecToInput: true,
      hookName: 'blocks.4.hook_resid_pre',
      normalizeActivations: 'none',
    });
    const topk = { ...legacy, activation_fn_str: 'topk', activation_fn_kwargs: { k: 32 } };
    expect(parseSaeLensCfg(JSON.stringify(topk)).config).toMatchObject({ architecture: 'topk', k: 32 });
  });

  it('folds expected_average_only_in and centres when the model was centred', () => {
    const cfg = {
      architecture: 'standard',
      d_in: 8,
      d_sae: 16,
      normalize_activations: 'expected_average_only_in',
      norm_scaling_factor: 2.5,
      metadata: { model_from_pretrained_kwargs: { center_writing_weights: true } },
    };
    const { config, notes } = parseSaeLensCfg(JSON.stringify(cfg));
    expect(config.normalizeActivations).toBe('none');
    expect(config.foldedNormScalingFactor).toBe(2.5);
    expect(config.centerInput).toBe(true);
    expect(notes.join(' ')).toMatch(/folded/);
    expect(parseSaeLensCfg(JSON.stringify(cfg), { centerInput: false }).config.centerInput).toBe(false);
  });

  it.each([
    [{ d_in: 8, d_sae: 16, architecture: 'gated' }, /architecture "gated" is not supported/],
    [{ d_in: 8, d_sae: 16, architecture: 'topk' }, /TopK SAE needs k/],
    [{ d_in: 8, d_sae: 16, normalize_activations: 'expected_average_only_in' }, /no scaling factor/],
    [{ d_in: 8, d_sae: 16, normalize_activations: 'layer_norm' }, /"layer_norm" is not supported/],
    [{ d_in: 8, d_sae: 16, rescale_acts_by_decoder_norm: true }, /rescale_acts_by_decoder_norm/],
    [{ d_in: -3, d_sae: 16 }, /d_in/],
    [{ d_sae: 16 }, /d_in/],
  ])('rejects %o', (cfg, message) => {
    expect(() => parseSaeLensCfg(JSON.stringify(cfg))).toThrow(message);
  });
});

describe('SAE folders', () => {
  it('round-trips through the writer and reader with the same forward', () => {
    const world = makeSyntheticProbeWorld({ architecture: 'topk', k: 5 });
    const files = writeSaeLensFolder(world.config, world.arrays, new Float32Array(world.config.dSae).fill(-2));
    const loaded = loadSaeLens(files);
    expect(loaded.config).toMatchObject({ architecture: 'topk', k: 5, dIn: world.config.dIn, dSae: world.config.dSae });
    expect(loaded.logDensity![0]).toBe(-2);
    expect(Array.from(loaded.sae.W_dec.dataSync())).toEqual(Array.from(world.arrays.W_dec));
    loaded.sae.dispose();
  });

  it('folds the norm scaling factor so raw activations give the same reconstruction', () => {
    const world = makeSyntheticProbeWorld({ d: 8, m: 16 });
    const s = 3;
    const files = writeSaeLensFolder({ ...world.config }, world.arrays);
    const scaledCfg = JSON.stringify({
      ...JSON.parse(files.cfgJson),
      normalize_activations: 'expected_average_only_in',
      norm_scaling_factor: s,
    });
    const plain = loadSaeLens(files).sae;
    const folded = loadSaeLens({ ...files, cfgJson: scaledCfg }).sae;
    tf.tidy(() => {
      const h = tf.randomNormal([4, 8], 0, 1, 'float32', 1);
      // folded(h) must equal plain(s·h)/s: the SAE was trained on s-scaled inputs.
      const a = folded.reconstruct(h).dataSync();
      const b = tf.div(plain.reconstruct(tf.mul(h, s)), s).dataSync();
      for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 4);
    });
    plain.dispose();
    folded.dispose();
  });

  it('names the weight whose shape disagrees with cfg.json', () => {
    const world = makeSyntheticProbeWorld({ d: 8, m: 16 });
    const files = writeSaeLensFolder(world.config, world.arrays);
    const weights = writeSafetensors({
      W_enc: { shape: [8, 15], data: new Float32Array(120) },
      b_enc: { shape: [16], data: new Float32Array(16) },
      W_dec: { shape: [16, 8], data: new Float32Array(128) },
      b_dec: { shape: [8], data: new Float32Array(8) },
    });
    expect(() => loadSaeLens({ ...files, weights }, { source: 'my-sae' })).toThrow(
      /my-sae\/sae_weights\.safetensors: W_enc has shape \[8, 15\], expected \[8, 16\]/,
    );
    const noDec = writeSafetensors({ W_enc: { shape: [8, 16], data: new Float32Array(128) } });
    expect(() => loadSaeLens({ ...files, weights: noDec })).toThrow(/missing tensor "b_enc"/);
  });
});
