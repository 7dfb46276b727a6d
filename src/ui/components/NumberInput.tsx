// The playground's one number field: a controlled <input type="number"> that hands on only what its rule takes
// (../number-input.ts). A value it does not take leaves the setting as it was and the typed text in the field,
// since nothing re-renders it.
import { acceptNumber, type OutOfRange } from '../number-input.ts';

export function NumberInput({
  value,
  onChange,
  min,
  max,
  step,
  outOfRange,
  integer,
  label,
  testId,
}: {
  value: number;
  onChange: (v: number) => void;
  min?: number;
  max?: number;
  /** The spinner's step, and what the browser marks as a mismatch (default: 1 for a whole-number setting, else 'any'). */
  step?: number | 'any';
  outOfRange?: OutOfRange;
  /** Whole numbers only (see ../number-input.ts). */
  integer?: boolean;
  /** The accessible name, where no <label> around the field gives one. */
  label?: string;
  testId?: string;
}) {
  return (
    <input
      type="number"
      aria-label={label}
      value={value}
      min={min}
      max={max}
      step={step ?? (integer ? 1 : 'any')}
      data-testid={testId}
      onChange={(e) => {
        const v = acceptNumber(e.target.valueAsNumber, { min, max, outOfRange, integer });
        if (v !== null) onChange(v);
      }}
    />
  );
}
