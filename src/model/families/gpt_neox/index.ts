// GPT-NeoX (model_type "gpt_neox": EleutherAI's Pythia suite), computed as Hugging Face's GPTNeoXForCausalLM.
import type { ModelFamily } from '../../family.ts';
import { ModelInputError } from '../../errors.ts';
import { HfTokenizer } from '../../tokenizers/hf.ts';
import { gptNeoxConfig, gptNeoxWeights } from './load.ts';
import { GptNeox, type GptNeoxConfig } from './model.ts';
import { processWeights } from './process.ts';

export { randomGptNeox } from './load.ts';
export { GptNeox, type GptNeoxConfig } from './model.ts';

export const gptNeoxFamily: ModelFamily<GptNeoxConfig> = {
  modelType: 'gpt_neox',
  title: 'GPT-NeoX (Pythia)',
  processingNote:
    'fold each LayerNorm (with a parallel residual, both read the block input) into the weights that read it, centre the residual writers (every residual hook loses its mean over d_model) and the unembedding (logits lose their mean over the vocabulary), fold the value biases',
  parseConfig: (raw, source) => gptNeoxConfig(raw, source),
  load(config, checkpoint, processing) {
    const model = new GptNeox(config, gptNeoxWeights(checkpoint, config));
    if (processing === 'none') return model;
    const processed = processWeights(model);
    model.dispose();
    return processed;
  },
  tokenizer(files, config, _raw, source) {
    if (files.tokenizerJson === undefined)
      throw new ModelInputError(`${source}: no tokenizer.json (a GPT-NeoX model folder needs Hugging Face's tokenizer.json)`);
    // config.json's vocab_size (50304 for Pythia) is padded past the tokenizer's 50277 tokens: allowed.
    return new HfTokenizer(files.tokenizerJson, files.tokenizerConfigJson, config.vocabSize, `${source}/tokenizer.json`);
  },
};
