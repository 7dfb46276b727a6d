// "Fetch labels from Neuronpedia" in the defence panel, for a real model's SAE that Neuronpedia hosts (a release the
// page knows, or a model id and source the person types). Built-in scenarios have SAEs of their own, which Neuronpedia
// does not have, so they do not show it.
import { useState } from 'react';
import { DEFAULT_NEURONPEDIA_ENDPOINT, type NeuronpediaSource, neuronpediaSourceOf } from '../../io/neuronpedia.ts';
import { isModelScenario } from '../model-inputs.ts';
import { cancelNeuronpediaLabels, fetchLabels, MAX_NEURONPEDIA_FETCH, useNeuronpedia } from '../neuronpedia-labels.ts';
import { useStore } from '../store.ts';

interface Props {
  /** The features the panel shows as defended (checked), then the table's rows on screen, in that order. */
  defended: number[];
  shown: number[];
}

export function NeuronpediaLabels({ defended, shown }: Props) {
  const scenario = useStore((s) => s.scenario);
  const labels = useStore((s) => s.labels);
  const { endpoint, key, typed, progress, set } = useNeuronpedia();
  const [draft, setDraft] = useState(endpoint);
  if (!scenario || !isModelScenario(scenario.id)) return null;
  const known = neuronpediaSourceOf(scenario.sae.name);
  const src: NeuronpediaSource | null = known ?? (typed.modelId.trim() && typed.source.trim() ? typed : null);
  const wanted = [...new Set([...defended, ...shown])];
  // A feature that already has a label (an export file, an earlier fetch) is not asked for again.
  const ask = wanted.filter((i) => !labels.has(i)).slice(0, MAX_NEURONPEDIA_FETCH);
  const validEndpoint = /^https?:\/\/[^\s/]+/.test(draft);

  return (
    <div className="np-labels" data-testid="neuronpedia">
      <div className="row">
        <button
          type="button"
          className="btn"
          disabled={!src || !ask.length || Boolean(progress)}
          onClick={() => src && void fetchLabels(src, ask)}
          data-testid="np-fetch"
        >
          Fetch labels from Neuronpedia ({ask.length})
        </button>
        {progress && (
          <>
            <progress value={progress.done} max={progress.total} aria-label="Neuronpedia labels fetched" />
            <span data-testid="np-progress">
              {progress.done} of {progress.total}
            </span>
            <button type="button" className="btn" onClick={cancelNeuronpediaLabels} data-testid="np-cancel">
              Cancel
            </button>
          </>
        )}
      </div>
      <p className="muted small" data-testid="np-explain">
        {src ? (
          <>
            Asks {endpoint === DEFAULT_NEURONPEDIA_ENDPOINT ? 'Neuronpedia' : endpoint} ({src.modelId}/{src.source}
            {known ? ', the loaded SAE' : ''}) for the labels of the defended features and the rows shown that have none yet
          </>
        ) : (
          <>Give the SAE's Neuronpedia model id and source (as in neuronpedia.org/gpt2-small/4-res-jb/123) to ask for labels</>
        )}
        : one request per feature, four at a time, kept in this browser so a reload does not ask again.{' '}
        {scenario.dSae > MAX_NEURONPEDIA_FETCH
          ? `At most ${MAX_NEURONPEDIA_FETCH} per click, never all ${scenario.dSae.toLocaleString('en')} features: `
          : ''}
        Neuronpedia limits requests per hour and asks that labels in bulk come from its export files (load one in the Scenario panel).
      </p>
      {!known && (
        <div className="row">
          <label className="field">
            <span>Neuronpedia model id</span>
            <input
              value={typed.modelId}
              placeholder="e.g. gpt2-small"
              spellCheck={false}
              onChange={(e) => set({ typed: { ...typed, modelId: e.target.value } })}
              data-testid="np-model"
            />
          </label>
          <label className="field">
            <span>Neuronpedia source</span>
            <input
              value={typed.source}
              placeholder="e.g. 4-res-jb"
              spellCheck={false}
              onChange={(e) => set({ typed: { ...typed, source: e.target.value } })}
              data-testid="np-source"
            />
          </label>
        </div>
      )}
      <details className="model-settings">
        <summary>Neuronpedia settings</summary>
        <label className="field">
          <span>Neuronpedia endpoint{validEndpoint ? '' : ' — not a URL'}</span>
          <input
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            onBlur={() => validEndpoint && set({ endpoint: draft.trim().replace(/\/+$/, '') })}
            spellCheck={false}
            data-testid="np-endpoint"
          />
        </label>
        <label className="field">
          <span>
            API key, optional (Neuronpedia's reading endpoints mostly need none): kept in this tab's memory only, sent only as the x-api-key
            header; never saved, put in a link or exported
          </span>
          <input type="password" autoComplete="off" value={key} onChange={(e) => set({ key: e.target.value })} data-testid="np-key" />
        </label>
      </details>
    </div>
  );
}
