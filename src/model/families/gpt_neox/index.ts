// GPT-NeoX (model_type "gpt_neox": EleutherAI's Pythia suite), computed as Hugging Face's GPTNeoXForCausalLM.
import type { ModelFamily } from '../../family.ts';
import { gptNeoxFamilyConfig } from './config.ts';
import { gptNeoxWeights } from './load.ts';
import { GptNeox, type GptNeoxConfig } from './model.ts';
import { processWeights } from './process.ts';

export { randomGptNeox } from './load.ts';
export { GptNeox, type GptNeoxConfig } from './model.ts';

export const gptNeoxFamily: ModelFamily<GptNeoxConfig> = {
  ...gptNeoxFamilyConfig,
  load(config, checkpoint, processing) {
    const model = new GptNeox(config, gptNeoxWeights(checkpoint, config));
    if (processing === 'none') return model;
    const processed = processWeights(model);
    model.dispose();
    return processed;
  },
};
