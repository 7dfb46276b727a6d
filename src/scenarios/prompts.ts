// A prompt set: the user's own prompts, each with a target completion (the behaviour to keep, e.g. the indirect
// object's name) and a contrast completion (e.g. the subject's name), one JSON object per line:
//   {"prompt": "When Mary and John went to the store, John gave a drink to", "target": " Mary", "contrast": " John"}
// B = logit[target] − logit[contrast] at the read-out position. Completions must be single tokens. Two optional
// fields place δ and the read-out: `delta_positions` (token positions where δ is added) and `readout_position`
// (where B is read), each a token index into the tokens the model reads (the BOS token too when one is
// prepended), negative counting from the end (−1 is the last token). Without them both sit at the last token.
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

export type PromptLine = z.infer<typeof lineSchema> & {
  /** Token positions where δ is added (default [-1], the last token). */
  delta_positions?: number[];
  /** The token position whose next-token logits B reads (default -1, the last token). */
  readout_position?: number;
};

/** The last token: where δ and the read-out sit when a line does not place them. */
const LAST = -1;
const POSITION_HINT = '0 is the first token, -1 the last';

export interface PromptSet {
  lines: PromptLine[];
  /** Token ids per prompt (BOS first when asked for), unpadded. */
  ids: number[][];
  target: number[];
  contrast: number[];
  tokens: string[][];
  /** Per prompt: the δ positions (ascending) and the read-out position, as indices into its ids. */
  delta: number[][];
  readout: number[];
}

export const MAX_PROMPTS = 512;
/**
 * The longest run of non-space characters a prompt may hold. Byte-level BPE takes time quadratic in such a run
 * (50,000 characters take seconds), so longer runs are refused before tokenising; real prompts have none this long.
 */
export const MAX_PROMPT_RUN = 4096;
/** No token is longer than this (GPT-2's longest is 128 bytes): a longer completion is refused without tokenising it. */
export const MAX_COMPLETION_CHARS = 128;

/**
 * The optional position fields as written, or what is wrong with them. Checked here what needs no tokenizer
 * (whole numbers, at least one δ position, none listed twice); ranges and order need the prompt's length
 * (tokenisePromptLine).
 */
function checkPositionFields(json: Record<string, unknown>): Pick<PromptLine, 'delta_positions' | 'readout_position'> | string {
  const out: Pick<PromptLine, 'delta_positions' | 'readout_position'> = {};
  const delta = json.delta_positions;
  if (delta !== undefined) {
    if (!Array.isArray(delta)) return `"delta_positions" must be a list of token positions, e.g. [-1] or [5, -1] (${POSITION_HINT})`;
    if (!delta.length) return '"delta_positions" is empty: give at least one token position, or leave the field out for the last token';
    const bad = delta.find((p) => !Number.isSafeInteger(p));
    if (bad !== undefined) return `"delta_positions" holds ${JSON.stringify(bad)}; token positions are whole numbers (${POSITION_HINT})`;
    const seen = new Set<number>();
    const twice = delta.find((p) => seen.size === seen.add(p).size);
    if (twice !== undefined) return `"delta_positions" lists ${twice} twice`;
    out.delta_positions = delta;
  }
  const readout = json.readout_position;
  if (readout !== undefined) {
    if (!Number.isSafeInteger(readout))
      return `"readout_position" is ${JSON.stringify(readout)}; a token position is a whole number (${POSITION_HINT})`;
    out.readout_position = readout as number;
  }
  return out;
}

/** The line as a PromptLine, or what is wrong with its fields (e.g. '"prompt" is empty'). */
function checkLine(json: unknown): PromptLine | string {
  const r = lineSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue.path.length ? `"${issue.path.join('.')}" ` : '';
    return `${where}${issue.code === 'invalid_type' && issue.path.length ? 'is missing or not a string' : issue.message}`;
  }
  const positions = checkPositionFields(json as Record<string, unknown>);
  return typeof positions === 'string' ? positions : { ...r.data, ...positions };
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

/**
 * One prompt line tokenised: the prompt's ids (BOS first when asked for), the two completions' ids, and the δ and
 * read-out positions as indices into ids (δ's in ascending order: a shared δ's k-th slot is each prompt's k-th).
 */
export interface TokenisedLine {
  ids: number[];
  target: number;
  contrast: number;
  delta: number[];
  readout: number;
}

/** A written token position as an index from 0 into a prompt of `length` tokens (out of range when it is not one). */
export const tokenIndex = (p: number, length: number) => (p < 0 ? length + p : p);

/** The positions a line places, as written, with the defaults (the last token) where it places none. */
export function placedPositions(l: Pick<PromptLine, 'delta_positions' | 'readout_position'>): { delta: number[]; readout: number } {
  return { delta: l.delta_positions ?? [LAST], readout: l.readout_position ?? LAST };
}

/**
 * The line with its positions replaced, the fields left out where they say what the defaults say, so a set
 * edited back to the last token is written as before. A click on the last token writes −1: it stays the last
 * token when the prompt is edited.
 */
