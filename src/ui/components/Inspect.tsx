// Inspecting a run: per-sample rows with the prompt's tokens (δ positions marked), the Jacobian panel, the
// recovery-path replay, a budget sweep, and saved runs.
import { useCallback, useEffect, useRef, useState } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useThrottledStore } from '../useThrottled.ts';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { type PlaygroundState, useStore } from '../store.ts';
import { ActionButton } from './ActionButton.tsx';
import { NextTokens } from './NextTokens.tsx';
import { TwoAxisChart } from './TwoAxisChart.tsx';
import { deleteRun, listRuns, type SavedRun } from '../persistence.ts';
import { downloadChartPng } from '../exports.ts';
import { formatNumber as f3, formatPercent, formatRate } from '../../core/format.ts';
import type { RecoveryResult } from '../../core/metrics.ts';

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

/** A sample row's height before it is measured (one line of tokens; a wrapped prompt is taller, measured once drawn). */
const SAMPLE_ROW_ESTIMATE = 40;

/**
 * The per-sample scores. Only the rows in view (and a few either side) are in the document: the whole table is
 * some 4,000 layout objects, and its layout and paint on every update during a run was a long main-thread task.
 * Rows keep their natural (wrapped) height, measured once drawn; spacer rows stand in for the rest, so the scroll
 * height and position are the full table's.
 */
