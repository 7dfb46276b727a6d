// Live charts of the run (Recharts, animations off; the store already throttles updates and the series
// are decimated). Pinned runs are overlaid as dashed lines.
import { memo, useMemo, useRef, type ReactElement, type ReactNode } from 'react';
import { useThrottledStore } from '../useThrottled.ts';
import { Area, CartesianGrid, ComposedChart, Line, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useStore } from '../store.ts';
import { chartPoints, type ChartPoint } from '../series.ts';
import { downloadChartPng } from '../exports.ts';
import { formatNumber } from '../../core/format.ts';

const COLORS = ['#1f5fbf', '#c2410c', '#15803d', '#7c3aed'];
const PIN_COLORS = ['#64748b', '#94a3b8', '#a16207'];

interface LegendItem {
  label: string;
  color: string;
  dashed?: boolean;
}

/** A plain HTML legend: cheaper than Recharts' own, which re-renders with every data update. */
function ChartLegend({ items }: { items: LegendItem[] }) {
  return (
    <ul className="legend">
      {items.map((it) => (
        <li key={it.label}>
          <span className="swatch" style={{ borderTopColor: it.color, borderTopStyle: it.dashed ? 'dashed' : 'solid' }} />
          {it.label}
        </li>
      ))}
    </ul>
  );
}

function ChartCard({
  id,
  title,
  points,
  children,
  note,
  legend,
}: {
  id: string;
  title: string;
  points: number;
  children: ReactElement;
  note?: ReactNode;
  legend: LegendItem[];
}) {
  const ref = useRef<HTMLDivElement>(null);
  return (
    <figure className="chart" data-testid={`chart-${id}`} data-points={points} ref={ref}>
      <figcaption>
        <span>{title}</span>
        <button
          type="button"
          className="btn btn-small"
          aria-label={`Download the ${title} chart as PNG`}
          onClick={() => {
            const svg = ref.current?.querySelector('svg.recharts-surface') as SVGSVGElement | null;
            if (svg) void downloadChartPng(svg, `unclamp-${id}`);
          }}
        >
          PNG
        </button>
      </figcaption>
      <div className="chart-body">
        <ResponsiveContainer width="100%" height="100%">
          {children}
        </ResponsiveContainer>
      </div>
      <ChartLegend items={legend} />
      {note && <p className="chart-note">{note}</p>}
    </figure>
  );
}

/** Merge the live series with pinned ones on the step axis (pinned keys: pin0_rate, …). */
function useSeries(offset: number): { data: ChartPoint[]; pins: { key: string; label: string }[]; live: number; still: boolean } {
  // Each chart takes the history on its own beat (every 400 ms, staggered), so no single task redraws all four.
  const history = useThrottledStore((s) => s.history, 400, offset);
  const pinned = useStore((s) => s.pinned);
  const valid = useStore((s) => s.result?.aggregate.validFlips ?? s.defence?.validFlips ?? 0);
  const running = useStore((s) => s.status === 'running');
  return useMemo(() => {
    const live = chartPoints(history, valid, running ? 80 : 200);
    const byStep = new Map<number, ChartPoint>(live.map((p) => [p.step, { ...p }]));
    const pins = pinned.map((p, i) => ({ key: `pin${i}`, label: p.label }));
    pinned.forEach((p, i) => {
      for (const q of chartPoints(p.history, valid)) {
        const row =
          byStep.get(q.step) ??
          ({
            step: q.step,
            rate: null,
            band: null,
            relDrift: null,
            absDrift: null,
            residual: null,
            delta: null,
            objective: null,
          } as ChartPoint);
        row[`pin${i}_rate`] = q.rate;
        row[`pin${i}_absDrift`] = q.absDrift;
        row[`pin${i}_residual`] = q.residual;
        row[`pin${i}_delta`] = q.delta;
        byStep.set(q.step, row);
      }
    });
    return { data: [...byStep.values()].sort((a, b) => a.step - b.step), pins, live: live.length, still: !running };
  }, [history, pinned, valid, running]);
}

const fmt = (v: unknown) => (typeof v === 'number' ? formatNumber(v) : String(v));
const MARGIN = { top: 8, right: 12, bottom: 4, left: 0 };
const xAxis = <XAxis dataKey="step" type="number" domain={['dataMin', 'dataMax']} tick={{ fontSize: 11 }} />;
const pinLines = (pins: { key: string; label: string }[], field: string, yAxisId?: string) =>
  pins.map((p, i) => (
    <Line
      key={p.key}
      {...(yAxisId ? { yAxisId } : {})}
      dataKey={`${p.key}_${field}`}
      name={p.label}
      stroke={PIN_COLORS[i % PIN_COLORS.length]}
      strokeDasharray="5 4"
      dot={false}
      isAnimationActive={false}
      connectNulls
    />
  ));

const RateChart = memo(function RateChart() {
  const { data, pins, live, still } = useSeries(0);
  return (
    <ChartCard
      id="rate"
      title="Recovery rate over valid flips (95% Wilson band)"
      points={live}
      legend={[
        { label: 'recovery rate', color: COLORS[0] },
        { label: '95% CI', color: '#bfdbfe' },
        ...pins.map((p, i) => ({ label: p.label, color: PIN_COLORS[i % PIN_COLORS.length], dashed: true })),
      ]}
    >
      <ComposedChart data={data} margin={MARGIN}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        {xAxis}
        <YAxis domain={[0, 1]} tick={{ fontSize: 11 }} width={36} />
        {still && <Tooltip formatter={fmt} isAnimationActive={false} />}
        <Area dataKey="band" stroke="none" fill={COLORS[0]} fillOpacity={0.15} isAnimationActive={false} name="95% CI" />
        <Line dataKey="rate" name="recovery rate" stroke={COLORS[0]} dot={false} strokeWidth={2} isAnimationActive={false} connectNulls />
        {pinLines(pins, 'rate')}
      </ComposedChart>
    </ChartCard>
  );
});

