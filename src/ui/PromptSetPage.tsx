// The prompt editor on a page of its own (?view=prompts): write or generate a prompt set, checked against the
// built-in model's word-level tokenizer or GPT-2's BPE, and export it as JSONL for `unclamp run --prompts` or the
// playground's model scenario. No engine: tokenizers run on the page without TensorFlow.js.
import { useEffect, useState } from 'react';
import { PromptEditor } from './components/PromptEditor.tsx';
import { loadPageTokenizer, type PageTokenizer, type TokenizerChoice as Which } from './tokenizers.ts';

export function PromptSetPage() {
  const [which, setWhich] = useState<Which>('builtin');
  const [tokenizer, setTokenizer] = useState<PageTokenizer | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [set, setSet] = useState({ text: '', name: 'prompts.jsonl' });
  useEffect(() => {
    let live = true;
    setTokenizer(null);
    loadPageTokenizer(which)
      .then((t) => live && setTokenizer(t))
      .catch((e) => live && setError((e as Error).message));
    return () => {
      live = false;
    };
  }, [which]);
  return (
    <main className="layout-single">
      <section className="panel" aria-labelledby="prompt-set-heading">
        <h1 id="prompt-set-heading">Prompt set</h1>
        <p className="muted">
          Prompts with a target and a contrast completion, B = logit[target] − logit[contrast] at the read-out position (the last token
          unless placed). Export the set and load it with <code>unclamp run --prompts set.jsonl</code> or the playground's "My prompts".{' '}
          <a href="./">Back to the playground</a>
        </p>
        <label className="field pe-check">
          <span>Check against</span>
          <select value={which} onChange={(e) => setWhich(e.target.value as Which)} data-testid="prompt-tokenizer">
            <option value="builtin">the built-in model</option>
            <option value="gpt2">GPT-2</option>
          </select>
        </label>
        {error && (
          <p className="error-text" role="alert">
            {error}
          </p>
        )}
        {tokenizer ? (
          <>
            <p className="muted small">Tokenised with {tokenizer.label}.</p>
            <PromptEditor
              // A new tokenizer starts the template form from its own defaults (a leading space or not).
              key={which}
              text={set.text}
              name={set.name}
              onChange={(text, name) => setSet({ text, name })}
              tokenizer={tokenizer}
            />
          </>
        ) : (
          !error && <p className="muted">Loading the tokenizer…</p>
        )}
        <details>
          <summary>The set as JSON lines</summary>
          <pre className="pe-jsonl" data-testid="prompt-jsonl">
            {set.text}
          </pre>
        </details>
      </section>
    </main>
  );
}
