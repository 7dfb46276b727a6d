// The rule a number field applies to what is typed into it (components/NumberInput.tsx), kept apart from React
// so that it can be tested on its own.

/**
 * What becomes of a typed value that is not a finite number within [min, max]:
 * - 'drop': the value is not taken; the field keeps the text and the setting keeps its last good value (a setting
 *   that a link or the engine must be able to carry);
 * - 'clamp': the value is pulled to the nearest bound, an empty or unreadable field to min (a count that must
 *   always be usable);
 * - 'pass': every value is passed on, NaN included, for the caller to check when the value is used (and to say
 *   what is wrong with it then).
 */
export type OutOfRange = 'drop' | 'clamp' | 'pass';

export interface NumberRule {
  min?: number;
  max?: number;
  outOfRange?: OutOfRange;
  /** Whole numbers only (a count, a seed): 2.5 steps is out of range, not rounded behind the user's back. */
  integer?: boolean;
}

/** The value a field's `valueAsNumber` gives the setting, or null where the setting keeps its value. */
export function acceptNumber(
  typed: number,
  { min = -Infinity, max = Infinity, outOfRange = 'drop', integer = false }: NumberRule,
): number | null {
  switch (outOfRange) {
    case 'pass':
      return typed;
    case 'clamp':
      // An empty field reads as NaN: the lower bound is the one a count always has.
      return Number.isNaN(typed) ? (Number.isFinite(min) ? min : 0) : Math.max(min, Math.min(max, typed));
    case 'drop':
      return Number.isFinite(typed) && typed >= min && typed <= max && (!integer || Number.isInteger(typed)) ? typed : null;
  }
}
