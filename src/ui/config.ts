// The playground's whole configuration — what a link reproduces — and its URL form. It holds only what the
// user changed: an unset run setting takes the scenario's value from its table (scenarios/catalog.ts), so
// the page runs exactly what `unclamp run --scenario …` runs. Parsing is strict (zod): a hand-edited or
// stale link falls back field by field to the scenario's values instead of breaking the page.
import { z } from 'zod';
import { DELTA_POSITIONS, effectiveRun, PAGE_SCENARIO_IDS, type RunSettings, type ScenarioId } from '../scenarios/catalog.ts';
import { type BoundedSetting, boundsProblem, DELTA_SHARINGS, OPTIMIZER_KINDS, PROJECTION_MODES } from '../core/options.ts';
import {
  DEFAULT_CLIP_PERCENTILE,
  DEFAULT_DETECT_FPR,
  type DefenceChoice,
  defenceKey,
  PAPER_DEFENCE,
  parseDefence,
} from '../core/defence-kinds.ts';

/** Clamp values and factors a link may ask for: the scenarios use −25 to ×8; 10³⁰⁰ would only overflow the run. */
export const MAX_CLAMP_MAGNITUDE = 1e6;

export const clampSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('set'), value: z.number().min(-MAX_CLAMP_MAGNITUDE).max(MAX_CLAMP_MAGNITUDE), onlyActive: z.boolean() }),
  z.object({ kind: z.literal('multiply'), factor: z.number().min(-MAX_CLAMP_MAGNITUDE).max(MAX_CLAMP_MAGNITUDE) }),
]);

/** Feature indices a link may name: up to 2²⁴ features (the widest published SAEs have 16M). */
export const MAX_FEATURE_INDEX = 2 ** 24 - 1;

