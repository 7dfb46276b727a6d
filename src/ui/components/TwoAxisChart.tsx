// The playground's line chart: a numeric x-axis (the step, or a sweep's budget), a left y-axis and an optional
// right one, lines (or a shaded band) on either, and horizontal reference lines. Animations are off: the data
// change with every step.
import type { ComponentProps } from 'react';
import { Area, CartesianGrid, ComposedChart, Legend, Line, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

type Domain = ComponentProps<typeof YAxis>['domain'];
type LabelPosition = 'insideTopLeft' | 'insideBottomLeft' | 'insideTopRight' | 'insideBottomRight';

export interface ChartAxis {
  /** Room for the tick labels, in pixels. */
  width: number;
  domain?: Domain;
  tickFormatter?: (v: number) => string;
}

export interface ChartSeries {
  /** The field of each data row that is drawn. */
  key: string;
  /** The name the tooltip (and a Recharts legend) gives it. */
  name: string;
  color: string;
  /** On the right y-axis; the left one otherwise. */
  right?: boolean;
  strokeWidth?: number;
  dash?: string;
  /** A [low, high] field drawn as a shaded band, with no line. */
  band?: boolean;
}

export interface ChartReferenceLine {
  /** On the left y-axis. */
  y: number;
  label: string;
  labelPosition: LabelPosition;
  color: string;
  dash: string;
}

// Recharts finds an axis, a line or a tooltip among the chart's direct children by type, so each is made here as
// an element (in the order Recharts draws them), never wrapped in a component of our own.
export function TwoAxisChart({
  data,
  x,
  left,
  right,
  series,
  referenceLines = [],
  margin,
  tooltip = true,
  tooltipFormatter,
  legend = false,
  dots = false,
  connectNulls = true,
}: {
  data: object[];
  x: { key: string; log?: boolean; label?: string };
  left: ChartAxis;
  right?: ChartAxis;
  /** Drawn in this order: a later series lies over an earlier one. */
  series: ChartSeries[];
  referenceLines?: ChartReferenceLine[];
  margin?: { top: number; right: number; bottom: number; left: number };
  /** Off while the data move: a tooltip under the pointer would redraw with every update. */
  tooltip?: boolean;
  tooltipFormatter?: (value: unknown) => string;
  /** Recharts' own legend, for a chart drawn once; a live chart's legend lives outside the chart. */
  legend?: boolean;
  /** Mark each point: for a few measured points, not a long run. */
  dots?: boolean;
  /** Draw across a missing value (a pinned run's steps missing from the live run's rows) rather than break. */
  connectNulls?: boolean;
}) {
  const axis = (a: ChartAxis, id: 'left' | 'right') => (
    <YAxis
      key={id}
      yAxisId={id}
      {...(id === 'right' ? { orientation: 'right' as const } : {})}
      {...(a.domain ? { domain: a.domain } : {})}
      {...(a.tickFormatter ? { tickFormatter: a.tickFormatter } : {})}
      tick={{ fontSize: 11 }}
      width={a.width}
    />
  );
  return (
    <ResponsiveContainer width="100%" height="100%">
      <ComposedChart data={data} {...(margin ? { margin } : {})}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        <XAxis
          dataKey={x.key}
          {...(x.log ? { scale: 'log' as const } : {})}
          type="number"
          domain={['dataMin', 'dataMax']}
          tick={{ fontSize: 11 }}
          {...(x.label ? { label: { value: x.label, fontSize: 11, position: 'insideBottom' as const, offset: -2 } } : {})}
        />
        {axis(left, 'left')}
        {right && axis(right, 'right')}
        {tooltip && <Tooltip {...(tooltipFormatter ? { formatter: tooltipFormatter } : {})} isAnimationActive={false} />}
        {legend && <Legend wrapperStyle={{ fontSize: 11 }} />}
        {referenceLines.map((r) => (
          <ReferenceLine
            key={r.label}
            yAxisId="left"
            y={r.y}
            ifOverflow="extendDomain"
            stroke={r.color}
            strokeDasharray={r.dash}
            label={{ value: r.label, fontSize: 10, position: r.labelPosition }}
          />
        ))}
        {series.map((s) =>
          s.band ? (
            <Area
              key={s.key}
              yAxisId={s.right ? 'right' : 'left'}
              dataKey={s.key}
              name={s.name}
              stroke="none"
              fill={s.color}
              fillOpacity={0.15}
              isAnimationActive={false}
            />
          ) : (
            <Line
              key={s.key}
              yAxisId={s.right ? 'right' : 'left'}
              dataKey={s.key}
              name={s.name}
              stroke={s.color}
              {...(s.strokeWidth ? { strokeWidth: s.strokeWidth } : {})}
              {...(s.dash ? { strokeDasharray: s.dash } : {})}
              {...(dots ? {} : { dot: false })}
              isAnimationActive={false}
              {...(connectNulls ? { connectNulls: true } : {})}
            />
          ),
        )}
      </ComposedChart>
    </ResponsiveContainer>
  );
}
