// Clamp rules as data: their type, the CLI/URL text form and the words the UI and reports use. No
// TensorFlow.js here, so the page and the scenario catalog can use it; the tensor side is intervention.ts.
import { InputError } from './errors.ts';

export type ClampRule =
  /** z_S := value (value 0 is zero-ablation); with onlyActive, only where z_S > 0 (IOI, unlearning: −m). */
  | { kind: 'set'; value: number; onlyActive: boolean }
  /** z_S := factor · z_S (refusal steering amplifies; the paper by 3). */
  | { kind: 'multiply'; factor: number };

export class ClampRuleError extends InputError {
  override name = 'ClampInputError';
}

/** Parse the CLI/URL form: `zero`, `set:C`, `multiply:A`, with `onlyActive` from --positive-only. */
export function parseClampRule(text: string, onlyActive = false): ClampRule {
  const [kind, arg, ...rest] = text.trim().split(':');
  const num = (what: string): number => {
    const v = Number(arg);
    if (arg === undefined || arg === '' || rest.length || !Number.isFinite(v)) {
      throw new ClampRuleError(`clamp "${text}": ${what} needs a finite number, e.g. ${kind}:${kind === 'multiply' ? '3' : '-5'}`);
    }
    return v;
  };
  if (kind === 'zero' && arg === undefined) return { kind: 'set', value: 0, onlyActive };
  if (kind === 'set') return { kind: 'set', value: num('set'), onlyActive };
  if (kind === 'multiply') {
    if (onlyActive) throw new ClampRuleError('--positive-only applies to set/zero clamps, not multiply');
    return { kind: 'multiply', factor: num('multiply') };
  }
  throw new ClampRuleError(`clamp "${text}" is not one of zero, set:C, multiply:A`);
}

export function describeClamp(rule: ClampRule): string {
  if (rule.kind === 'multiply') return `multiply by ${rule.factor}`;
  const what = rule.value === 0 ? 'zero-ablate' : `set to ${rule.value}`;
  return rule.onlyActive ? `${what} where active` : what;
}

/**
 * Which way the clamp pushes the defended features: up (amplify: multiply α ≥ 1, set c > 0) or down (suppress:
 * zero-ablation, set c ≤ 0, multiply α < 1). A recovery that undoes the clamp moves them the other way, which is
 * what the floor violation measures.
 */
export function clampDirection(rule: ClampRule): 'up' | 'down' {
  return (rule.kind === 'multiply' ? rule.factor >= 1 : rule.value > 0) ? 'up' : 'down';
}
