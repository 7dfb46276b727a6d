// A chart's frame: the caption with its PNG download, the chart, an optional note (the live charts and the Defences
// tab's charts share it).
import { useRef, type ReactNode } from 'react';
import { downloadChartPng } from '../exports.ts';

export function ChartFigure({
  id,
  title,
  points,
  note,
  children,
}: {
  id: string;
  title: string;
  /** How many points the chart draws (e2e specs read it). */
  points?: number;
  note?: ReactNode;
  children: ReactNode;
}) {
  const ref = useRef<HTMLElement>(null);
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
      {children}
      {note && <p className="chart-note">{note}</p>}
    </figure>
  );
}
