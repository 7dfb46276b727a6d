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

/** The line as a PromptLine, or what is wrong with its fields (e.g. '"prompt" is empty'). */
function checkLine(json: unknown): PromptLine | string {
  const r = lineSchema.safeParse(json);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue.path.length ? `"${issue.path.join('.')}" ` : '';
  return `${where}${issue.code === 'invalid_type' && issue.path.length ? 'is missing or not a string' : issue.message}`;
}

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
    const r = checkLine(json);
    if (typeof r === 'string') throw new PromptSetInputError(`${source}, line ${i + 1}: ${r}`);
    lines.push(r);
  });
  if (!lines.length) throw new PromptSetInputError(`${source} has no prompts`);
  if (lines.length > MAX_PROMPTS)
    throw new PromptSetInputError(`${source} has ${lines.length} prompts; at most ${MAX_PROMPTS} are allowed`);
  return lines;
}

/** One prompt line tokenised: the prompt's ids (BOS first when asked for) and the two completions' ids. */
export interface TokenisedLine {
  ids: number[];
  target: number;
  contrast: number;
}

/**
 * Tokenise and check one line; a problem is a PromptSetInputError whose message says what is wrong with the line
 * (e.g. "target \" Mary and\" is 2 tokens; …"), without saying which line: the caller knows that.
 */
export function tokenisePromptLine(l: PromptLine, tok: Tokenizer, nCtx: number, opts: { prependBos?: boolean } = {}): TokenisedLine {
  const one = (s: string, what: string) => {
    if (s.length > MAX_COMPLETION_CHARS) {
      throw new PromptSetInputError(
        `${what} is ${s.length} characters; a completion must be exactly one token (at most ${MAX_COMPLETION_CHARS} characters)`,
      );
    }
    const id = tok.tokenId(s);
    if (id === undefined) {
      const n = tok.encode(s).length;
      throw new PromptSetInputError(
        `${what} ${JSON.stringify(s)} is ${n} tokens; a completion must be exactly one token (mind the leading space)`,
      );
    }
    return id;
  };
  for (const [run] of l.prompt.matchAll(/\S+/g)) {
    if (run.length > MAX_PROMPT_RUN) {
      throw new PromptSetInputError(`the prompt has ${run.length} characters without a space; at most ${MAX_PROMPT_RUN} are allowed`);
    }
  }
  const body = tok.encode(l.prompt);
  const ids = opts.prependBos && tok.bosId !== undefined ? [tok.bosId, ...body] : body;
  if (!ids.length) throw new PromptSetInputError('the prompt has no tokens');
  if (ids.length > nCtx) throw new PromptSetInputError(`the prompt is ${ids.length} tokens; the model's context is ${nCtx}`);
  const target = one(l.target, 'target');
  const contrast = one(l.contrast, 'contrast');
  if (target === contrast) throw new PromptSetInputError('target and contrast are the same token');
  return { ids, target, contrast };
}

/**
 * Each line's problem, or null where the line is fine: for an editor, whose rows may hold anything typed. The
 * fields are checked as parsePromptLines checks them; with a tokenizer, the line is also tokenised and checked as
 * tokenisePromptSet does.
 */
export function promptLineProblems(
  lines: readonly PromptLine[],
  tokenizer?: { tok: Tokenizer; nCtx: number; prependBos?: boolean },
): (string | null)[] {
  return lines.map((l) => {
    const r = checkLine(l);
    if (typeof r === 'string') return r;
    if (!tokenizer) return null;
    try {
      tokenisePromptLine(r, tokenizer.tok, tokenizer.nCtx, tokenizer);
      return null;
    } catch (e) {
      if (e instanceof InputError) return e.message;
      throw e;
    }
  });
}

/** Tokenise and check a prompt set against a tokenizer and a context length. */
export function tokenisePromptSet(
  lines: PromptLine[],
  tok: Tokenizer,
  nCtx: number,
  opts: { prependBos?: boolean; source?: string } = {},
): PromptSet {
  const source = opts.source ?? 'prompt set';
  const rows = lines.map((l, i) => {
    try {
      return tokenisePromptLine(l, tok, nCtx, opts);
    } catch (e) {
      if (e instanceof PromptSetInputError) throw new PromptSetInputError(`${source}, line ${i + 1}: ${e.message}`);
      throw e;
    }
  });
  const ids = rows.map((r) => r.ids);
  return {
    lines,
    ids,
    target: rows.map((r) => r.target),
    contrast: rows.map((r) => r.contrast),
    tokens: ids.map((row) => tok.tokenStrings(row)),
  };
}

/**
 * A prompt set as JSON lines, the format parsePromptLines reads (one object per line, keys in a fixed order, the
 * label only where there is one), ending with a newline.
 */
export function formatPromptLines(lines: readonly PromptLine[]): string {
  return lines
    .map(
      ({ prompt, target, contrast, label }) =>
        `${JSON.stringify(label === undefined ? { prompt, target, contrast } : { prompt, target, contrast, label })}\n`,
    )
    .join('');
}
