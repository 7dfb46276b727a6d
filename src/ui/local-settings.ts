// Page settings kept in this browser's localStorage (not in share links): read back through a schema, so a stale
// or hand-edited entry falls back to the defaults instead of breaking the page; where storage is blocked the
// settings last for the visit.
import type { z } from 'zod';

export function loadLocal<T>(key: string, schema: z.ZodType<T>, fallback: T): T {
  try {
    const raw = globalThis.localStorage?.getItem(key);
    const r = raw ? schema.safeParse(JSON.parse(raw)) : null;
    return r?.success ? r.data : fallback;
  } catch {
    return fallback;
  }
}

export function saveLocal<T>(key: string, value: T): void {
  try {
    globalThis.localStorage?.setItem(key, JSON.stringify(value));
  } catch {
    // Storage blocked or full: the settings last for this visit.
  }
}
