// Defended-feature selection rules of the paper's settings, on SAE activations (docs/method.md §6):
//  - TPP (SAEBench): class effect clamp₊(mean_pos(f) − mean_neg(f)) · (w_probe · W_dec[f]), means over each
//    input's real tokens, then over inputs;
//  - unlearning (SAEBench): drop features whose retain-set firing frequency ≥ threshold, then rank by
//    forget-set frequency.

/** SAEBench's TPP class effect for one probe: [d_sae]. */
export function classEffect(
  meanPos: Float32Array,
  meanNeg: Float32Array,
  sae: { W_dec: Float32Array; dSae: number; dIn: number },
  probeW: Float32Array,
): Float32Array {
  const out = new Float32Array(sae.dSae);
  for (let f = 0; f < sae.dSae; f++) {
    const diff = Math.max(0, meanPos[f] - meanNeg[f]);
    if (diff === 0) continue;
    let dot = 0;
    for (let j = 0; j < sae.dIn; j++) dot += probeW[j] * sae.W_dec[f * sae.dIn + j];
    out[f] = diff * dot;
  }
  return out;
}

/**
 * SAEBench unlearning selection as a score: a feature's forget-set firing frequency, or 0 when it fires on
 * the retain set at the threshold or more (rank it with rankPositive).
 */
export function forgetScore(forgetFreq: Float32Array, retainFreq: Float32Array, retainThreshold: number): Float32Array {
  return forgetFreq.map((f, i) => (retainFreq[i] < retainThreshold ? f : 0));
}

/** TPP for class i: its accuracy drop minus the mean drop of the other classes' probes. */
export function tppScore(drops: number[], i: number): number {
  const others = drops.filter((_, j) => j !== i);
  return drops[i] - (others.length ? others.reduce((a, b) => a + b, 0) / others.length : 0);
}
