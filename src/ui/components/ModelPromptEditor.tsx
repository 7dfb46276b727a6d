// The prompt editor for the model scenario ('prompts'): edits the prompt set the model panel loads
// (model-inputs.ts), checked with GPT-2's BPE — the tokenizer of every GPT-2-family checkpoint without a
// tokenizer.json. Mount it in ModelPanel's `promptEditor` slot.
import { useEffect, useState } from 'react';
import { setPromptsText, useModelInputs } from '../model-inputs.ts';
import { loadPageTokenizer, type PageTokenizer } from '../tokenizers.ts';
import { PromptEditor } from './PromptEditor.tsx';

export function ModelPromptEditor() {
  const file = useModelInputs((s) => s.promptsFile);
  const [tokenizer, setTokenizer] = useState<PageTokenizer | undefined>(undefined);
  useEffect(() => {
    let live = true;
    // Without the tokenizer the editor still checks the fields; completions are checked once it arrives.
    loadPageTokenizer('gpt2')
      .then((t) => live && setTokenizer(t))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);
  return (
    <details className="pe-embedded" data-testid="model-prompt-editor">
      <summary>Edit or generate the prompts</summary>
      <PromptEditor
        text={file?.text ?? ''}
        name={file?.name ?? 'prompts.jsonl'}
        onChange={(text, name) => setPromptsText(name, text)}
        tokenizer={tokenizer}
      />
    </details>
  );
}
