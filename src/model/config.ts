// config.json: parsed once, then read field by field by the family its model_type names, each field with a message
// that names the file, the field and what it must be.
import { ModelInputError } from './errors.ts';

/** A Hugging Face config.json as parsed: its fields are read and checked by the family. */
export type HfConfig = { model_type?: unknown; [field: string]: unknown };

export function parseConfigJson(json: string, source = 'config.json'): HfConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new ModelInputError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ModelInputError(`${source}: must be a JSON object`);
  return raw as HfConfig;
}

/** Readers of config fields: each refuses a missing or malformed value with the file and the field named. */
export function configFields(raw: HfConfig, source: string) {
  const show = (v: unknown) => JSON.stringify(v) ?? String(v);
  const posInt = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (!Number.isSafeInteger(v) || (v as number) <= 0)
      throw new ModelInputError(`${source}: ${key} must be a positive integer, got ${show(raw[key])}`);
    return v as number;
  };
  const posNumber = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v))
      throw new ModelInputError(`${source}: ${key} must be a positive number, got ${show(raw[key])}`);
    return v;
  };
  /** A positive number, or null where the config gives null (e.g. soft-capping turned off). */
  const posNumberOrNull = (key: string, fallback: number | null): number | null => {
    const v = raw[key] === undefined ? fallback : raw[key];
    return v === null ? null : posNumber(key, v as number);
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'boolean') throw new ModelInputError(`${source}: ${key} must be true or false, got ${show(raw[key])}`);
    return v;
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[], fallback: T, what: string): T => {
    const v = raw[key] ?? fallback;
    if (!allowed.includes(v as T))
      throw new ModelInputError(`${source}: ${key} ${show(raw[key])} is not supported (${what}: ${allowed.join(' or ')})`);
    return v as T;
  };
  return { posInt, posNumber, posNumberOrNull, bool, oneOf };
}
