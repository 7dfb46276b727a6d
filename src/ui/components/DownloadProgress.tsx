// One bar per file of a Hub download: bytes, rate and time left, or "from this browser's cache".
import { formatBytes as formatBytesIn } from '../../core/format.ts';
import type { DownloadProgress as Progress } from '../../io/hub-download.ts';

const formatBytes = (n: number) => formatBytesIn(n, { precise: true });

function formatSeconds(s: number): string {
  if (s < 1) return 'under a second';
  if (s < 90) return `${Math.round(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function progressText(p: Progress): string {
  if (p.state === 'cache') return `${formatBytes(p.received)} · from this browser's cache${p.note ? ` (${p.note})` : ''}`;
  const of = p.total !== null ? `${formatBytes(p.received)} of ${formatBytes(p.total)}` : formatBytes(p.received);
  if (p.state === 'done') return `${of} · done${p.note ? ` (${p.note})` : ''}`;
  if (p.state === 'failed') return `${of} · failed`;
  const rate = p.rate > 0 ? ` · ${formatBytes(p.rate)}/s` : '';
  const left = p.secondsLeft !== null ? ` · ${formatSeconds(p.secondsLeft)} left` : '';
  return `${of}${rate}${left}`;
}

export function DownloadProgress({ downloads }: { downloads: Record<string, Progress> }) {
  const rows = Object.values(downloads);
  if (!rows.length) return null;
  return (
    <ul className="downloads" data-testid="downloads" aria-label="Downloads">
      {rows.map((p) => (
        <li key={p.file} data-testid="download" data-state={p.state}>
          <span className="download-file">{p.file}</span>
          <progress
            max={p.total ?? undefined}
            value={p.total !== null || p.state !== 'downloading' ? p.received : undefined}
            aria-label={`Download of ${p.file}`}
          />
          <span className="muted small">{progressText(p)}</span>
        </li>
      ))}
    </ul>
  );
}
