// The next-token view: for one prompt, the top-k next tokens with probabilities for the base, the defended and the
// recovered model side by side, and B's logit readout (e.g. logit[IO] − logit[S]) under each. It asks the engine
// again when the prompt, k, the defence or the run's step changes (at most one request in flight; the step is
// throttled), so during a run the recovered column follows δ.
import { useEffect, useRef, useState } from 'react';
import { useStore } from '../store.ts';
import { useThrottledStore } from '../useThrottled.ts';
import { fetchNextTokens } from '../engine/analyses.ts';
import type { NextTokenColumn, NextTokenView } from '../../engine/protocol.ts';
import { formatNumber, formatPercent, formatToken } from '../../core/format.ts';

/** "logit[Mary] − logit[John]", or a weighted sum when B is not a plain difference (unlearning's margin). */
function readoutText(terms: NonNullable<NextTokenView['terms']>): string {
  return terms
    .map(({ text, weight }, i) => {
      const mag = Math.abs(weight);
      const sign = weight < 0 ? '− ' : i ? '+ ' : '';
      return `${sign}${mag === 1 ? '' : `${formatNumber(mag, 2)}·`}logit[${formatToken(text)}]`;
    })
    .join(' ');
}

const TOP_K = [5, 10, 20];

function Column({ title, col, terms, testId }: { title: string; col: NextTokenColumn; terms: NextTokenView['terms']; testId: string }) {
  const plus = new Set(terms?.filter((t) => t.weight > 0).map((t) => t.id));
  const minus = new Set(terms?.filter((t) => t.weight < 0).map((t) => t.id));
  return (
    <div className="nt-col" data-testid={testId}>
      <h3>{title}</h3>
      <p className="nt-readout">
        B ={' '}
        <strong className={col.readout === null ? undefined : col.readout > 0 ? 'pos' : 'neg'} data-testid={`${testId}-readout`}>
          {formatNumber(col.readout)}
        </strong>
      </p>
      {col.terms && (
        <p className="nt-terms" data-testid={`${testId}-terms`}>
          {col.terms.map((t) => (
            <span key={t.id} className={plus.has(t.id) ? 'nt-target' : 'nt-contrast'}>
              <span className="nt-text">{formatToken(t.text)}</span> {formatPercent(t.prob)} (#{t.rank})
            </span>
          ))}
        </p>
      )}
      <table className="nt-table">
        <caption className="sr-only">{title}: most probable next tokens</caption>
        <thead>
          <tr>
            <th scope="col">token</th>
            <th scope="col">p</th>
            <th scope="col">logit</th>
          </tr>
        </thead>
        <tbody>
          {col.tokens.map((t) => (
            <tr key={t.id} className={plus.has(t.id) ? 'nt-target' : minus.has(t.id) ? 'nt-contrast' : undefined}>
              <td className="nt-token">
                <span className="nt-bar" style={{ width: `${Math.min(100, 100 * t.prob)}%` }} aria-hidden="true" />
                <span className="nt-text">{formatToken(t.text)}</span>
              </td>
              <td>{formatPercent(t.prob)}</td>
              <td>{formatNumber(t.logit, 2)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function NextTokens() {
  const scenario = useStore((s) => s.scenario);
  const defence = useStore((s) => s.defence);
  const step = useThrottledStore((s) => s.step, 400);
  const status = useStore((s) => s.status);
  const [sample, setSample] = useState<number | null>(null);
  const [topK, setTopK] = useState(10);
  const [view, setView] = useState<NextTokenView | null>(null);
  const [error, setError] = useState<string | null>(null);
  // The latest wanted request, and whether one is in flight: a burst of changes (a running run) costs one request
  // at a time, always for what is wanted now.
  const wanted = useRef<{ sample: number; topK: number } | null>(null);
  const inFlight = useRef(false);

  // A new scenario starts from its first valid flip (the prompts the run is about); a new defence keeps the prompt.
  // biome-ignore lint/correctness/useExhaustiveDependencies: the scenario is the trigger
  useEffect(() => setSample(null), [scenario]);
  useEffect(() => {
    if (!defence) return;
    setSample((s) => (s !== null && s < defence.valid.length ? s : Math.max(0, defence.valid.indexOf(true))));
  }, [defence]);

  const shown = sample ?? 0;
  // biome-ignore lint/correctness/useExhaustiveDependencies: step and status are triggers (δ moved, a run ended or was reset), not inputs
  useEffect(() => {
    // Raw activations (the probe scenarios) have no language model to ask: the message below says so.
    if (!scenario || !defence || !scenario.samples.some((x) => x.tokens)) return;
    wanted.current = { sample: shown, topK };
    if (inFlight.current) return;
    inFlight.current = true;
    void (async () => {
      while (wanted.current) {
        const req = wanted.current;
        wanted.current = null;
        try {
          setView(await fetchNextTokens(req.sample, req.topK));
          setError(null);
        } catch (e) {
          setError((e as Error).message);
        }
      }
      inFlight.current = false;
    })();
  }, [scenario, defence, shown, topK, step, status]);

  if (!scenario) return <p className="muted">Load a scenario first.</p>;
  const hasTokens = scenario.samples.some((s) => s.tokens);
  if (!hasTokens) {
    return (
      <p className="muted" data-testid="next-tokens-none">
        This scenario reads activations without a language model: there are no next tokens to show.
      </p>
    );
  }
  const current = view && view.sample === shown ? view : null;
  return (
    <div data-testid="next-tokens">
      <p className="muted">
        What the model says next after the prompt, at B's read-out position: the base model, the defended model (the clamp active, the SAE's
        error term kept) and the recovered model (the clamp active plus the run's δ). Green rows are B's target token, red its contrast.
      </p>
      <div className="row">
        <label className="field">
          <span>Prompt</span>
          <select value={shown} onChange={(e) => setSample(Number(e.target.value))} data-testid="next-tokens-prompt">
            {scenario.samples.map((s, i) => (
              <option key={s.index} value={i}>
                {i}
                {defence?.valid[i] ? ' (valid flip)' : ''}: {s.label || s.tokens?.join(' ').slice(0, 60)}
              </option>
            ))}
          </select>
        </label>
        <label className="field narrow">
          <span>top-k</span>
          <select value={topK} onChange={(e) => setTopK(Number(e.target.value))}>
            {TOP_K.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      {current && (
        <>
          <p className="tokens nt-prompt" data-testid="next-tokens-prompt-tokens">
            {current.prompt.map((t, i) => (
              <span
                // biome-ignore lint/suspicious/noArrayIndexKey: a prompt's tokens never reorder; the same word can repeat
                key={i}
                className={i === current.position ? 'tok tok-delta' : 'tok'}
                title={`position ${i}${i === current.position ? ': the next token is predicted here' : ''}`}
              >
                {formatToken(t)}
              </span>
            ))}
            <span className="tok nt-next">→ ?</span>
          </p>
          {current.terms && <p className="muted small">B = {readoutText(current.terms)}</p>}
          <div className="nt-cols">
            <Column title="base" col={current.base} terms={current.terms} testId="nt-base" />
            <Column title="defended (clamp)" col={current.defended} terms={current.terms} testId="nt-defended" />
            <Column
              title={current.step === null ? 'recovered (no run yet: δ = 0)' : `recovered (clamp + δ, step ${current.step})`}
              col={current.recovered}
              terms={current.terms}
              testId="nt-recovered"
            />
          </div>
        </>
      )}
    </div>
  );
}
