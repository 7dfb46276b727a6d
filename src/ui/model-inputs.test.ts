// The page's real-model inputs without a browser: Hub references from the panel's sources, the WebGPU buffer check,
// and a load that would need a download the user has not asked for.
import { afterEach, describe, expect, it } from 'vitest';
import { PAPER_IOI } from '../scenarios/catalog.ts';
import { parseHubRef } from '../io/hub.ts';
import { checkFitsGpu, DEFAULT_SOURCES, modelHubRef, modelScenarioRequest, saeHubRef, useModelInputs } from './model-inputs.ts';
import { useStore } from './store.ts';

const gpt2Config = JSON.stringify({ vocab_size: 50257, n_embd: 768, n_layer: 12 });

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

  it("refuse, naming the limit, a model whose token embedding exceeds the WebGPU device's buffer limit", () => {
    checkFitsGpu(gpt2Config, 'hf:openai-community/gpt2'); // no backend yet: nothing to check
    useStore.getState().set({ backend: { name: 'webgpu', reasons: [], maxBufferBytes: 2 ** 30 } });
    checkFitsGpu(gpt2Config, 'hf:openai-community/gpt2'); // 154 MB < 1 GiB
    useStore.getState().set({ backend: { name: 'webgpu', reasons: [], maxBufferBytes: 128 * 2 ** 20 } });
    expect(() => checkFitsGpu(gpt2Config, 'hf:openai-community/gpt2')).toThrow(
      'hf:openai-community/gpt2: its token embedding (50257 × 768 floats, 154 MB) is larger than the largest buffer this GPU allows WebGPU to bind (maxStorageBufferBindingSize / maxBufferSize: 128 MiB)',
    );
    useStore.getState().set({ backend: { name: 'webgl', reasons: [] } });
    checkFitsGpu(gpt2Config, 'hf:openai-community/gpt2');
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
