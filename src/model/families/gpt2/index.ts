// GPT-2 (model_type "gpt2"): the first family, and the architecture of the built-in model.
import type { ModelFamily } from '../../family.ts';
import { gpt2FamilyConfig } from './config.ts';
import { gpt2Weights } from './load.ts';
import { GPT2, type GPT2Config } from './model.ts';
import { processWeights } from './process.ts';

export const gpt2Family: ModelFamily<GPT2Config> = {
  ...gpt2FamilyConfig,
  load(config, checkpoint, processing) {
    const model = new GPT2(config, gpt2Weights(checkpoint, config));
    if (processing === 'none') return model;
    const processed = processWeights(model);
    model.dispose();
    return processed;
  },
};
