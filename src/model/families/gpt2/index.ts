// GPT-2 (model_type "gpt2"): the first family, and the architecture of the built-in model.
import type { ModelFamily } from '../../family.ts';
import { gpt2Tokenizer } from '../../tokenizers/index.ts';
import { gpt2Config, gpt2Weights, type HfGpt2Config } from './load.ts';
import { GPT2, type GPT2Config } from './model.ts';
import { processWeights } from './process.ts';

export const gpt2Family: ModelFamily<GPT2Config> = {
  modelType: 'gpt2',
  title: 'GPT-2',
  processingNote:
    'fold each LayerNorm into the weights that read it, centre the residual writers (every residual hook loses its mean over d_model) and the unembedding (logits lose their mean over the vocabulary), fold the value biases',
  parseConfig: (raw, source) => gpt2Config(raw as HfGpt2Config, source),
  load(config, checkpoint, processing) {
    const model = new GPT2(config, gpt2Weights(checkpoint, config));
    if (processing === 'none') return model;
    const processed = processWeights(model);
    model.dispose();
    return processed;
  },
  tokenizer: (files, _config, raw) => gpt2Tokenizer(files.tokenizerJson, raw),
};
