/**
 * A problem with a model folder, config, weights, token ids, tokenizer file or hook name that the user supplied.
 * The name ends in "InputError" so the CLI reports it on one line with exit status 2. Kept apart from gpt2.ts so
 * that tokenizers do not pull in TensorFlow.js.
 */
export class ModelInputError extends Error {
  override name = 'ModelInputError';
}
