// The playground's whole configuration — what a link reproduces — and its URL form. Parsing is strict
// (zod): a hand-edited or stale link falls back field by field to defaults instead of breaking the page.
import { z } from 'zod';

export const SCENARIO_CHOICES = ['ioi', 'refusal', 'tpp', 'unlearning', 'probe-example', 'probe-upload'] as const;
export type ScenarioChoice = (typeof SCENARIO_CHOICES)[number];

export const clampSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('set'), value: z.number().finite(), onlyActive: z.boolean() }),
  z.object({ kind: z.literal('multiply'), factor: z.number().finite() }),
]);

export const runSchema = z.object({
  mode: z.enum(['none', 'encoder', 'jacobian']),
  delta: z.enum(['per-sample', 'shared']),
  positions: z.enum(['default', 'all', 'last']),
  steps: z.number().int().min(1).max(5000),
  lr: z.number().positive().max(10),
  budget: z.number().positive().max(1000),
  lambdaAct: z.number().min(0).max(1e6),
  seed: z.number().int().min(0).max(2 ** 32 - 1),
  reproject: z.boolean(),
});
export type RunSettings = z.infer<typeof runSchema>;

export const configSchema = z.object({
  scenario: z.enum(SCENARIO_CHOICES),
  sae: z.string().max(200).optional(),
  /** Defended features; null = the scenario's default selection. */
  features: z.array(z.number().int().min(0)).max(4096).nullable(),
  clamp: clampSchema.nullable(),
  run: runSchema,
  /** UI speed: milliseconds between steps. */
  stepDelayMs: z.number().int().min(0).max(2000),
});
export type PlaygroundConfig = z.infer<typeof configSchema>;

export const DEFAULT_RUN: RunSettings = { mode: 'encoder', delta: 'per-sample', positions: 'default', steps: 60, lr: 0.05, budget: 2, lambdaAct: 0, seed: 0, reproject: false };
export const DEFAULT_CONFIG: PlaygroundConfig = { scenario: 'ioi', features: null, clamp: null, run: DEFAULT_RUN, stepDelayMs: 0 };

/** Compact URL hash form: #s=ioi&mode=encoder&… (readable, stable key order). */
export function configToHash(c: PlaygroundConfig): string {
  const p = new URLSearchParams();
  p.set('s', c.scenario);
  if (c.sae) p.set('sae', c.sae);
  if (c.features) p.set('f', c.features.join('.'));
  if (c.clamp) p.set('c', c.clamp.kind === 'multiply' ? `x${c.clamp.factor}` : `${c.clamp.onlyActive ? 'a' : 's'}${c.clamp.value}`);
  const r = c.run;
  p.set('m', r.mode);
  p.set('d', r.delta);
  p.set('p', r.positions);
  p.set('n', String(r.steps));
  p.set('lr', String(r.lr));
  p.set('b', String(r.budget));
  if (r.lambdaAct) p.set('la', String(r.lambdaAct));
  p.set('seed', String(r.seed));
  if (r.reproject) p.set('rp', '1');
  if (c.stepDelayMs) p.set('delay', String(c.stepDelayMs));
  return '#' + p.toString();
}

function parseClamp(s: string | null): PlaygroundConfig['clamp'] {
  if (!s) return null;
  const v = Number(s.slice(1));
  if (!Number.isFinite(v)) return null;
  if (s[0] === 'x') return { kind: 'multiply', factor: v };
  if (s[0] === 'a' || s[0] === 's') return { kind: 'set', value: v, onlyActive: s[0] === 'a' };
  return null;
}

/** Parse a hash; every invalid or missing field takes its default, and the problems are listed. */
export function configFromHash(hash: string): { config: PlaygroundConfig; problems: string[] } {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const problems: string[] = [];
  const num = (k: string) => (p.has(k) ? Number(p.get(k)) : undefined);
  const candidate = {
    scenario: p.get('s') ?? DEFAULT_CONFIG.scenario,
    sae: p.get('sae') ?? undefined,
    features: p.get('f') ? p.get('f')!.split('.').map(Number) : null,
    clamp: parseClamp(p.get('c')),
    run: {
      mode: p.get('m') ?? DEFAULT_RUN.mode,
      delta: p.get('d') ?? DEFAULT_RUN.delta,
      positions: p.get('p') ?? DEFAULT_RUN.positions,
      steps: num('n') ?? DEFAULT_RUN.steps,
      lr: num('lr') ?? DEFAULT_RUN.lr,
      budget: num('b') ?? DEFAULT_RUN.budget,
      lambdaAct: num('la') ?? DEFAULT_RUN.lambdaAct,
      seed: num('seed') ?? DEFAULT_RUN.seed,
      reproject: p.get('rp') === '1',
    },
    stepDelayMs: num('delay') ?? 0,
  };
  const whole = configSchema.safeParse(candidate);
  if (whole.success) return { config: whole.data, problems };
  // Repair field by field so one bad value does not throw away the rest of the link.
  const out: PlaygroundConfig = structuredClone(DEFAULT_CONFIG);
  const top = configSchema.shape;
  for (const key of ['scenario', 'sae', 'features', 'clamp', 'stepDelayMs'] as const) {
    const r = top[key].safeParse(candidate[key]);
    if (r.success) (out as Record<string, unknown>)[key] = r.data;
    else problems.push(`${key}: ${r.error.issues[0].message}`);
  }
  for (const key of Object.keys(runSchema.shape) as (keyof RunSettings)[]) {
    const r = runSchema.shape[key].safeParse(candidate.run[key]);
    if (r.success) (out.run as Record<string, unknown>)[key] = r.data;
    else problems.push(`${key}: ${r.error.issues[0].message}`);
  }
  return { config: out, problems };
}
