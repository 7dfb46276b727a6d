// The prompt-set editor: a table of prompts with their target and contrast completions (rows added, removed,
// edited), JSONL import and export, the seeded template generator, and each row's problem in the words the loader
// uses (scenarios/prompts.ts). With the model's tokenizer each prompt is also shown as tokens, δ's positions and
// B's read-out marked on them; clicking one names its position and id, or (with the click switch) toggles it as a
// δ position or makes it the read-out — the line's `delta_positions` and `readout_position`.
//
// Controlled by `text` (the set as JSON lines) and `name` (its file name): every edit calls onChange with the
// whole set, which is what the model scenario loads.
import { useEffect, useId, useMemo, useRef, useState } from 'react';
import {
  formatPromptLines,
  MAX_PROMPTS,
  type PromptLine,
  parsePromptLines,
  placedPositions,
  promptLineProblems,
  setReadoutPosition,
  toggleDeltaPosition,
  tokenIndex,
} from '../../scenarios/prompts.ts';
import { sharedDeltaProblem } from '../../scenarios/positions.ts';
import { formatWordLists, generatePrompts, parseWordLists } from '../../scenarios/template.ts';
import type { Tokenizer } from '../../model/tokenizers/types.ts';
import { NAMES, OBJECTS, PLACES } from '../../world/lexicon.ts';
import { formatToken } from '../../core/format.ts';
import { download } from '../exports.ts';
import { NumberInput } from './NumberInput.tsx';

export interface PromptEditorProps {
  text: string;
  name: string;
  onChange(text: string, name: string): void;
  /** The model's tokenizer and context: with it, prompts are shown as tokens and checked as the loader will check them. */
  tokenizer?: { tok: Tokenizer; nCtx: number; prependBos?: boolean };
}

/** An empty text is an empty set (a new editor), not an error. */
function readLines(text: string, name: string): PromptLine[] {
  return text.trim() ? parsePromptLines(text, name) : [];
}

/** The paper's IOI template (BABA), with the built-in world's words; BPE vocabularies want a leading space. */
function defaultTemplate(wordLevel: boolean) {
  const sp = wordLevel ? '' : ' ';
  return {
    prompt: 'Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to',
    target: `${sp}[A]`,
    contrast: `${sp}[B]`,
    words: formatWordLists({ A: NAMES.slice(0, 12), B: NAMES.slice(0, 12), PLACE: PLACES, OBJECT: OBJECTS }),
    n: 16,
    seed: 0,
  };
}

