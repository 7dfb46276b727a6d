// The Defences tab: the defence matrix (scenarios/defence-matrix.ts) run here on the playground's built-in scenario,
// or opened from `unclamp defences --json`. A heatmap of recovery per defence and attack (click a cell to open it
// in the playground), the detector's ROC from its score arrays, recovery against the budget per defence, and the
// checks of an honest robustness evaluation per defence.
import { useMemo, useRef, useState } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ReferenceDot, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useStore } from '../store.ts';
import type { DefenceMatrix, DefenceRow, MatrixCell } from '../../engine/protocol.ts';
import { DEFENCE_IDS, DEFENCE_TEXT } from '../../core/defence-kinds.ts';
import { PROJECTION_MODES } from '../../core/options.ts';
import { formatNumber as f3, formatPercent } from '../../core/format.ts';
import { ratesAt, roc } from '../../core/roc.ts';
import { isBuiltinScenarioId, SCENARIOS } from '../../scenarios/catalog.ts';
import { MATRIX_ATTACKERS } from '../matrix-file.ts';
import { MAX_PAGE_MATRIX_SEEDS, type MatrixOptions, saveMatrixOptions, toggled } from '../matrix-options.ts';
import { openCell } from '../engine/matrix.ts';
import { ChartFigure } from './ChartFigure.tsx';
import { runSettings } from '../config.ts';
import { ActionButton } from './ActionButton.tsx';
import { NumberInput } from './NumberInput.tsx';
import { TwoAxisChart } from './TwoAxisChart.tsx';

const COLORS = ['#1f5fbf', '#c2410c', '#15803d', '#7c3aed', '#0e7490', '#a16207', '#be185d', '#475569'];
const colorOf = (i: number) => COLORS[i % COLORS.length];

const MODE_TEXT: Record<string, string> = { none: 'none', encoder: 'encoder', jacobian: 'jacobian' };

function setOptions(patch: Partial<MatrixOptions>): void {
  const st = useStore.getState();
  const next = { ...st.matrixOptions, ...patch };
  st.set({ matrixOptions: next });
  saveMatrixOptions(next);
}

function MatrixControls() {
  const o = useStore((s) => s.matrixOptions);
  const config = useStore((s) => s.config);
  const progress = useStore((s) => s.matrixProgress);
  const builtin = isBuiltinScenarioId(config.scenario);
  const run = runSettings(config);
  const changed = Object.keys(config.run).filter((k) => k !== 'seed');
  const locked = Boolean(progress);
  return (
    <section className="panel" aria-labelledby="matrix-heading" data-testid="matrix-controls">
      <h2 id="matrix-heading">Defence matrix</h2>
      <p className="muted small">
        Each defence against the paper’s attacker (δ optimised against the paper’s clamp, then applied under the defence) and the adaptive
        attacker (δ optimised through the defence, and against its monitor) in each projection mode; with each defence’s cost on clean text,
        a random δ of the budget’s norm, and recovery against the budget. The same matrix as <code>unclamp defences</code>.
      </p>
      <p className="small" data-testid="matrix-scenario">
        {builtin ? (
          <>
            On <strong>{SCENARIOS[config.scenario].title}</strong>, the playground’s scenario, with{' '}
            {changed.length
              ? `its changed run settings (${changed.map((k) => `${k} ${String(run[k as keyof typeof run])}`).join(', ')})`
              : 'its own run settings'}
            .
          </>
        ) : (
          <span className="warn">
            The matrix runs on the built-in scenarios (IOI, refusal steering, TPP, unlearning); {SCENARIOS[config.scenario].title} is not
            one. Choose one in the playground, or open a matrix file.
          </span>
        )}
      </p>
      <fieldset className="row matrix-options" disabled={locked}>
        <legend className="sr-only">What the matrix runs</legend>
        <label className="field narrow">
          <span>Seeds</span>
          <NumberInput
            value={o.seeds}
            min={1}
            max={MAX_PAGE_MATRIX_SEEDS}
            integer
            outOfRange="clamp"
            testId="matrix-seeds"
            onChange={(seeds) => setOptions({ seeds })}
          />
        </label>
        <fieldset className="checks">
          <legend>Modes</legend>
          {PROJECTION_MODES.map((m) => (
            <label key={m} className="field checkbox">
              <input
                type="checkbox"
                checked={o.modes.includes(m)}
                data-testid={`matrix-mode-${m}`}
                onChange={(e) => setOptions({ modes: toggled(o.modes, m, e.target.checked, PROJECTION_MODES) })}
              />
              <span>{m}</span>
            </label>
          ))}
        </fieldset>
        <fieldset className="checks">
          <legend>Defences</legend>
          {DEFENCE_IDS.map((id) => (
            <label key={id} className="field checkbox" title={DEFENCE_TEXT[id].does}>
              <input
                type="checkbox"
                checked={o.defences.includes(id)}
                data-testid={`matrix-defence-${id}`}
                onChange={(e) => setOptions({ defences: toggled(o.defences, id, e.target.checked, DEFENCE_IDS) })}
              />
              <span>{DEFENCE_TEXT[id].label}</span>
            </label>
          ))}
        </fieldset>
      </fieldset>
      <div className="row">
        <ActionButton id="run-matrix" primary />
        <ActionButton id="cancel-matrix" />
        <ActionButton id="open-matrix" />
        <ActionButton id="save-matrix" />
      </div>
      {progress && (
        <div className="matrix-progress" data-testid="matrix-progress" aria-live="polite">
          <progress value={progress.done} max={Math.max(1, progress.total)} />
          <span>
            {progress.cancelling ? 'Cancelling after this stage: ' : ''}
            {progress.message}
            {progress.total > 0 && ` (stage ${progress.done + 1} of ${progress.total})`}
          </span>
        </div>
      )}
    </section>
  );
}

