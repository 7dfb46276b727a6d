// Gemma-2 (model_type "gemma2": gemma-2-2b, -9b, -27b and their -it versions), computed as Hugging Face's
// Gemma2ForCausalLM, with TransformerLens's hook names.
import { ModelInputError } from '../../errors.ts';
import type { ModelFamily } from '../../family.ts';
import { HfTokenizer } from '../../tokenizers/hf.ts';
import { gemma2Config, gemma2Weights } from './load.ts';
import { Gemma2, type Gemma2Config } from './model.ts';
import { processWeights } from './process.ts';

export { gemma2ConfigJson, randomGemma2 } from './load.ts';
export { Gemma2, type Gemma2Config } from './model.ts';

export const gemma2Family: ModelFamily<Gemma2Config> = {
  modelType: 'gemma2',
  title: 'Gemma-2',
  processingNote:
    "fold each pre-norm's scale (1 + w) into the weights that read it (input_layernorm into W_Q/W_K/W_V, pre_feedforward_layernorm into W_gate/W_up), so ln1/ln2.hook_normalized become the bare normalisation; no centring (RMSNorm does not remove the mean); the final norm keeps its scale (folding it into the tied embedding would copy the largest tensor for the same logits); residuals, attention and logits are unchanged",
  parseConfig: (raw, source) => gemma2Config(raw, source),
  load(config, checkpoint, processing) {
    const model = new Gemma2(config, gemma2Weights(checkpoint, config));
    if (processing === 'none') return model;
    // The processed model shares the weights processing leaves unchanged (the embedding among them): disposing the
    // original frees only those it replaced.
    const processed = processWeights(model);
    model.dispose();
    return processed;
  },
  tokenizer(files, config, _raw, source) {
    if (files.tokenizerJson === undefined)
      throw new ModelInputError(`${source}: no tokenizer.json (a Gemma-2 model folder needs Hugging Face's tokenizer.json)`);
    return new HfTokenizer(files.tokenizerJson, files.tokenizerConfigJson, config.vocabSize, `${source}/tokenizer.json`);
  },
};
