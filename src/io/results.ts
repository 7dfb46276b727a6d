// Results as files: the JSON schema in public/schemas/recovery-result.schema.json (shared by the CLI and the
// browser's export) and a per-sample CSV.
import { InputError } from '../core/errors.ts';
import Papa from 'papaparse';
import type { RecoveryResult, SampleMetrics } from '../core/metrics.ts';

export const RESULT_SCHEMA_VERSION = 2;

/** Pretty JSON; non-finite numbers become null (JSON has no NaN). */
export function resultToJson(result: RecoveryResult): string {
  return `${JSON.stringify(
    { schemaVersion: RESULT_SCHEMA_VERSION, ...result },
    (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v),
    2,
  )}\n`;
}

export const SAMPLE_COLUMNS: (keyof SampleMetrics)[] = [
  'index',
  'base',
  'defended',
  'recovered',
  'valid',
  'success',
  'defendedNorm',
  'relDrift',
  'absDrift',
  'decodeDrift',
  'floorViolation',
  'eligible',
  'reactivated',
  'activeRecovered',
  'deltaNorm',
  'deltaOverResidual',
  'recoveredFraction',
  'residualNormBase',
  'residualNormDefended',
  'residualNormRecovered',
];

/** One row per sample, in input order. */
export function samplesToCsv(samples: SampleMetrics[]): string {
  return `${Papa.unparse(
    { fields: SAMPLE_COLUMNS as string[], data: samples.map((s) => SAMPLE_COLUMNS.map((c) => s[c] ?? '')) },
    { newline: '\n' },
  )}\n`;
}

export class ResultInputError extends InputError {
  override name = 'ResultInputError';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parse a result JSON written by resultToJson (for viewing an exported run); checks the shape, not every number. */
export function parseResultJson(text: string): RecoveryResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ResultInputError(`not a result file: invalid JSON (${(e as Error).message})`);
  }
  const r = raw as Partial<RecoveryResult> & { schemaVersion?: unknown };
  if (!isObject(r) || !Array.isArray(r.samples) || !Array.isArray(r.history) || !isObject(r.aggregate) || !isObject(r.config)) {
    throw new ResultInputError('not a result file: expected config, samples, aggregate and history');
  }
  const version = r.schemaVersion;
  if (version !== undefined) {
    if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
      throw new ResultInputError(
        `not a result file: schemaVersion must be a positive integer, got ${typeof version === 'number' ? version : typeof version}`,
      );
    }
    if (version > RESULT_SCHEMA_VERSION) {
      throw new ResultInputError(`result file has schema version ${version}; this Unclamp reads up to ${RESULT_SCHEMA_VERSION}`);
    }
  }
  // The page renders one row per sample and one chart point per history entry: each must be an object.
  const badSample = r.samples.findIndex((s) => !isObject(s));
  if (badSample >= 0) throw new ResultInputError(`not a result file: samples[${badSample}] is not an object`);
  const badStep = r.history.findIndex((h) => !isObject(h) || typeof h.step !== 'number');
  if (badStep >= 0) throw new ResultInputError(`not a result file: history[${badStep}] is not an entry with a numeric step`);
  return r as RecoveryResult;
}
