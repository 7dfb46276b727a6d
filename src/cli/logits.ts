// `unclamp logits`: the model's full logits for a prompt, for cross-checking against other implementations.
import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { tf } from '../core/tf.ts';
import { type BackendFlags, backendOption, startBackend, threadsOption } from './backend.ts';
import { loadModel } from '../model/registry.ts';
import { WordTokenizer } from '../model/tokenizers/index.ts';
import { InputError } from '../core/errors.ts';
import { readModelDir, writeOutput } from './fs.ts';

/** A model folder of any registered family, with its weights as stored (the logits are the checkpoint's own). */
export async function loadModelDir(dir: string) {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InputError(`model directory ${dir} does not exist`);
  return loadModel(await readModelDir(dir), 'none');
}

export function register(program: Command): void {
  program
    .command('logits')
    .description('Write the tokens, ids and full logits [T][V] of a prompt (for cross-checking).')
    .requiredOption('--model <dir>', 'model folder: config.json + model.safetensors (+ tokenizer.json, tokenizer_config.json)')
    .requiredOption('--prompt <text>', 'the prompt')
    .requiredOption('--json <out>', 'output JSON {tokens, ids, logits}')
    .addOption(backendOption())
    .addOption(threadsOption())
    .action(async (flags: { model: string; prompt: string; json: string } & BackendFlags) => {
      await startBackend(flags);
      const { model, tokenizer } = await loadModelDir(flags.model);
      try {
        if (!flags.prompt.trim()) throw new InputError('--prompt is empty');
        if (tokenizer instanceof WordTokenizer) {
          const unknown = tokenizer.unknownWords(flags.prompt);
          if (unknown.length) throw new InputError(`words not in the model's vocabulary: ${unknown.slice(0, 8).join(', ')}`);
        }
        const ids = tokenizer.encode(flags.prompt);
        if (ids.length > model.config.nCtx)
          throw new InputError(`the prompt is ${ids.length} tokens; the model's context is ${model.config.nCtx}`);
        const logits = tf.tidy(() => tf.squeeze(model.forward([ids]), [0]));
        const rows = (await logits.array()) as number[][];
        logits.dispose();
        writeOutput(flags.json, `${JSON.stringify({ tokens: tokenizer.tokenStrings(ids), ids, logits: rows })}\n`);
        process.stderr.write(`${ids.length} tokens × ${model.config.vocabSize} logits → ${flags.json}\n`);
      } finally {
        model.dispose();
      }
    });
}
