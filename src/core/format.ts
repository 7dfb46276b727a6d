// How numbers are written, everywhere: the CLI tables, docs/results.md and the page. One home, so a figure
// reads the same in a terminal, a report and a tooltip. No TensorFlow.js (the page imports it).

/** 3 decimals; exponent form for very large or very small magnitudes; '—' when missing or not finite. */
export function formatNumber(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  return a >= 1e4 || (a !== 0 && a < 10 ** -digits) ? v.toExponential(2) : v.toFixed(digits);
}

/** A share as a percentage, e.g. 0.8333 → "83.3%". */
export function formatPercent(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : `${(100 * v).toFixed(digits)}%`;
}

/** A recovery rate with its 95% interval: "83.3% [64.1, 93.3]", or why there is none. */
export function formatRate(a: { recoveryRate: number | null; ci95: [number, number] | null }): string {
  if (a.recoveryRate === null || a.ci95 === null) return '— (no valid flips)';
  const [lo, hi] = a.ci95;
  return `${formatPercent(a.recoveryRate)} [${(100 * lo).toFixed(1)}, ${(100 * hi).toFixed(1)}]`;
}

/**
 * A ratio defined only on some samples (relative drift, floor violation): its mean, and how many samples it
 * covers when some are left out — "0.581", "0.581 (18 of 29)", or "n/a (0 of 29)".
 */
export function formatRatio(r: { mean: number | null; included: number; excluded: number }): string {
  const total = r.included + r.excluded;
  if (r.included === 0) return total ? `n/a (0 of ${total})` : '—';
  return r.excluded ? `${formatNumber(r.mean)} (${r.included} of ${total})` : formatNumber(r.mean);
}

/**
 * A value for an error message: JSON, cut to `max` characters. A hostile value can be huge, or nested too deep to
 * stringify (the message must not be the thing that crashes).
 */
export function previewValue(value: unknown, max = 80): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Array.isArray(value) ? '[[[…' : String(value);
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** A byte count for people: "512 B", "37 kB", "1.4 MB", "2.1 GB" (binary multiples, as download sizes are read). */
/** A span of a model's layers: "layer 4", or "layers 4–11". */
export const layerRange = (a: number, b: number): string => (a === b ? `layer ${a}` : `layers ${a}–${b}`);

/**
 * Bytes in decimal units (1 kB = 1,000 B), as file sizes and memory figures are written everywhere in Unclamp:
 * by default rounded as a plan is read ("4.4 GB", "154 MB", "640 kB"); `precise` gives one decimal at every unit,
 * for a download's progress ("548.1 MB of 548.1 MB").
 */
export function formatBytes(n: number, { precise = false }: { precise?: boolean } = {}): string {
  if (!Number.isFinite(n) || n < 0) return '–';
  if (n < 1e3) return `${Math.round(n)} B`;
  const [value, unit] = n < 1e6 ? [n / 1e3, 'kB'] : n < 1e9 ? [n / 1e6, 'MB'] : [n / 1e9, 'GB'];
  return `${value.toFixed(precise || unit === 'GB' ? 1 : 0)} ${unit}`;
}

/** A limit in decimal units, with the binary figure it was set as when it is one: "134 MB (128 MiB)", "4.3 GB (4 GiB)". */
export function formatLimit(bytes: number): string {
  const gib = bytes / 2 ** 30;
  const mib = bytes / 2 ** 20;
  if (Math.abs(gib - Math.round(gib)) * 2 ** 30 < 2 ** 20 && Math.round(gib) >= 1) return `${formatBytes(bytes)} (${Math.round(gib)} GiB)`;
  if (Number.isInteger(mib)) return `${formatBytes(bytes)} (${mib} MiB)`;
  return formatBytes(bytes);
}

/** A token as text with its whitespace made visible: a leading space is what tells " Mary" from "Mary" in a BPE vocabulary. */
export function formatToken(t: string): string {
  return t.replace(/ /g, '␣').replace(/\n/g, '⏎').replace(/\t/g, '⇥') || '∅';
}
