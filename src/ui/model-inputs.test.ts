// The page's real-model inputs without a browser: Hub references from the panel's sources, the WebGPU buffer check,
// and a load that would need a download the user has not asked for.
import { afterEach, describe, expect, it } from 'vitest';
import { PAPER_IOI } from '../scenarios/catalog.ts';
import { parseHubRef } from '../io/hub.ts';
import { checkRunFits, DEFAULT_SOURCES, modelHubRef, modelScenarioRequest, saeHubRef, useModelInputs } from './model-inputs.ts';
import { useStore } from './store.ts';

const gpt2Config = JSON.stringify({ model_type: 'gpt2', vocab_size: 50257, n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024 });
/** GPT-2 small, the paper's SAE (its cfg.json's figures) and one IOI prompt: the paper-ioi run's shape. */
const paperRun = {
  model: { name: 'hf:openai-community/gpt2', configJson: gpt2Config },
  sae: { cfgJson: JSON.stringify({ d_in: 768, d_sae: 24576, hook_point: 'blocks.4.hook_resid_pre' }) },
  prompts: {
    text: `${JSON.stringify({ prompt: 'When Mary and John went to the store, John gave a drink to', target: ' Mary', contrast: ' John' })}\n`,
    name: 'p',
  },
};

afterEach(() => useStore.getState().set({ backend: null }));

describe('model inputs', () => {
  it("name the paper's files by default, and read typed references", () => {
    expect(modelHubRef(DEFAULT_SOURCES['paper-ioi'].model)).toEqual(parseHubRef(PAPER_IOI.model));
    expect(saeHubRef(DEFAULT_SOURCES['paper-ioi'].sae)).toEqual(parseHubRef(PAPER_IOI.sae));
    expect(modelHubRef({ kind: 'hub', repo: ' openai-community/gpt2 ', revision: 'v1' })).toEqual({
      repo: 'openai-community/gpt2',
      revision: 'v1',
      path: '',
    });
    expect(saeHubRef({ kind: 'hub', ref: 'owner/saes@dev/blocks.2.hook_resid_pre' })).toEqual({
      repo: 'owner/saes',
      revision: 'dev',
      path: 'blocks.2.hook_resid_pre',
    });
    expect(saeHubRef({ kind: 'local' })).toBeNull();
    expect(() => saeHubRef({ kind: 'release', release: 'nope', layer: 1 })).toThrow('unknown SAE release "nope"');
  });

  it('refuse, before the download and naming the figure and the limit, a run whose largest tensor exceeds the WebGPU buffer limit', async () => {
    expect(await checkRunFits(paperRun)).toEqual([]); // no backend yet: nothing to check
    useStore.getState().set({ backend: { name: 'webgpu', reasons: [], maxBufferBytes: 2 ** 30 } });
    expect(await checkRunFits(paperRun)).toEqual([]); // 154 MB < 1 GiB
    useStore.getState().set({ backend: { name: 'webgpu', reasons: [], maxBufferBytes: 128 * 2 ** 20 } });
    await expect(checkRunFits(paperRun)).rejects.toThrow(
      'this run needs one GPU buffer of 154 MB for the unembedding (768 × 50,257 floats); WebGPU here allows at most 134 MB (128 MiB) in one buffer (maxStorageBufferBindingSize)',
    );
    useStore.getState().set({ backend: { name: 'webgl', reasons: [] } });
    expect(await checkRunFits(paperRun)).toEqual([]);
  });

  it('do not download unasked: a load without the button says which files it would fetch', async () => {
    expect(await modelScenarioRequest('paper-ioi')).toBeNull();
    expect(useModelInputs.getState().waiting).toBe(
      '4 files to download: openai-community/gpt2/config.json, openai-community/gpt2/model.safetensors, jbloom/GPT2-Small-SAEs-Reformatted/blocks.4.hook_resid_pre/cfg.json, jbloom/GPT2-Small-SAEs-Reformatted/blocks.4.hook_resid_pre/sae_weights.safetensors',
    );
    useModelInputs.getState().setSources('prompts', { model: { kind: 'local' } });
    expect(await modelScenarioRequest('prompts')).toBeNull();
    expect(useModelInputs.getState().waiting).toBe(
      'the model: choose a folder or files with config.json and model.safetensors (missing config.json, model.safetensors)',
    );
    useModelInputs.getState().set({ armed: true });
    await expect(modelScenarioRequest('prompts')).rejects.toThrow('the model: choose a folder or files');
  });
});
