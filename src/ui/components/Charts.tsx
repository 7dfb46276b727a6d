// Live charts of the run (Recharts, animations off; the store already throttles updates and the series
// are decimated). Pinned runs are overlaid as dashed lines.
import { memo, useMemo, type ReactElement, type ReactNode } from 'react';
import { sameItems, useThrottledStore } from '../useThrottled.ts';
import { useStore } from '../store.ts';
import { chartPoints, type ChartPoint } from '../series.ts';
import { ChartFigure } from './ChartFigure.tsx';
import { formatNumber } from '../../core/format.ts';
import { type ChartReferenceLine, type ChartSeries, TwoAxisChart } from './TwoAxisChart.tsx';

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
  return (
    <ChartFigure id={id} title={title} points={points} note={note}>
      <div className="chart-body">{children}</div>
      <ChartLegend items={legend} />
    </ChartFigure>
  );
}

/** Merge the live series with pinned ones on the step axis (pinned keys: pin0_rate, …). */
function useSeries(offset: number): { data: ChartPoint[]; pins: { key: string; label: string }[]; live: number; still: boolean } {
  // Each chart takes the history on its own beat (every 400 ms, staggered), so no single task redraws all four.
  // The run's status comes on the same beat: a status change at the start or end of a run would otherwise redraw
  // all four charts in one task (zustand updates are not time-sliced).
  const [history, running] = useThrottledStore((s) => [s.history, s.status === 'running'] as const, 400, offset, sameItems);
  const pinned = useStore((s) => s.pinned);
  const valid = useStore((s) => s.result?.aggregate.validFlips ?? s.defence?.validFlips ?? 0);
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
const STEP = { key: 'step' };

type Pins = { key: string; label: string }[];
const pinColor = (i: number) => PIN_COLORS[i % PIN_COLORS.length];
/** Each pinned run's copy of a series, dashed, on the left axis. */
const pinSeries = (pins: Pins, field: string): ChartSeries[] =>
  pins.map((p, i) => ({ key: `${p.key}_${field}`, name: p.label, color: pinColor(i), dash: '5 4' }));
const pinLegend = (pins: Pins): LegendItem[] => pins.map((p, i) => ({ label: p.label, color: pinColor(i), dashed: true }));

/** The settings every live chart shares; a paused or finished run (`still`) gets a tooltip. */
const liveChart = (data: ChartPoint[], still: boolean) => ({ data, x: STEP, margin: MARGIN, tooltip: still, tooltipFormatter: fmt });

const RateChart = memo(function RateChart() {
  const { data, pins, live: points, still } = useSeries(0);
  return (
    <ChartCard
      id="rate"
      title="Recovery rate over valid flips (95% Wilson band)"
      points={points}
      legend={[{ label: 'recovery rate', color: COLORS[0] }, { label: '95% CI', color: '#bfdbfe' }, ...pinLegend(pins)]}
    >
      <TwoAxisChart
        {...liveChart(data, still)}
        left={{ width: 36, domain: [0, 1] }}
        series={[
          { key: 'band', name: '95% CI', color: COLORS[0], band: true },
          { key: 'rate', name: 'recovery rate', color: COLORS[0], strokeWidth: 2 },
          ...pinSeries(pins, 'rate'),
        ]}
      />
    </ChartCard>
  );
});

const DriftChart = memo(function DriftChart() {
  const { data, pins, live: points, still } = useSeries(100);
  return (
    <ChartCard
      id="drift"
      title="Defended-feature drift"
      points={points}
      legend={[{ label: 'absolute ‖Δz_S‖ (left)', color: COLORS[1] }, { label: 'relative (right)', color: COLORS[3] }, ...pinLegend(pins)]}
      note="Relative drift divides by ‖z_S(h_def)‖, which is ~0 after zero-ablation: read the absolute drift then."
    >
      <TwoAxisChart
        {...liveChart(data, still)}
        left={{ width: 44 }}
        right={{ width: 52 }}
        series={[
          { key: 'absDrift', name: 'absolute ‖Δz_S‖', color: COLORS[1], strokeWidth: 2 },
          { key: 'relDrift', name: 'relative', color: COLORS[3], right: true },
          ...pinSeries(pins, 'absDrift'),
        ]}
      />
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
  const { data, pins, live: points, still } = useSeries(200);
  const defence = useStore((s) => s.defence);
  const mean = (a?: ArrayLike<number>) => (a?.length ? Array.from(a).reduce((x, y) => x + y, 0) / a.length : undefined);
  const eDef = mean(defence?.residualDefended);
  const eBase = mean(defence?.residualBase);
  const refs: ChartReferenceLine[] = [];
  if (eDef !== undefined) refs.push({ y: eDef, label: '‖e(h_def)‖', labelPosition: 'insideTopLeft', color: '#475569', dash: '4 4' });
  if (eBase !== undefined) refs.push({ y: eBase, label: '‖e(h)‖', labelPosition: 'insideBottomLeft', color: '#94a3b8', dash: '2 3' });
  return (
    <ChartCard
      id="residual"
      title="SAE error norm ‖e(h_rec)‖ at the δ positions"
      points={points}
      legend={[
        { label: '‖e(h_rec)‖', color: COLORS[2] },
        { label: '‖e(h_def)‖', color: '#475569', dashed: true },
        { label: '‖e(h)‖', color: '#94a3b8', dashed: true },
        ...pinLegend(pins),
      ]}
      note="Recovery tends to flow through the error term the clamp leaves untouched."
    >
      <TwoAxisChart
        {...liveChart(data, still)}
        left={{ width: 44, domain: residualDomain(data, [eDef, eBase]), tickFormatter: (v) => v.toFixed(2) }}
        referenceLines={refs}
        series={[{ key: 'residual', name: '‖e(h_rec)‖', color: COLORS[2], strokeWidth: 2 }, ...pinSeries(pins, 'residual')]}
      />
    </ChartCard>
  );
});

const DeltaChart = memo(function DeltaChart() {
  const { data, live: points, still } = useSeries(300);
  return (
    <ChartCard
      id="delta"
      title="‖δ‖ and the objective (mean B)"
      points={points}
      legend={[
        { label: 'mean ‖δ‖ (left)', color: COLORS[3] },
        { label: 'objective (right)', color: COLORS[0] },
      ]}
    >
      <TwoAxisChart
        {...liveChart(data, still)}
        left={{ width: 44 }}
        right={{ width: 44 }}
        series={[
          { key: 'delta', name: 'mean ‖δ‖', color: COLORS[3], strokeWidth: 2 },
          { key: 'objective', name: 'objective', color: COLORS[0], right: true },
        ]}
      />
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