const DriftChart = memo(function DriftChart() {
  const { data, pins, live, still } = useSeries(100);
  return (
    <ChartCard
      id="drift"
      title="Defended-feature drift"
      points={live}
      legend={[
        { label: 'absolute ‖Δz_S‖ (left)', color: COLORS[1] },
        { label: 'relative (right)', color: COLORS[3] },
        ...pins.map((p, i) => ({ label: p.label, color: PIN_COLORS[i % PIN_COLORS.length], dashed: true })),
      ]}
      note="Relative drift divides by ‖z_S(h_def)‖, which is ~0 after zero-ablation: read the absolute drift then."
    >
      <ComposedChart data={data} margin={MARGIN}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        {xAxis}
        <YAxis yAxisId="abs" tick={{ fontSize: 11 }} width={44} />
        <YAxis yAxisId="rel" orientation="right" tick={{ fontSize: 11 }} width={52} />
        {still && <Tooltip formatter={fmt} isAnimationActive={false} />}
        <Line
          yAxisId="abs"
          dataKey="absDrift"
          name="absolute ‖Δz_S‖"
          stroke={COLORS[1]}
          dot={false}
          strokeWidth={2}
          isAnimationActive={false}
          connectNulls
        />
        <Line yAxisId="rel" dataKey="relDrift" name="relative" stroke={COLORS[3]} dot={false} isAnimationActive={false} connectNulls />
        {pinLines(pins, 'absDrift', 'abs')}
      </ComposedChart>
    </ChartCard>
  );
});

/** The y-range covering the live series and the two reference norms, padded a little. */
function residualDomain(data: ChartPoint[], refs: (number | undefined)[]): [number, number] | ['auto', 'auto'] {
  const vals = [...data.map((d) => d.residual), ...refs].filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (!vals.length) return ['auto', 'auto'];
  const lo = Math.min(...vals),
    hi = Math.max(...vals);
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.08;
  return [lo - pad, hi + pad];
}

const ResidualChart = memo(function ResidualChart() {
  const { data, pins, live, still } = useSeries(200);
  const defence = useStore((s) => s.defence);
  const mean = (a?: ArrayLike<number>) => (a?.length ? Array.from(a).reduce((x, y) => x + y, 0) / a.length : undefined);
  const eDef = mean(defence?.residualDefended);
  const eBase = mean(defence?.residualBase);
  return (
    <ChartCard
      id="residual"
      title="SAE error norm ‖e(h_rec)‖ at the δ positions"
      points={live}
      legend={[
        { label: '‖e(h_rec)‖', color: COLORS[2] },
        { label: '‖e(h_def)‖', color: '#475569', dashed: true },
        { label: '‖e(h)‖', color: '#94a3b8', dashed: true },
        ...pins.map((p, i) => ({ label: p.label, color: PIN_COLORS[i % PIN_COLORS.length], dashed: true })),
      ]}
      note="Recovery tends to flow through the error term the clamp leaves untouched."
    >
      <ComposedChart data={data} margin={MARGIN}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        {xAxis}
        <YAxis
          tick={{ fontSize: 11 }}
          width={44}
          domain={residualDomain(data, [eDef, eBase])}
          tickFormatter={(v: number) => v.toFixed(2)}
        />
        {still && <Tooltip formatter={fmt} isAnimationActive={false} />}
        {eDef !== undefined && (
          <ReferenceLine
            y={eDef}
            ifOverflow="extendDomain"
            stroke="#475569"
            strokeDasharray="4 4"
            label={{ value: '‖e(h_def)‖', fontSize: 10, position: 'insideTopLeft' }}
          />
        )}
        {eBase !== undefined && (
          <ReferenceLine
            y={eBase}
            ifOverflow="extendDomain"
            stroke="#94a3b8"
            strokeDasharray="2 3"
            label={{ value: '‖e(h)‖', fontSize: 10, position: 'insideBottomLeft' }}
          />
        )}
        <Line dataKey="residual" name="‖e(h_rec)‖" stroke={COLORS[2]} dot={false} strokeWidth={2} isAnimationActive={false} connectNulls />
        {pinLines(pins, 'residual')}
      </ComposedChart>
    </ChartCard>
  );
});

const DeltaChart = memo(function DeltaChart() {
  const { data, live, still } = useSeries(300);
  return (
    <ChartCard
      id="delta"
      title="‖δ‖ and the objective (mean B)"
      points={live}
      legend={[
        { label: 'mean ‖δ‖ (left)', color: COLORS[3] },
        { label: 'objective (right)', color: COLORS[0] },
      ]}
    >
      <ComposedChart data={data} margin={MARGIN}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        {xAxis}
        <YAxis yAxisId="d" tick={{ fontSize: 11 }} width={44} />
        <YAxis yAxisId="o" orientation="right" tick={{ fontSize: 11 }} width={44} />
        {still && <Tooltip formatter={fmt} isAnimationActive={false} />}
        <Line
          yAxisId="d"
          dataKey="delta"
          name="mean ‖δ‖"
          stroke={COLORS[3]}
          dot={false}
          strokeWidth={2}
          isAnimationActive={false}
          connectNulls
        />
        <Line yAxisId="o" dataKey="objective" name="objective" stroke={COLORS[0]} dot={false} isAnimationActive={false} connectNulls />
      </ComposedChart>
    </ChartCard>
  );
});

export function Charts() {
  return (
    <section className="charts" aria-label="Live charts" data-tour="charts">
      <RateChart />
      <DriftChart />
      <ResidualChart />
      <DeltaChart />
    </section>
  );
}
