// Files out and in: the run as JSON (the CLI's schema) and CSV, charts as PNG, and importing a run JSON
// to view it.
import type { RecoveryResult } from '../core/metrics.ts';
import { parseResultJson, resultToJson, samplesToCsv } from '../io/results.ts';
import { useStore } from './store.ts';

/** Save a file from the page (every download the page offers goes through here). */
export function download(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const stem = (r: RecoveryResult) => `unclamp-${r.config.scenario ?? 'run'}-${r.config.mode}-seed${r.config.seed}`;

export function downloadJson(r: RecoveryResult): void {
  download(`${stem(r)}.json`, new Blob([resultToJson(r)], { type: 'application/json' }));
}

export function downloadCsv(r: RecoveryResult): void {
  download(`${stem(r)}.csv`, new Blob([samplesToCsv(r.samples)], { type: 'text/csv' }));
}

/** Show an imported result as if it had just finished (no engine involved). */
export function viewResult(text: string): void {
  const st = useStore.getState();
  try {
    const result = parseResultJson(text);
    st.set({ result, history: result.history, samples: result.samples, imported: true, status: st.defence ? 'ready' : st.status });
    st.notify({ kind: 'info', message: `Imported a ${result.config.mode} run with ${result.aggregate.samples} samples.` });
  } catch (e) {
    st.notify({
      kind: 'error',
      message: (e as Error).message,
      hint: 'Choose a JSON file exported by Unclamp (the playground or `unclamp --json`).',
    });
  }
}

export function importRunFile(): void {
  const input = document.createElement('input');
  input.type = 'file';
  input.accept = 'application/json,.json';
  input.onchange = async () => {
    const f = input.files?.[0];
    if (f) viewResult(await f.text());
  };
  input.click();
}

/** Render an SVG chart (Recharts) to a PNG at 2× for sharpness. */
export async function downloadChartPng(svg: SVGSVGElement, name: string): Promise<void> {
  const { width, height } = svg.getBoundingClientRect();
  const clone = svg.cloneNode(true) as SVGSVGElement;
  clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  clone.setAttribute('width', String(width));
  clone.setAttribute('height', String(height));
  const data = new XMLSerializer().serializeToString(clone);
  const img = new Image();
  img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(data)}`;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(width * 2);
  canvas.height = Math.round(height * 2);
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.scale(2, 2);
  ctx.drawImage(img, 0, 0);
  const blob = await new Promise<Blob | null>((r) => canvas.toBlob(r, 'image/png'));
  if (blob) download(`${name}.png`, blob);
}