function withPositions(l: PromptLine, delta: number[], readout: number): PromptLine {
  const { delta_positions: _d, readout_position: _r, ...out } = l;
  return {
    ...out,
    ...(delta.length === 1 && delta[0] === LAST ? {} : { delta_positions: delta }),
    ...(readout === LAST ? {} : { readout_position: readout }),
  };
}

/** A δ position clicked in a prompt of `length` tokens: removed where the line has it (however written), else added; in token order. */
export function toggleDeltaPosition(l: PromptLine, index: number, length: number): PromptLine {
  const { delta, readout } = placedPositions(l);
  const here = delta.filter((p) => tokenIndex(p, length) === index);
  const next = here.length ? delta.filter((p) => !here.includes(p)) : [...delta, index === length - 1 ? LAST : index];
  return withPositions(
    l,
    next.sort((a, b) => tokenIndex(a, length) - tokenIndex(b, length)),
    readout,
  );
}

/** The read-out set to a clicked token of a prompt of `length` tokens. */
export function setReadoutPosition(l: PromptLine, index: number, length: number): PromptLine {
  return withPositions(l, placedPositions(l).delta, index === length - 1 ? LAST : index);
}

/**
 * The δ and read-out positions of a prompt of `length` tokens, as indices from 0, or a PromptSetInputError saying
 * which is out of range, which two name one token, or which δ position the read-out cannot see.
 */
export function resolvePositions(
  l: Pick<PromptLine, 'delta_positions' | 'readout_position'>,
  length: number,
): { delta: number[]; readout: number } {
  const index = (p: number, what: string) => {
    const i = tokenIndex(p, length);
    if (i < 0 || i >= length)
      throw new PromptSetInputError(
        `${what} ${p} is outside the prompt's ${length} token${length === 1 ? '' : 's'} (0..${length - 1}, or -${length}..-1 from the end)`,
      );
    return i;
  };
  const placed = placedPositions(l);
  const written = placed.delta;
  const delta = written.map((p) => index(p, 'δ position'));
  const firstAt = new Map<number, number>();
  delta.forEach((i, k) => {
    const first = firstAt.get(i);
    if (first !== undefined) throw new PromptSetInputError(`δ positions ${written[first]} and ${written[k]} are the same token (${i})`);
    firstAt.set(i, k);
  });
  const readout = index(placed.readout, 'the read-out position');
  // Attention is causal: δ at a token after the read-out cannot change B there.
  const late = Math.max(...delta);
  if (late > readout)
    throw new PromptSetInputError(
      `δ position ${late} comes after the read-out position ${readout}, and δ there cannot change B (attention only looks back): move "readout_position" to ${late} or later, or drop that δ position`,
    );
  return { delta: [...delta].sort((a, b) => a - b), readout };
}

/**
 * Tokenise and check one line; a problem is a PromptSetInputError whose message says what is wrong with the line
 * (e.g. "target \" Mary and\" is 2 tokens; …"), without saying which line: the caller knows that.
 */
export interface TokeniseOptions {
  prependBos?: boolean;
  /** The chat template for one user turn (Tokenizer.chat): the prompt is written into it before tokenising. */
  chat?: (user: string) => string;
}

export function tokenisePromptLine(l: PromptLine, tok: Tokenizer, nCtx: number, opts: TokeniseOptions = {}): TokenisedLine {
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
  const body = tok.encode(opts.chat ? opts.chat(l.prompt) : l.prompt);
  // A chat template writes BOS itself.
  const bosWritten = opts.chat !== undefined && body[0] === tok.bosId;
  const ids = opts.prependBos && tok.bosId !== undefined && !bosWritten ? [tok.bosId, ...body] : body;
  if (!ids.length) throw new PromptSetInputError('the prompt has no tokens');
  if (ids.length > nCtx) throw new PromptSetInputError(`the prompt is ${ids.length} tokens; the model's context is ${nCtx}`);
  const target = one(l.target, 'target');
  const contrast = one(l.contrast, 'contrast');
  if (target === contrast) throw new PromptSetInputError('target and contrast are the same token');
  return { ids, target, contrast, ...resolvePositions(l, ids.length) };
}

/**
 * Each line's problem, or null where the line is fine: for an editor, whose rows may hold anything typed. The
 * fields are checked as parsePromptLines checks them; with a tokenizer, the line is also tokenised and checked as
 * tokenisePromptSet does.
 */
export function promptLineProblems(
  lines: readonly PromptLine[],
  tokenizer?: { tok: Tokenizer; nCtx: number } & TokeniseOptions,
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
  opts: TokeniseOptions & { source?: string } = {},
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
    delta: rows.map((r) => r.delta),
    readout: rows.map((r) => r.readout),
  };
}

/**
 * A prompt set as JSON lines, the format parsePromptLines reads (one object per line, keys in a fixed order, the
 * optional fields only where a line has them), ending with a newline.
 */
export function formatPromptLines(lines: readonly PromptLine[]): string {
  return lines
    .map(({ prompt, target, contrast, delta_positions, readout_position, label }) => {
      const line: PromptLine = { prompt, target, contrast };
      if (delta_positions !== undefined) line.delta_positions = delta_positions;
      if (readout_position !== undefined) line.readout_position = readout_position;
      if (label !== undefined) line.label = label;
      return `${JSON.stringify(line)}\n`;
    })
    .join('');
}
