// Optional feature labels: a Neuronpedia explanation export (a JSON array of {index, description, …}),
// or a plain {"index": "label"} map. Indices arrive as numbers or strings; several explanations per
// feature are joined. Labels are display-only, so a malformed entry is reported, not guessed.
import { InputError } from '../core/errors.ts';
import { previewValue } from '../core/format.ts';

export class LabelFileError extends InputError {
  override name = 'LabelInputError';
}

const preview = (value: unknown) => previewValue(value, 60);

export function parseFeatureLabels(text: string, dSae?: number): Map<number, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new LabelFileError(`label file is not valid JSON (${(e as Error).message})`);
  }
  const out = new Map<number, string>();
  const add = (idx: unknown, label: unknown, where: string) => {
    const i = typeof idx === 'string' && /^\d+$/.test(idx) ? Number(idx) : idx;
    if (typeof i !== 'number' || !Number.isSafeInteger(i) || i < 0)
      throw new LabelFileError(`label file: ${where} has no valid feature index (got ${preview(idx)})`);
    if (dSae !== undefined && i >= dSae)
      throw new LabelFileError(`label file: feature index ${i} is out of range for an SAE with ${dSae} features`);
    if (typeof label !== 'string') throw new LabelFileError(`label file: ${where} has no description string`);
    const text = label.trim();
    if (!text) return;
    out.set(i, out.has(i) ? `${out.get(i)}; ${text}` : text);
  };
  if (Array.isArray(raw)) {
    raw.forEach((e, k) => {
      if (typeof e !== 'object' || e === null) throw new LabelFileError(`label file: entry ${k} is not an object`);
      const r = e as Record<string, unknown>;
      add(r.index ?? r.feature ?? r.featureIndex, r.description ?? r.label ?? r.explanation, `entry ${k}`);
    });
  } else if (typeof raw === 'object' && raw !== null) {
    for (const [k, v] of Object.entries(raw)) add(k, v, `key ${preview(k)}`);
  } else throw new LabelFileError('label file must be a JSON array of {index, description} or an object {index: label}');
  return out;
}

/** Index specs a search box takes: "42", "#42", "10-20", "3, 7, 10-12". */
const INDEX_QUERY = /^#?\d+(\s*-\s*\d+)?(\s*,\s*#?\d+(\s*-\s*\d+)?)*$/;

/**
 * The feature picker's search: a query of indices and ranges ("42", "#42", "10-20", "3, 7, 10-12") matches those
 * features — and any whose label contains the query as typed (a label may well hold "42"); any other query
 * matches the labels that contain every one of its words, case-insensitively ("golden gate" finds "the Golden
 * Gate Bridge"). An empty query matches everything.
 */
export function featureSearch(query: string): (index: number, label: string) => boolean {
  const q = query.trim().toLowerCase();
  if (!q) return () => true;
  if (INDEX_QUERY.test(q)) {
    const ranges = q.split(',').map((part) => {
      const [a, b] = part.replace('#', '').split('-').map(Number);
      return [Math.min(a, b ?? a), Math.max(a, b ?? a)] as const;
    });
    return (index, label) => ranges.some(([lo, hi]) => index >= lo && index <= hi) || label.toLowerCase().includes(q);
  }
  const words = q.split(/\s+/);
  return (_, label) => {
    const l = label.toLowerCase();
    return words.every((w) => l.includes(w));
  };
}