/** A numeric run setting within the engine's bounds (core/options.ts RUN_BOUNDS), refused with the engine's words. */
const bounded = (key: BoundedSetting) =>
  z.number().superRefine((v, ctx) => {
    const problem = boundsProblem(key, v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** What a link may ask for: exactly what the engine and the CLI accept (a shared URL cannot request 10⁹ steps). */
export const runSchema = z.object({
  mode: z.enum(PROJECTION_MODES),
  optimizer: z.enum(OPTIMIZER_KINDS),
  delta: z.enum(DELTA_SHARINGS),
  positions: z.enum(DELTA_POSITIONS),
  steps: bounded('steps'),
  lr: bounded('lr'),
  budgetRel: bounded('budgetRel').nullable(),
  budget: bounded('budget'),
  lambdaAct: bounded('lambdaAct'),
  seed: bounded('seed'),
  reproject: z.boolean(),
  checkpointMaxRelDrift: bounded('checkpointMaxRelDrift').nullable(),
}) satisfies z.ZodType<RunSettings>;

/** A check by parseDefence (core/defence-kinds.ts): a link and the CLI's --defence are refused in the same words. */
const defenceCheck =
  <T>(check: (v: T) => unknown) =>
  (v: T, ctx: z.RefinementCtx) => {
    try {
      check(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
    }
  };

/** The defence as its id text (`no-error-term+detect`): one operator at the hook at most, plus multi-layer and detect. */
export const defenceSchema = z
  .string()
  .max(200)
  .superRefine(defenceCheck((v: string) => parseDefence(v)));
export const clipPercentileSchema = z.number().superRefine(defenceCheck((v: number) => parseDefence('clamp', { clipPercentile: v })));
export const detectFprSchema = z.number().superRefine(defenceCheck((v: number) => parseDefence('clamp', { detectFpr: v })));

export const configSchema = z.object({
  scenario: z.enum(PAGE_SCENARIO_IDS),
  sae: z.string().min(1).max(200).optional(),
  /** Defended features; null = the scenario's default selection. */
  features: z.array(z.number().int().min(0).max(MAX_FEATURE_INDEX)).max(4096).nullable(),
  clamp: clampSchema.nullable(),
  /** The defence (defenceKey form); unset = the paper's clamp. */
  defence: defenceSchema.optional(),
  /** clip-error's percentile of clean error norms, and the detector's false-positive rate; unset = the defaults. */
  clipPercentile: clipPercentileSchema.optional(),
  detectFpr: detectFprSchema.optional(),
  /** The run settings the user changed (the rest are the scenario's). */
  run: runSchema.partial(),
  /** UI speed: milliseconds between steps. */
  stepDelayMs: z.number().int().min(0).max(2000),
});
export type PlaygroundConfig = z.infer<typeof configSchema>;

export const DEFAULT_CONFIG: PlaygroundConfig = { scenario: 'ioi', features: null, clamp: null, run: {}, stepDelayMs: 0 };

/** The settings the page's run uses. */
export function runSettings(c: PlaygroundConfig): RunSettings {
  return effectiveRun(c.scenario, c.run);
}

/** The defence a configuration asks for (the paper's clamp when it names none, or names one that does not parse). */
export function defenceChoice(c: Pick<PlaygroundConfig, 'defence' | 'clipPercentile' | 'detectFpr'>): DefenceChoice {
  try {
    return parseDefence(c.defence ?? 'clamp', { clipPercentile: c.clipPercentile, detectFpr: c.detectFpr });
  } catch {
    return PAPER_DEFENCE;
  }
}

/**
 * A choice as the configuration holds it: only what differs from the paper's clamp and the default settings, and a
 * setting only where its defence is chosen (so the default keeps links and saved settings as they were).
 */
export function defenceConfig(choice: DefenceChoice): Pick<PlaygroundConfig, 'defence' | 'clipPercentile' | 'detectFpr'> {
  const key = defenceKey(choice);
  return {
    defence: key === defenceKey(PAPER_DEFENCE) ? undefined : key,
    clipPercentile: choice.hook === 'clip-error' && choice.clipPercentile !== DEFAULT_CLIP_PERCENTILE ? choice.clipPercentile : undefined,
    detectFpr: choice.detect && choice.detectFpr !== DEFAULT_DETECT_FPR ? choice.detectFpr : undefined,
  };
}

/** URL keys of the run settings, one per setting (short, stable: links in the wild use them). */
const RUN_KEYS: Record<keyof RunSettings, string> = {
  mode: 'm',
  optimizer: 'o',
  delta: 'd',
  positions: 'p',
  steps: 'n',
  lr: 'lr',
  budgetRel: 'br',
  budget: 'b',
  lambdaAct: 'la',
  seed: 'seed',
  reproject: 'rp',
  checkpointMaxRelDrift: 'cd',
};

const encodeValue = (v: unknown) => (typeof v === 'boolean' ? (v ? '1' : '0') : v === null ? 'off' : String(v));

function decodeValue(key: keyof RunSettings, raw: string): unknown {
  const kind = runSchema.shape[key];
  if (key === 'reproject') return raw === '1' ? true : raw === '0' ? false : raw;
  if ((key === 'checkpointMaxRelDrift' || key === 'budgetRel') && raw === 'off') return null;
  return kind instanceof z.ZodEnum ? raw : raw.trim() === '' ? NaN : Number(raw);
}

/** Compact URL hash form: #s=ioi&n=40&… — the scenario, then only what differs from its table. */
export function configToHash(c: PlaygroundConfig): string {
  const p = new URLSearchParams();
  p.set('s', c.scenario);
  if (c.sae) p.set('sae', c.sae);
  if (c.features) p.set('f', c.features.join('.'));
  if (c.clamp) p.set('c', c.clamp.kind === 'multiply' ? `x${c.clamp.factor}` : `${c.clamp.onlyActive ? 'a' : 's'}${c.clamp.value}`);
  if (c.defence) p.set('defence', c.defence);
  if (c.clipPercentile !== undefined) p.set('clip', String(c.clipPercentile));
  if (c.detectFpr !== undefined) p.set('fpr', String(c.detectFpr));
  for (const [key, short] of Object.entries(RUN_KEYS) as [keyof RunSettings, string][]) {
    if (c.run[key] !== undefined) p.set(short, encodeValue(c.run[key]));
  }
  if (c.stepDelayMs) p.set('delay', String(c.stepDelayMs));
  // The defence's ids are joined by a literal + (`defence=no-error-term+detect`, as the CLI writes it); the query
  // form reads a + as a space, which configFromHash turns back.
  return `#${p.toString().replace(/(^|&)defence=([^&]*)/, (_, a: string, v: string) => `${a}defence=${v.replace(/%2B/gi, '+')}`)}`;
}

function parseClamp(s: string | null): PlaygroundConfig['clamp'] {
  if (!s) return null;
  const v = Number(s.slice(1));
  if (!Number.isFinite(v)) return null;
  if (s[0] === 'x') return { kind: 'multiply', factor: v };
  if (s[0] === 'a' || s[0] === 's') return { kind: 'set', value: v, onlyActive: s[0] === 'a' };
  return null;
}

/** Parse a hash; every invalid field is dropped (the scenario's value applies), and the problems are listed. */
export function configFromHash(hash: string): { config: PlaygroundConfig; problems: string[] } {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const problems: string[] = [];
  const pick = <T>(name: string, schema: z.ZodType<T>, value: unknown, fallback: T): T => {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    problems.push(`${name}: ${r.error.issues[0].message}`);
    return fallback;
  };
  const top = configSchema.shape;
  const config: PlaygroundConfig = {
    scenario: pick('scenario', top.scenario, p.get('s') ?? DEFAULT_CONFIG.scenario, DEFAULT_CONFIG.scenario),
    sae: pick('sae', top.sae, p.get('sae') || undefined, undefined),
    features: pick('features', top.features, p.get('f') ? p.get('f')!.split('.').map(Number) : null, null),
    clamp: pick('clamp', top.clamp, parseClamp(p.get('c')), null),
    run: {},
    stepDelayMs: pick('stepDelayMs', top.stepDelayMs, p.has('delay') ? Number(p.get('delay')) : 0, 0),
  };
  // A + in the query reads as a space: `defence=no-error-term+detect` comes back as "no-error-term detect".
  const defence = pick('defence', defenceSchema.optional(), p.get('defence')?.trim().replace(/\s+/g, '+') || undefined, undefined);
  const clipPercentile = pick('clip', clipPercentileSchema.optional(), p.has('clip') ? numberOf(p.get('clip')!) : undefined, undefined);
  const detectFpr = pick('fpr', detectFprSchema.optional(), p.has('fpr') ? numberOf(p.get('fpr')!) : undefined, undefined);
  // Stored in its canonical form, and not at all when it is the paper's clamp with the default settings.
  Object.assign(config, stripUndefined(defenceConfig(defenceChoice({ defence, clipPercentile, detectFpr }))));
  for (const [key, short] of Object.entries(RUN_KEYS) as [keyof RunSettings, string][]) {
    const raw = p.get(short);
    if (raw === null) continue;
    const value = pick(key, runSchema.shape[key] as z.ZodType<unknown>, decodeValue(key, raw), undefined);
    if (value !== undefined) (config.run as Record<string, unknown>)[key] = value;
  }
  return { config, problems };
}

const numberOf = (raw: string) => (raw.trim() === '' ? Number.NaN : Number(raw));

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Settings saved in the browser: the same schema; anything invalid is dropped. */
export function parseSavedConfig(raw: unknown): PlaygroundConfig | null {
  const r = configSchema.safeParse(raw);
  return r.success ? r.data : null;
}

export type { RunSettings, ScenarioId };
