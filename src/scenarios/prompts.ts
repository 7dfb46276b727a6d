// A prompt set: the user's own prompts, each with a target completion (the behaviour to keep, e.g. the indirect
// object's name) and a contrast completion (e.g. the subject's name), one JSON object per line:
//   {"prompt": "When Mary and John went to the store, John gave a drink to", "target": " Mary", "contrast": " John"}
// B = logit[target] − logit[contrast] after the prompt's last token. Completions must be single tokens.
import { z } from 'zod';
import { InputError } from '../core/errors.ts';
import type { Tokenizer } from '../model/tokenizers/types.ts';

export class PromptSetInputError extends InputError {
  override name = 'PromptSetInputError';
}

const lineSchema = z.object({
  prompt: z.string().min(1, 'is empty'),
  target: z.string().min(1, 'is empty'),
  contrast: z.string().min(1, 'is empty'),
  label: z.string().optional(),
});

export type PromptLine = z.infer<typeof lineSchema>;

export interface PromptSet {
  lines: PromptLine[];
  /** Token ids per prompt (BOS first when asked for), unpadded. */
  ids: number[][];
  target: number[];
  contrast: number[];
  tokens: string[][];
}

export const MAX_PROMPTS = 512;
/**
 * The longest run of non-space characters a prompt may hold. Byte-level BPE takes time quadratic in such a run
 * (50,000 characters take seconds), so longer runs are refused before tokenising; real prompts have none this long.
 */
export const MAX_PROMPT_RUN = 4096;
/** No token is longer than this (GPT-2's longest is 128 bytes): a longer completion is refused without tokenising it. */
export const MAX_COMPLETION_CHARS = 128;

export function parsePromptLines(text: string, source = 'prompt set'): PromptLine[] {
  const lines: PromptLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (!raw.trim()) return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new PromptSetInputError(`${source}, line ${i + 1}: not JSON (expected {"prompt": …, "target": …, "contrast": …})`);
    }
    const r = lineSchema.safeParse(json);
    if (!r.success) {
      const issue = r.error.issues[0];
      const where = issue.path.length ? `"${issue.path.join('.')}" ` : '';
      const what = issue.code === 'invalid_type' && issue.path.length ? 'is missing or not a string' : issue.message;
      throw new PromptSetInputError(`${source}, line ${i + 1}: ${where}${what}`);
    }
    lines.push(r.data);
  });
  if (!lines.length) throw new PromptSetInputError(`${source} has no prompts`);
  if (lines.length > MAX_PROMPTS)
    throw new PromptSetInputError(`${source} has ${lines.length} prompts; at most ${MAX_PROMPTS} are allowed`);
  return lines;
}

/** Tokenise and check a prompt set against a tokenizer and a context length. */
export function tokenisePromptSet(
  lines: PromptLine[],
  tok: Tokenizer,
  nCtx: number,
  opts: { prependBos?: boolean; source?: string } = {},
): PromptSet {
  const source = opts.source ?? 'prompt set';
  const one = (s: string, what: string, i: number) => {
    if (s.length > MAX_COMPLETION_CHARS) {
      throw new PromptSetInputError(
        `${source}, line ${i + 1}: ${what} is ${s.length} characters; a completion must be exactly one token (at most ${MAX_COMPLETION_CHARS} characters)`,
      );
    }
    const id = tok.tokenId(s);
    if (id === undefined) {
      const n = tok.encode(s).length;
      throw new PromptSetInputError(
        `${source}, line ${i + 1}: ${what} ${JSON.stringify(s)} is ${n} tokens; a completion must be exactly one token (mind the leading space)`,
      );
    }
    return id;
  };
  const ids = lines.map((l, i) => {
    for (const [run] of l.prompt.matchAll(/\S+/g)) {
      if (run.length > MAX_PROMPT_RUN) {
        throw new PromptSetInputError(
          `${source}, line ${i + 1}: the prompt has ${run.length} characters without a space; at most ${MAX_PROMPT_RUN} are allowed`,
        );
      }
    }
    const body = tok.encode(l.prompt);
    const row = opts.prependBos && tok.bosId !== undefined ? [tok.bosId, ...body] : body;
    if (!row.length) throw new PromptSetInputError(`${source}, line ${i + 1}: the prompt has no tokens`);
    if (row.length > nCtx)
      throw new PromptSetInputError(`${source}, line ${i + 1}: the prompt is ${row.length} tokens; the model's context is ${nCtx}`);
    return row;
  });
  const target = lines.map((l, i) => one(l.target, 'target', i));
  const contrast = lines.map((l, i) => one(l.contrast, 'contrast', i));
  target.forEach((t, i) => {
    if (t === contrast[i]) throw new PromptSetInputError(`${source}, line ${i + 1}: target and contrast are the same token`);
  });
  return { lines, ids, target, contrast, tokens: ids.map((row) => tok.tokenStrings(row)) };
}
