// Option parsers for commander that turn bad values into InputError (exit 2, one line).
import { InputError } from '../core/errors.ts';

export function number(name: string): (v: string) => number {
  return (v) => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x)) throw new InputError(`${name} must be a number, got "${v}"`);
    return x;
  };
}

export function integer(name: string): (v: string) => number {
  return (v) => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isInteger(x)) throw new InputError(`${name} must be a whole number, got "${v}"`);
    return x;
  };
}

export function oneOf<T extends string>(name: string, values: readonly T[]): (v: string) => T {
  return (v) => {
    if (!values.includes(v as T)) throw new InputError(`${name} must be one of ${values.join(', ')}, got "${v}"`);
    return v as T;
  };
}

/** "3,17,42" → [3, 17, 42]; ranges "10-13" expand. */
export function indexList(name: string): (v: string) => number[] {
  return (v) => {
    const out: number[] = [];
    for (const part of v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const range = /^(\d+)-(\d+)$/.exec(part);
      if (range) {
        const [a, b] = [Number(range[1]), Number(range[2])];
        if (b < a) throw new InputError(`${name}: range ${part} runs backwards`);
        for (let i = a; i <= b; i++) out.push(i);
      } else if (/^-?\d+$/.test(part)) out.push(Number(part));
      else throw new InputError(`${name} must be comma-separated feature indices, got "${part}"`);
    }
    if (!out.length) throw new InputError(`${name} is empty`);
    return out;
  };
}