function TemplateForm({ onLines, wordLevel }: { onLines: (lines: PromptLine[], replace: boolean) => void; wordLevel: boolean }) {
  const [form, setForm] = useState(() => defaultTemplate(wordLevel));
  const [error, setError] = useState<string | null>(null);
  const set = (patch: Partial<typeof form>) => setForm((f) => ({ ...f, ...patch }));
  const generate = (replace: boolean) => {
    try {
      const words = parseWordLists(form.words);
      onLines(generatePrompts({ prompt: form.prompt, target: form.target, contrast: form.contrast, words }, form.n, form.seed), replace);
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <details className="pe-template" data-testid="template-form">
      <summary>Generate prompts from a template</summary>
      <p className="muted small">
        Slots are written [A], [PLACE], …; each slot takes one word per prompt, different slots different words. The same seed gives the
        same prompts.
      </p>
      <label className="field">
        <span>Template</span>
        <input value={form.prompt} onChange={(e) => set({ prompt: e.target.value })} data-testid="template-prompt" />
      </label>
      <div className="row">
        <label className="field">
          <span>Target</span>
          <input value={form.target} onChange={(e) => set({ target: e.target.value })} data-testid="template-target" />
        </label>
        <label className="field">
          <span>Contrast</span>
          <input value={form.contrast} onChange={(e) => set({ contrast: e.target.value })} data-testid="template-contrast" />
        </label>
      </div>
      <label className="field">
        <span>Word lists (one line per list: "A, B: Mary, John" gives both slots the same names)</span>
        <textarea rows={4} value={form.words} onChange={(e) => set({ words: e.target.value })} data-testid="template-words" />
      </label>
      <div className="row">
        <label className="field narrow">
          <span>N</span>
          <NumberInput
            value={form.n}
            min={1}
            max={MAX_PROMPTS}
            step={1}
            outOfRange="pass"
            onChange={(n) => set({ n })}
            testId="template-n"
          />
        </label>
        <label className="field narrow">
          <span>seed</span>
          <NumberInput value={form.seed} min={0} step={1} outOfRange="pass" onChange={(seed) => set({ seed })} testId="template-seed" />
        </label>
        <button type="button" className="btn" onClick={() => generate(true)} data-testid="template-replace">
          Replace the set
        </button>
        <button type="button" className="btn" onClick={() => generate(false)}>
          Add to the set
        </button>
      </div>
      {error && (
        <p className="error-text" role="alert" data-testid="template-error">
          {error}
        </p>
      )}
    </details>
  );
}

/** What a click on a token does: name it, toggle it as a δ position, or make it B's read-out. */
type ClickMode = 'inspect' | 'delta' | 'readout';

const CLICK_MODES: [ClickMode, string][] = [
  ['inspect', 'shows its position and id'],
  ['delta', 'adds or removes a δ position'],
  ['readout', "sets B's read-out"],
];

/** Where a line's δ and read-out fall among `length` tokens (positions out of range are the row's problem, not marked). */
function marks(l: PromptLine, length: number): { delta: Set<number>; readout: number } {
  const { delta, readout } = placedPositions(l);
  return { delta: new Set(delta.map((p) => tokenIndex(p, length))), readout: tokenIndex(readout, length) };
}

/** What sits at a token, in words: "δ and B's read-out", "δ", "B's read-out" or nothing. */
function markText(m: { delta: Set<number>; readout: number }, i: number): string {
  const what = [m.delta.has(i) && 'δ', m.readout === i && "B's read-out"].filter(Boolean);
  return what.join(' and ');
}

/** The picked token's line: what sits there, as a clause after its position and id. */
function pickedText(m: { delta: Set<number>; readout: number }, i: number): string {
  const delta = m.delta.has(i);
  const readout = m.readout === i;
  return delta && readout ? ": δ and B's read-out sit here" : delta ? ': δ is added here' : readout ? ": B's read-out sits here" : '';
}

function PromptTokens({
  tokens,
  at,
  mode,
  onPick,
}: {
  tokens: string[];
  at: { delta: Set<number>; readout: number };
  mode: ClickMode;
  onPick: (pos: number) => void;
}) {
  return (
    <span className="tokens">
      {tokens.map((t, i) => {
        const here = markText(at, i);
        const cls = ['tok', 'pe-tok', at.delta.has(i) && 'tok-delta', at.readout === i && 'tok-readout'].filter(Boolean).join(' ');
        return (
          <button
            // biome-ignore lint/suspicious/noArrayIndexKey: a prompt's tokens never reorder; the same word can repeat
            key={i}
            type="button"
            className={cls}
            title={here ? `position ${i}: ${here}` : `position ${i}`}
            aria-label={`${formatToken(t)} (position ${i}${here ? `, ${here}` : ''})`}
            // In the placing modes the button is a toggle: pressed where its mark is.
            aria-pressed={mode === 'delta' ? at.delta.has(i) : mode === 'readout' ? at.readout === i : undefined}
            onClick={() => onPick(i)}
          >
            {formatToken(t)}
          </button>
        );
      })}
    </span>
  );
}

export function PromptEditor({ text, name, onChange, tokenizer }: PromptEditorProps) {
  const [rows, setRows] = useState<PromptLine[]>(() => {
    try {
      return readLines(text, name);
    } catch {
      return [];
    }
  });
  const [importError, setImportError] = useState<string | null>(() => {
    try {
      readLines(text, name);
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  });
  const [picked, setPicked] = useState<{ row: number; pos: number } | null>(null);
  const [mode, setMode] = useState<ClickMode>('inspect');
  const modeName = useId();
  // What this editor last sent: a `text` that differs came from outside (a file chosen elsewhere) and is read in.
  const sent = useRef(text);
  useEffect(() => {
    if (text === sent.current) return;
    sent.current = text;
    try {
      setRows(readLines(text, name));
      setImportError(null);
    } catch (e) {
      setImportError((e as Error).message);
    }
  }, [text, name]);

  const emit = (next: PromptLine[], nextName = name) => {
    setRows(next);
    const out = next.length ? formatPromptLines(next) : '';
    sent.current = out;
    onChange(out, nextName);
  };
  const replace = (i: number, line: PromptLine) => emit(rows.map((r, k) => (k === i ? line : r)));
  const edit = (i: number, patch: Partial<PromptLine>) => replace(i, { ...rows[i], ...patch });
  const pick = (i: number, pos: number, length: number) => {
    setPicked({ row: i, pos });
    if (mode === 'delta') replace(i, toggleDeltaPosition(rows[i], pos, length));
    if (mode === 'readout') replace(i, setReadoutPosition(rows[i], pos, length));
  };

  const problems = useMemo(() => promptLineProblems(rows, tokenizer), [rows, tokenizer]);
  const tokens = useMemo(
    () =>
      rows.map((r) => {
        if (!tokenizer || !r.prompt) return null;
        try {
          const body = tokenizer.tok.encode(r.prompt);
          const ids = tokenizer.prependBos && tokenizer.tok.bosId !== undefined ? [tokenizer.tok.bosId, ...body] : body;
          return { ids, strings: tokenizer.tok.tokenStrings(ids) };
        } catch {
          return null; // the row's problem says why
        }
      }),
    [rows, tokenizer],
  );
  const bad = problems.filter(Boolean).length;
  // The model scenarios run one shared δ by default: say early when the rows' δ positions cannot share one.
  const unaligned = useMemo(
    () =>
      rows.length
        ? sharedDeltaProblem(
            rows.map((r) => placedPositions(r).delta),
            name,
          )
        : null,
    [rows, name],
  );

  const importFile = async (f: File | undefined) => {
    if (!f) return;
    try {
      const lines = parsePromptLines(await f.text(), f.name);
      setImportError(null);
      emit(lines, f.name);
    } catch (e) {
      setImportError((e as Error).message);
    }
  };
  const exportName = /\.jsonl$/i.test(name) ? name : `${name.replace(/\.[^.]*$/, '') || 'prompts'}.jsonl`;

  return (
    <div className="prompt-editor" data-testid="prompt-editor">
      <div className="row">
        <label className="field">
          <span>Set name</span>
          <input value={name} onChange={(e) => onChange(sent.current, e.target.value)} data-testid="prompt-set-name" />
        </label>
        <label className="btn pe-file">
          Import JSONL…
          <input
            type="file"
            accept=".jsonl,.json,.txt"
            className="sr-only"
            onChange={(e) => void importFile(e.target.files?.[0])}
            data-testid="prompt-import"
          />
        </label>
        <button
          type="button"
          className="btn"
          disabled={!rows.length}
          onClick={() => download(exportName, new Blob([formatPromptLines(rows)], { type: 'application/jsonl' }))}
          data-testid="prompt-export"
        >
          Export JSONL
        </button>
      </div>
      {importError && (
        <p className="error-text" role="alert" data-testid="prompt-import-error">
          {importError}
        </p>
      )}
      <TemplateForm
        wordLevel={tokenizer?.tok.kind === 'word'}
        onLines={(lines, replace) => emit(replace ? lines : [...rows, ...lines].slice(0, MAX_PROMPTS))}
      />
      <p className="muted small" data-testid="prompt-summary">
        {rows.length} prompt{rows.length === 1 ? '' : 's'}
        {bad ? `, ${bad} with a problem` : rows.length ? ', all fine' : ''}
        {tokenizer ? '' : ' (no tokenizer: completions are not checked to be single tokens)'}. B = logit[target] − logit[contrast] at each
        prompt's read-out position; δ is added at its δ positions (both the last token unless placed).
      </p>
      {unaligned && (
        <p className="warn small" data-testid="prompt-alignment">
          {unaligned}.
        </p>
      )}
      {tokenizer && (
        <fieldset className="pe-mode" data-testid="prompt-click-mode">
          <legend>Clicking a token</legend>
          {CLICK_MODES.map(([m, label]) => (
            <label key={m}>
              <input type="radio" name={modeName} value={m} checked={mode === m} onChange={() => setMode(m)} /> {label}
            </label>
          ))}
          <span className="muted small">
            Marked: <span className="tok tok-delta">δ</span> <span className="tok tok-readout">read-out</span>. Positions count the tokens
            shown; the last token is written -1, so it stays last when the prompt changes.
          </span>
        </fieldset>
      )}
      <section className="table-wrap tall" tabIndex={0} aria-label="Prompts">
        <table className="pe-table" data-testid="prompt-table">
          <caption className="sr-only">Prompts with their target and contrast completions</caption>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">prompt</th>
              <th scope="col">target</th>
              <th scope="col">contrast</th>
              <th scope="col">
                <span className="sr-only">remove</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: rows are positions in the set; an edit keeps its row
              <tr key={i} className={problems[i] ? 'pe-bad' : undefined} data-testid="prompt-row">
                <td>{i + 1}</td>
                <td className="pe-prompt">
                  <input
                    aria-label={`prompt ${i + 1}`}
                    className="pe-input"
                    value={r.prompt}
                    onChange={(e) => edit(i, { prompt: e.target.value })}
                  />
                  {tokens[i] && (
                    <PromptTokens
                      tokens={tokens[i].strings}
                      at={marks(r, tokens[i].ids.length)}
                      mode={mode}
                      onPick={(pos) => pick(i, pos, tokens[i]?.ids.length ?? 0)}
                    />
                  )}
                  {picked?.row === i && tokens[i] && picked.pos < tokens[i].ids.length && (
                    <span className="muted pe-picked" data-testid="prompt-token-info">
                      position {picked.pos}, token id {tokens[i].ids[picked.pos]}
                      {pickedText(marks(r, tokens[i].ids.length), picked.pos)}
                    </span>
                  )}
                  {problems[i] && (
                    <span className="error-text pe-problem" data-testid="prompt-problem">
                      {problems[i]}
                    </span>
                  )}
                </td>
                <td>
                  <input
                    aria-label={`target ${i + 1}`}
                    className="pe-input pe-short"
                    value={r.target}
                    onChange={(e) => edit(i, { target: e.target.value })}
                  />
                </td>
                <td>
                  <input
                    aria-label={`contrast ${i + 1}`}
                    className="pe-input pe-short"
                    value={r.contrast}
                    onChange={(e) => edit(i, { contrast: e.target.value })}
                  />
                </td>
                <td>
                  <button
                    type="button"
                    className="btn btn-small"
                    aria-label={`remove prompt ${i + 1}`}
                    onClick={() => emit(rows.filter((_, k) => k !== i))}
                  >
                    ✕
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <button
        type="button"
        className="btn"
        disabled={rows.length >= MAX_PROMPTS}
        onClick={() => emit([...rows, { prompt: '', target: '', contrast: '' }])}
        data-testid="prompt-add"
      >
        Add a prompt
      </button>
    </div>
  );
}
