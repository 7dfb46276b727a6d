// Gemma-2 (model_type "gemma2": gemma-2-2b, -9b, -27b and their -it versions), computed as Hugging Face's
// Gemma2ForCausalLM, with TransformerLens's hook names.
import type { ModelFamily } from '../../family.ts';
import { gemma2FamilyConfig } from './config.ts';
import { gemma2Block, gemma2Weights } from './load.ts';
import { Gemma2, type Gemma2Config } from './model.ts';
import { processBlock } from './process.ts';
import { supports16 } from '../../weights16.ts';

export { gemma2Config, gemma2ConfigJson } from './config.ts';
export { randomGemma2 } from './load.ts';
export { Gemma2, type Gemma2Config } from './model.ts';

export const gemma2Family: ModelFamily<Gemma2Config> = {
  ...gemma2FamilyConfig,
  // Weights read tensor by tensor, kept as the LoadPlan says: gemma-2-2b is 5.2 GB as released.
  lazy: true,
  async load(config, checkpoint, processing, plan = {}) {
    const keep = {
      weights16: Boolean(plan.weights16) && supports16(),
      firstLayer: Math.max(0, Math.min(plan.firstLayer ?? 0, config.nLayer)),
      tokens: plan.tokens ? [...new Set(plan.tokens)].sort((a, b) => a - b) : null,
    };
    const weights = await gemma2Weights(checkpoint, config, keep);
    // Each block processed as it is read: the unprocessed matrices are freed at once.
    const processed = (b: Parameters<typeof processBlock>[0]) => (processing === 'none' ? b : processBlock(b));
    const model = new Gemma2(config, { ...weights, blocks: weights.blocks.map((b) => (b ? processed(b) : null)) });
    model.loadBlock = async (i) => processed(await gemma2Block(checkpoint, config, i, keep.weights16));
    return model;
  },
};
