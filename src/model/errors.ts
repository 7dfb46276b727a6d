// A problem with a model folder, config, weights, token ids, tokenizer file or hook name that the user
// supplied. Kept apart from gpt2.ts so that tokenizers do not pull in TensorFlow.js.
import { InputError } from '../core/errors.ts';

export class ModelInputError extends InputError {
  override name = 'ModelInputError';
}