function Samples() {
  const samples = useThrottledStore((s) => s.samples, 1000, 50);
  const scenario = useStore((s) => s.scenario);
  const defence = useStore((s) => s.defence);
  const [onlyValid, setOnlyValid] = useState(false);
  const scrollRef = useRef<HTMLElement>(null);
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
  // Keyed by the sample, so a measured height stays with its row when the filter changes.
  const shownRef = useRef(shown);
  shownRef.current = shown;
  const getItemKey = useCallback((i: number) => shownRef.current[i]?.index ?? i, []);
  const virtualizer = useVirtualizer({
    count: shown.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => SAMPLE_ROW_ESTIMATE,
    getItemKey,
    overscan: 6,
  });
  const items = virtualizer.getVirtualItems();
  const before = items.length ? items[0].start : 0;
  const after = items.length ? virtualizer.getTotalSize() - items[items.length - 1].end : 0;
  return (
    <div>
      <label className="field checkbox">
        <input type="checkbox" checked={onlyValid} onChange={(e) => setOnlyValid(e.target.checked)} />
        <span>valid flips only</span>
      </label>
      <section className="table-wrap tall" tabIndex={0} aria-label="Per-sample scores" ref={scrollRef}>
        <table className="samples" data-testid="samples-table" aria-rowcount={shown.length + 1}>
          <caption className="sr-only">Per-sample scores</caption>
          <thead>
            <tr aria-rowindex={1}>
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
            <SizerRow rows={shown} infos={scenario?.samples} />
            {before > 0 && <SpacerRow height={before} />}
            {items.map((item) => {
              const r = shown[item.index];
              const info = scenario?.samples[r.index];
              return (
                <tr key={item.key} data-index={item.index} ref={virtualizer.measureElement} aria-rowindex={item.index + 2}>
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
            {after > 0 && <SpacerRow height={after} />}
          </tbody>
        </table>
      </section>
    </div>
  );
}

/** What a row shows of a sample's scores. */
type SampleRow = Pick<PlaygroundState['samples'][number], 'index' | 'base' | 'defended' | 'recovered' | 'valid' | 'success' | 'absDrift'>;
type SampleInfo = NonNullable<PlaygroundState['scenario']>['samples'][number];

const longest = (xs: string[]) => xs.reduce((a, b) => (b.length > a.length ? b : a), '');

/** Text drawn by CSS (.sizer-row [data-text]::before): it counts in the layout but is not in the document's text. */
function SizerTokens({ tokens, marked }: { tokens: string[]; marked: number[] }) {
  return (
    <span className="tokens">
      {tokens.map((t, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: a prompt's tokens never reorder; the same word can repeat
        <span key={i} className={marked.includes(i) ? 'tok tok-delta' : 'tok'} data-text={t} />
      ))}
    </span>
  );
}

/**
 * A collapsed row (not drawn, no height) with the widest content of each column over all the rows (by characters):
 * the table's automatic layout sizes its columns by the rows in the document, and this keeps them as wide as the
 * whole table would make them, whichever rows are drawn. Its text is CSS's, so the table's text is the rows'.
 */
function SizerRow({ rows, infos }: { rows: SampleRow[]; infos: SampleInfo[] | undefined }) {
  // Characters are not pixels: the few longest prompts, one of which is the widest.
  const prompts: SampleInfo[] = [];
  let token = { text: '', marked: false };
  for (const r of rows) {
    const info = infos?.[r.index];
    if (!info?.tokens) continue;
    prompts.push(info);
    info.tokens.forEach((t, i) => {
      if (t.length > token.text.length) token = { text: t, marked: info.deltaPositions.includes(i) };
    });
  }
  const chars = (p: SampleInfo) => p.tokens!.join('').length + p.tokens!.length;
  const longestPrompts = prompts.sort((a, b) => chars(b) - chars(a)).slice(0, 6);
  const label = longest(rows.map((r) => (infos?.[r.index]?.tokens ? '' : infos?.[r.index]?.label || `activation row ${r.index}`)));
  const cell = (text: string) => <td data-text={text} aria-hidden="true" />;
  return (
    <tr className="sizer-row">
      {cell(longest(rows.map((r) => String(r.index))))}
      <td aria-hidden="true">
        {/* One below another: the longest prompts on one line set the column's widest, its longest token its narrowest. */}
        {longestPrompts.map((p) => (
          <div key={p.index}>
            <SizerTokens tokens={p.tokens!} marked={p.deltaPositions} />
          </div>
        ))}
        {token.text && (
          <div>
            <SizerTokens tokens={[token.text]} marked={token.marked ? [0] : []} />
          </div>
        )}
        {label && <div className="muted" data-text={label} />}
      </td>
      {cell(longest(rows.map((r) => f3(r.base))))}
      {cell(longest(rows.map((r) => f3(r.defended))))}
      {cell(longest(rows.map((r) => f3(r.recovered))))}
      {cell(longest(rows.map((r) => (r.valid ? 'yes' : 'no'))))}
      {cell(longest(rows.map((r) => (r.valid ? (r.success ? '✔' : '✘') : ''))))}
      {cell(longest(rows.map((r) => f3(r.absDrift))))}
    </tr>
  );
}

/** The height of the rows not drawn, above or below those in view. */
function SpacerRow({ height }: { height: number }) {
  return (
    <tr className="spacer-row" style={{ height }}>
      <td colSpan={8} aria-hidden="true" />
    </tr>
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

/** The defence a result ran under, as its config records it (absent: the paper's clamp). */
function resultDefence(result: RecoveryResult): string | null {
  const d = result.config.defence as { description?: unknown } | undefined;
  return typeof d?.description === 'string' ? d.description : null;
}

function ResultSummary({ result }: { result: RecoveryResult }) {
  const a = result.aggregate;
  const defence = resultDefence(result);
  return (
    <p className="summary" data-testid="result-summary">
      Recovered <strong>{a.recovered}</strong> of {a.validFlips} valid flips ({formatRate(a)}, 95% CI)
      {defence && (
        <>
          {' '}
          under <span data-testid="result-defence">{defence}</span>
        </>
      )}
      ; mean ‖δ‖ {f3(a.meanDeltaNorm)} ({f3(a.meanDeltaOverResidual)} of ‖h_def‖), abs drift {f3(a.meanAbsDrift)}, reactivation{' '}
      {f3(a.reactivation)}.
      {a.detectionRate !== undefined && (
        <>
          {' '}
          <span data-testid="result-detection">
            The detector flagged {formatPercent(a.detectionRate)} of the valid flips at the final δ (a flagged one counts as defended).
          </span>
        </>
      )}
    </p>
  );
}

export function Inspect() {
  const [tab, setTab] = useState<(typeof TABS)[number]['id']>('samples');
  const Body = TABS.find((t) => t.id === tab)!.body;
  const result = useStore((s) => s.result);
  return (
    <section className="panel" aria-label="Inspect" data-tour="inspect">
      {result && <ResultSummary result={result} />}
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