/** Light (no recovery: the defence holds) to dark red (every valid flip recovered). */
const STOPS: [number, [number, number, number]][] = [
  [0, [255, 247, 236]],
  [0.5, [252, 141, 89]],
  [1, [153, 0, 0]],
];
export function heatColor(rate: number): string {
  const r = Math.max(0, Math.min(1, rate));
  const i = r <= STOPS[1][0] ? 0 : 1;
  const [a, ca] = STOPS[i];
  const [b, cb] = STOPS[i + 1];
  const t = (r - a) / (b - a);
  const c = ca.map((x, k) => Math.round(x + t * (cb[k] - x)));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

const ciText = (ci: [number, number] | null) => (ci ? `[${(100 * ci[0]).toFixed(1)}, ${(100 * ci[1]).toFixed(1)}]` : '');

function CostLine({ row }: { row: DefenceRow }) {
  const u = row.cost.utility;
  return (
    <>
      without an attack it flips {row.cost.validFlips} of {row.cost.samples} samples
      {u
        ? `; ΔCE ${u.ceDefended - u.ceBase >= 0 ? '+' : ''}${f3(u.ceDefended - u.ceBase)} nats/token, KL ${f3(u.kl)}`
        : '; no utility cost measured'}
    </>
  );
}

function CellTip({ cell, row }: { cell: MatrixCell; row: DefenceRow }) {
  return (
    <>
      <strong>
        {row.description} · {cell.attacker} attacker · {cell.mode}
      </strong>
      <br />
      recovery {formatPercent(cell.rate)} {ciText(cell.ci)} (95% CI): {cell.recovered} of {cell.validFlips} valid flips
      <br />
      mean relative drift {f3(cell.meanRelDrift)}
      <br />
      {cell.detectionRate === null ? 'no detector' : `detection rate ${formatPercent(cell.detectionRate)} of the valid flips`}
      {cell.perSeed.length > 1 && (
        <>
          <br />
          per seed: {cell.perSeed.map((s) => `${s.seed}: ${s.recovered}/${s.validFlips}`).join(', ')}
        </>
      )}
      <br />
      cost: <CostLine row={row} />
      <br />
      <em>Click to open it in the playground.</em>
    </>
  );
}

function Heatmap({ m }: { m: DefenceMatrix }) {
  const wrap = useRef<HTMLDivElement>(null);
  const [tip, setTip] = useState<{ cell: MatrixCell; row: DefenceRow; x: number; y: number } | null>(null);
  const byKey = useMemo(() => new Map(m.cells.map((c) => [`${c.defence}|${c.attacker}|${c.mode}`, c])), [m]);
  const show = (el: HTMLElement, cell: MatrixCell, row: DefenceRow) => {
    const box = wrap.current?.getBoundingClientRect();
    const r = el.getBoundingClientRect();
    if (box) setTip({ cell, row, x: r.left - box.left + r.width / 2, y: r.bottom - box.top + 4 });
  };
  return (
    <section className="panel" aria-labelledby="heatmap-heading">
      <h3 id="heatmap-heading">Recovery rate by defence and attack</h3>
      {/* The tooltip sits beside the scrolling box, not in it (a scroll box clips what overflows it). */}
      <div className="heatmap-wrap" ref={wrap}>
        <div className="heatmap-scroll">
          <table className="heatmap" data-testid="matrix-heatmap">
            <caption className="sr-only">Recovery rate over valid flips; rows are defences, columns the attack (mode and attacker)</caption>
            <thead>
              <tr>
                <th scope="col" rowSpan={2}>
                  defence
                </th>
                {m.modes.map((mode) => (
                  <th key={mode} scope="colgroup" colSpan={MATRIX_ATTACKERS.length}>
                    {MODE_TEXT[mode] ?? mode}
                  </th>
                ))}
              </tr>
              <tr>
                {m.modes.flatMap((mode) =>
                  MATRIX_ATTACKERS.map((a) => (
                    <th key={`${mode}-${a}`} scope="col">
                      {a}
                    </th>
                  )),
                )}
              </tr>
            </thead>
            <tbody>
              {m.defences.map((row) => (
                <tr key={row.defence}>
                  <th scope="row" className="heat-row">
                    {row.description}
                    <small className="muted">{row.defence}</small>
                  </th>
                  {m.modes.flatMap((mode) =>
                    MATRIX_ATTACKERS.map((attacker) => {
                      const cell = byKey.get(`${row.defence}|${attacker}|${mode}`);
                      if (!cell)
                        return (
                          <td key={`${mode}-${attacker}`} className="heat-empty">
                            —
                          </td>
                        );
                      const rate = cell.rate;
                      return (
                        <td key={`${mode}-${attacker}`}>
                          <button
                            type="button"
                            className="heat-cell"
                            style={rate === null ? undefined : { background: heatColor(rate), color: rate > 0.55 ? '#fff' : 'var(--ink)' }}
                            data-testid="matrix-cell"
                            data-defence={row.defence}
                            data-attacker={attacker}
                            data-mode={mode}
                            data-rate={rate ?? ''}
                            aria-label={`${row.description}, ${attacker} attacker, ${mode}: ${formatPercent(rate)} recovered (${cell.recovered} of ${cell.validFlips}); open in the playground`}
                            onMouseEnter={(e) => show(e.currentTarget, cell, row)}
                            onMouseLeave={() => setTip(null)}
                            onFocus={(e) => show(e.currentTarget, cell, row)}
                            onBlur={() => setTip(null)}
                            onClick={() => void openCell(m, cell)}
                          >
                            {rate === null ? 'n/a' : formatPercent(rate, 0)}
                          </button>
                        </td>
                      );
                    }),
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {tip && (
          <div className="heat-tip" role="tooltip" data-testid="matrix-tooltip" style={{ left: tip.x, top: tip.y }}>
            <CellTip cell={tip.cell} row={tip.row} />
          </div>
        )}
      </div>
      <div className="heat-legend" aria-hidden="true">
        <span>0%</span>
        <span className="heat-bar" />
        <span>100% of valid flips recovered</span>
      </div>
    </section>
  );
}

function Badge({ ok, text, why }: { ok: boolean; text: string; why: string }) {
  return (
    <span className={`badge ${ok ? 'badge-ok' : 'badge-warn'}`} title={why} data-testid="matrix-check" data-ok={ok}>
      {text} {ok ? '✓' : '⚠'}
    </span>
  );
}

function Checks({ m }: { m: DefenceMatrix }) {
  return (
    <section className="panel" aria-labelledby="checks-heading">
      <h3 id="checks-heading">Cost and checks per defence</h3>
      <section className="table-wrap" tabIndex={0} aria-label="Cost and checks per defence">
        <table className="matrix-checks" data-testid="matrix-checks">
          <thead>
            <tr>
              <th scope="col">defence</th>
              <th scope="col">flips without attack</th>
              <th scope="col">ΔCE (nats/token)</th>
              <th scope="col">KL</th>
              <th scope="col">random δ</th>
              <th scope="col">checks</th>
            </tr>
          </thead>
          <tbody>
            {m.defences.map((row) => {
              const u = row.cost.utility;
              const [once, twice] = row.checks.stepsRates;
              return (
                <tr key={row.defence} data-defence={row.defence}>
                  <th scope="row">
                    {row.description}
                    {row.notes.length > 0 && <div className="muted small">{row.notes.join('; ')}</div>}
                  </th>
                  <td>
                    {row.cost.validFlips} of {row.cost.samples}
                  </td>
                  <td>{u ? f3(u.ceDefended - u.ceBase) : '—'}</td>
                  <td>{u ? f3(u.kl) : '—'}</td>
                  <td>
                    {formatPercent(row.random.rate)} ({row.random.recovered}/{row.random.validFlips})
                  </td>
                  <td className="badges">
                    <Badge
                      ok={row.checks.budgetMonotone}
                      text="budget"
                      why={
                        row.checks.budgetMonotone
                          ? 'Recovery does not fall as the budget grows.'
                          : 'Recovery falls as the budget grows: the attack is not converging, which is no evidence of robustness.'
                      }
                    />
                    <Badge
                      ok={row.checks.moreStepsNotLower}
                      text="steps"
                      why={`Twice the steps: ${formatPercent(once)} → ${formatPercent(twice)}. ${row.checks.moreStepsNotLower ? 'More steps do not lower recovery.' : 'More steps lower recovery: the attack is not converged.'}`}
                    />
                    <Badge
                      ok={row.checks.beatsRandom}
                      text={row.checks.beatsRandom ? 'beats random' : 'random'}
                      why={
                        row.checks.beatsRandom
                          ? 'The best attacker beats a random δ of the same norm.'
                          : 'The best attacker does not beat a random δ of the same norm: the defence may only have beaten the gradient attacker.'
                      }
                    />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
    </section>
  );
}

/** The monitor's ROC per detecting defence: clean held-out inputs against the valid flips each attacker left. */
function RocChart({ m }: { m: DefenceMatrix }) {
  const curves = useMemo(
    () =>
      m.defences.flatMap((row, i) => {
        const d = row.detector;
        if (!d) return [];
        return MATRIX_ATTACKERS.map((attacker) => {
          const r = roc(d.cleanScores, d.attackedScores[attacker]);
          return {
            key: `${row.defence}-${attacker}`,
            name: `${row.defence} · ${attacker} (AUC ${r.auc === null ? '—' : r.auc.toFixed(2)})`,
            color: colorOf(i),
            dash: attacker === 'adaptive' ? '6 3' : undefined,
            points: r.points,
            at: ratesAt(d.cleanScores, d.attackedScores[attacker], d.threshold),
          };
        });
      }),
    [m],
  );
  const drawn = curves.filter((c) => c.points.length);
  return (
    <ChartFigure
      id="roc"
      title="Detector ROC: clean held-out vs attacked inputs"
      note={
        drawn.length
          ? 'Solid: the paper’s attacker; dashed: the adaptive attacker, who knows the monitor. A dot marks the detector’s own threshold.'
          : undefined
      }
    >
      {drawn.length ? (
        <div className="chart-body matrix-chart" data-curves={drawn.length}>
          <ResponsiveContainer width="100%" height="100%">
            <LineChart margin={{ top: 8, right: 12, bottom: 4, left: 0 }}>
              <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
              <XAxis
                type="number"
                dataKey="fpr"
                domain={[0, 1]}
                tick={{ fontSize: 11 }}
                height={36}
                label={{ value: 'false-positive rate (clean held-out inputs)', fontSize: 11, position: 'insideBottom', offset: 0 }}
              />
              <YAxis
                type="number"
                domain={[0, 1]}
                tick={{ fontSize: 11 }}
                width={48}
                label={{ value: 'true-positive rate', fontSize: 11, angle: -90, position: 'insideLeft', offset: 4, dy: 50 }}
              />
              <ReferenceLine
                segment={[
                  { x: 0, y: 0 },
                  { x: 1, y: 1 },
                ]}
                stroke="#94a3b8"
                strokeDasharray="2 3"
              />
              <Tooltip isAnimationActive={false} formatter={(v) => (typeof v === 'number' ? v.toFixed(3) : String(v))} />
              <Legend wrapperStyle={{ fontSize: 11 }} />
              {drawn.map((c) => (
                <Line
                  key={c.key}
                  data={c.points.map((p) => ({ fpr: p.fpr, tpr: p.tpr }))}
                  dataKey="tpr"
                  name={c.name}
                  stroke={c.color}
                  strokeWidth={2}
                  {...(c.dash ? { strokeDasharray: c.dash } : {})}
                  dot={false}
                  isAnimationActive={false}
                />
              ))}
              {drawn.map((c) =>
                c.at.fpr !== null && c.at.tpr !== null ? (
                  <ReferenceDot key={`${c.key}-at`} x={c.at.fpr} y={c.at.tpr} r={4} fill={c.color} stroke="#fff" />
                ) : null,
              )}
            </LineChart>
          </ResponsiveContainer>
        </div>
      ) : (
        <p className="muted small" data-testid="roc-empty">
          No defence in this matrix has a detector: add “{DEFENCE_TEXT.detect.label}” to see its ROC.
        </p>
      )}
    </ChartFigure>
  );
}

/** The adaptive attacker's recovery against budget multiples, one line per defence; the curve's area in the legend. */
function BudgetChart({ m }: { m: DefenceMatrix }) {
  const { data, series } = useMemo(() => {
    const multiples = [...new Set(m.defences.flatMap((r) => r.budgetCurve.map((p) => p.multiple)))].sort((a, b) => a - b);
    const rows = multiples.map((multiple) => {
      const row: Record<string, number | null> = { multiple };
      m.defences.forEach((d, i) => {
        row[`d${i}`] = d.budgetCurve.find((p) => p.multiple === multiple)?.rate ?? null;
      });
      return row;
    });
    return {
      data: rows,
      series: m.defences.map((d, i) => ({
        key: `d${i}`,
        name: `${d.defence} (AUC ${d.auc === null ? '—' : d.auc.toFixed(3)})`,
        color: colorOf(i),
        strokeWidth: 2,
      })),
    };
  }, [m]);
  return (
    <ChartFigure
      id="budget-curves"
      title={`Recovery vs budget (adaptive attacker, ${m.curveMode}, seed ${m.seeds[0]})`}
      note="x: multiples of the scenario's budget ρ; AUC: the area under each curve over x / largest multiple."
    >
      {data.length ? (
        <div className="chart-body matrix-chart" data-curves={series.length}>
          <TwoAxisChart
            data={data}
            x={{ key: 'multiple', log: true, label: 'budget × ρ' }}
            left={{ width: 36, domain: [0, 1] }}
            series={series}
            legend
            dots
            connectNulls={false}
            tooltipFormatter={(v) => (typeof v === 'number' ? formatPercent(v) : String(v))}
            margin={{ top: 8, right: 12, bottom: 14, left: 0 }}
          />
        </div>
      ) : (
        <p className="muted small">This matrix has no budget curve.</p>
      )}
    </ChartFigure>
  );
}

function MatrixResults({ m }: { m: DefenceMatrix }) {
  const source = useStore((s) => s.matrixSource);
  return (
    <div className="matrix-results" data-testid="matrix-results">
      <p className="small" data-testid="matrix-summary">
        <strong>{m.title || m.scenario}</strong> ({m.scenario}) · seeds {m.seeds.join(', ')} · modes {m.modes.join(', ')} ·{' '}
        {m.defences.length} defences · λ_detect {m.lambdaDetect} · {m.durationS.toFixed(0)} s
        {Object.keys(m.settings).length > 0 && ` · settings ${JSON.stringify(m.settings)}`}
        {source && <span className="muted"> · {source}</span>}
      </p>
      <Heatmap m={m} />
      <div className="charts matrix-charts">
        <RocChart m={m} />
        <BudgetChart m={m} />
      </div>
      <Checks m={m} />
    </div>
  );
}

export function DefencesView() {
  const matrix = useStore((s) => s.matrix);
  return (
    <div className="defences-view">
      <MatrixControls />
      {matrix ? (
        <MatrixResults m={matrix} />
      ) : (
        <p className="muted panel" data-testid="matrix-none">
          No matrix yet: run one here (one seed takes about a minute on the built-in scenarios) or open a file written by{' '}
          <code>unclamp defences --json</code>.
        </p>
      )}
    </div>
  );
}
