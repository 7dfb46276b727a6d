// Inspecting a run: per-sample rows with the prompt's tokens (δ positions marked), the Jacobian panel, the
// recovery-path replay, a budget sweep, and saved runs.
import { useEffect, useRef, useState } from 'react';
import { useThrottledStore } from '../useThrottled.ts';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useStore } from '../store.ts';
import { ActionButton } from './ActionButton.tsx';
import { NextTokens } from './NextTokens.tsx';
import { TwoAxisChart } from './TwoAxisChart.tsx';
import { deleteRun, listRuns, type SavedRun } from '../persistence.ts';
import { downloadChartPng } from '../exports.ts';
import { formatNumber as f3, formatPercent, formatRate } from '../../core/format.ts';

function Tokens({ tokens, marked }: { tokens: string[]; marked: number[] }) {
  return (
    <span className="tokens">
      {tokens.map((t, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: a prompt's tokens never reorder; the same word can repeat
        <span key={i} className={marked.includes(i) ? 'tok tok-delta' : 'tok'} title={marked.includes(i) ? 'δ is added here' : undefined}>
          {t}
        </span>
      ))}
    </span>
  );
}

function Samples() {
  const samples = useThrottledStore((s) => s.samples, 1000, 50);
  const scenario = useStore((s) => s.scenario);
  const defence = useStore((s) => s.defence);
  const [onlyValid, setOnlyValid] = useState(false);
  const rows = samples.length
    ? samples
    : (defence?.valid.map((v, i) => ({
        index: i,
        base: defence.base[i],
        defended: defence.defended[i],
        recovered: NaN,
        valid: v,
        success: false,
        relDrift: NaN,
        absDrift: NaN,
      })) ?? []);
  const shown = rows.filter((r) => !onlyValid || r.valid).slice(0, 200);
  return (
    <div>
      <label className="field checkbox">
        <input type="checkbox" checked={onlyValid} onChange={(e) => setOnlyValid(e.target.checked)} />
        <span>valid flips only</span>
      </label>
      <section className="table-wrap tall" tabIndex={0} aria-label="Per-sample scores">
        <table className="samples" data-testid="samples-table">
          <caption className="sr-only">Per-sample scores</caption>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">prompt (δ positions highlighted)</th>
              <th scope="col">B base</th>
              <th scope="col">B defended</th>
              <th scope="col">B recovered</th>
              <th scope="col">valid</th>
              <th scope="col">recovered</th>
              <th scope="col">abs drift</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => {
              const info = scenario?.samples[r.index];
              return (
                <tr key={r.index}>
                  <td>{r.index}</td>
                  <td>
                    {info?.tokens ? (
                      <Tokens tokens={info.tokens} marked={info.deltaPositions} />
                    ) : (
                      <span className="muted">{info?.label || `activation row ${r.index}`}</span>
                    )}
                  </td>
                  <td>{f3(r.base)}</td>
                  <td>{f3(r.defended)}</td>
                  <td>{f3(r.recovered)}</td>
                  <td>{r.valid ? 'yes' : 'no'}</td>
                  <td>{r.valid ? (r.success ? '✔' : '✘') : ''}</td>
                  <td>{f3(r.absDrift)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
    </div>
  );
}

function Jacobian() {
  const j = useStore((s) => s.jacobian);
  return (
    <div data-testid="jacobian-panel">
      <p className="muted">
        J_S = diag(active)·W_enc[:, S]ᵀ at the δ positions: the directions the clamped features can see. Everything in its null space is
        invisible to them — and the behaviour gradient mostly lives there.
      </p>
      <ActionButton id="analyse-jacobian" label="Analyse" />
      {j && (
        <>
          <dl className="facts">
            <dt>rank</dt>
            <dd>{j.rank}</dd>
            <dt>null-space dimension (d − rank)</dt>
            <dd>
              {j.nullSpaceDim} of {j.d}
            </dd>
            <dt>live defended rows (mean)</dt>
            <dd>{f3(j.activeRows)}</dd>
            <dt>share of ‖∂B/∂h‖² in the null space of the live rows</dt>
            <dd data-testid="null-share">{formatPercent(j.gradientNullShare)}</dd>
            <dt>… in the null space of all of S (encoder projection)</dt>
            <dd>{formatPercent(j.gradientEncoderNullShare)}</dd>
          </dl>
          <div className="chart-body small-chart">
            <ResponsiveContainer width="100%" height="100%">
              <BarChart data={j.singularValues.map((v, i) => ({ i: i + 1, v }))}>
                <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
                <XAxis
                  dataKey="i"
                  tick={{ fontSize: 11 }}
                  label={{ value: 'singular value #', fontSize: 11, position: 'insideBottom', offset: -2 }}
                />
                <YAxis tick={{ fontSize: 11 }} width={40} />
                <Tooltip isAnimationActive={false} />
                <Bar dataKey="v" name="σ" fill="#1f5fbf" isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          </div>
        </>
      )}
    </div>
  );
}

function Replay() {
  const replay = useStore((s) => s.replay);
  const ref = useRef<HTMLDivElement>(null);
  return (
    <div data-testid="replay-panel">
      <p className="muted">
        δ split into the part that moves SAE features, D(E(h_rec)) − D(E(h_def)) (clamped / non-clamped / top-8 non-clamped), and the
        residual part the SAE does not see; each part replayed alone under the clamp.
      </p>
      <ActionButton id="analyse-replay" label="Replay the finished run" />
      {replay && (
        <div className="chart-body small-chart" ref={ref}>
          <ResponsiveContainer width="100%" height="100%">
            <BarChart
              data={replay.map((r) => ({ part: r.part, rate: r.rate ?? 0, share: r.normShare ?? 0 }))}
              layout="vertical"
              margin={{ left: 150 }}
            >
              <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
              <XAxis type="number" domain={[0, 1]} tick={{ fontSize: 11 }} />
              <YAxis type="category" dataKey="part" tick={{ fontSize: 11 }} width={150} />
              <Tooltip isAnimationActive={false} />
              <Legend wrapperStyle={{ fontSize: 11 }} />
              <Bar dataKey="rate" name="recovery rate when replayed alone" fill="#1f5fbf" isAnimationActive={false} />
              <Bar dataKey="share" name="‖part‖ / ‖δ‖" fill="#94a3b8" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </div>
      )}
      {replay && (
        <button
          type="button"
          className="btn btn-small"
          onClick={() => ref.current?.querySelector('svg') && void downloadChartPng(ref.current.querySelector('svg')!, 'unclamp-replay')}
        >
          PNG
        </button>
      )}
    </div>
  );
}

function Sweep() {
  const sweep = useStore((s) => s.sweep);
  return (
    <div data-testid="sweep-panel">
      <p className="muted">
        The same run at several budgets — κ, a share of the residual's norm, for a relative budget; ρ for an absolute one: how small can δ
        be and still bring the behaviour back?
      </p>
      <ActionButton id="analyse-sweep" label="Run the sweep" />
      {sweep && (
        <div className="chart-body small-chart">
          <TwoAxisChart
            data={sweep.map((r) => ({ budget: r.budget, rate: r.recoveryRate, drift: r.meanAbsDrift }))}
            x={{ key: 'budget', log: true, label: sweep[0]?.relative ? 'κ (ρ / residual norm)' : 'ρ' }}
            left={{ width: 36, domain: [0, 1] }}
            right={{ width: 44 }}
            series={[
              { key: 'rate', name: 'recovery rate', color: '#1f5fbf' },
              { key: 'drift', name: 'abs drift', color: '#c2410c', right: true },
            ]}
            legend
            dots
            connectNulls={false}
          />
        </div>
      )}
    </div>
  );
}

function Saved() {
  const result = useStore((s) => s.result);
  const [runs, setRuns] = useState<SavedRun[]>([]);
  // A finished run (a new result) is saved by the bridge: list again then.
  // biome-ignore lint/correctness/useExhaustiveDependencies: result is the trigger, not an input
  useEffect(() => {
    listRuns()
      .then(setRuns)
      .catch(() => setRuns([]));
  }, [result]);
  const view = (r: SavedRun) =>
    useStore.getState().set({ result: r.result, history: r.result.history, samples: r.result.samples, imported: true });
  return (
    <div data-testid="saved-runs">
      <div className="row">
        <ActionButton id="export-json" />
        <ActionButton id="export-csv" />
        <ActionButton id="import-json" />
      </div>
      {runs.length === 0 ? (
        <p className="muted">Finished runs are saved in this browser and listed here.</p>
      ) : (
        <ul className="saved">
          {runs.map((r) => (
            <li key={r.id}>
              <button type="button" className="btn btn-link" onClick={() => view(r)}>
                {new Date(r.savedAt).toLocaleString()} — {r.label}
              </button>
              <button
                type="button"
                className="btn btn-small"
                aria-label={`Delete saved run ${r.label}`}
                onClick={() => deleteRun(r.id).then(() => setRuns((x) => x.filter((y) => y.id !== r.id)))}
              >
                delete
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

const TABS = [
  { id: 'samples', label: 'Samples', body: Samples },
  { id: 'next-tokens', label: 'Next tokens', body: NextTokens },
  { id: 'jacobian', label: 'Jacobian', body: Jacobian },
  { id: 'replay', label: 'Recovery path', body: Replay },
  { id: 'sweep', label: 'Budget sweep', body: Sweep },
  { id: 'saved', label: 'Runs & files', body: Saved },
] as const;

export function Inspect() {
  const [tab, setTab] = useState<(typeof TABS)[number]['id']>('samples');
  const Body = TABS.find((t) => t.id === tab)!.body;
  const result = useStore((s) => s.result);
  return (
    <section className="panel" aria-label="Inspect" data-tour="inspect">
      {result && (
        <p className="summary" data-testid="result-summary">
          Recovered <strong>{result.aggregate.recovered}</strong> of {result.aggregate.validFlips} valid flips (
          {formatRate(result.aggregate)}, 95% CI); mean ‖δ‖ {f3(result.aggregate.meanDeltaNorm)} (
          {f3(result.aggregate.meanDeltaOverResidual)} of ‖h_def‖), abs drift {f3(result.aggregate.meanAbsDrift)}, reactivation{' '}
          {f3(result.aggregate.reactivation)}.
        </p>
      )}
      <div role="tablist" aria-label="Inspect" className="tabs">
        {TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            id={`tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={`tabpanel-${t.id}`}
            className={tab === t.id ? 'tab tab-active' : 'tab'}
            onClick={() => setTab(t.id)}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`tabpanel-${tab}`} aria-labelledby={`tab-${tab}`} className="tabpanel">
        <Body />
      </div>
    </section>
  );
}
