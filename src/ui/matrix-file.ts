// A defence matrix as a file: the JSON `unclamp defences --json` writes and the Defences tab saves, read back
// through a schema (zod) so a wrong or hand-edited file is refused with what is wrong, never half-drawn. No
// TensorFlow.js: the page reads it on the main thread.
import { z } from 'zod';
import { InputError } from '../core/errors.ts';
import { PROJECTION_MODES } from '../core/options.ts';
import { SCENARIO_IDS } from '../scenarios/catalog.ts';
import type { DefenceMatrix } from '../engine/protocol.ts';

export class MatrixFileError extends InputError {
  override name = 'MatrixFileError';
}

/** The two attackers of every cell (scenarios/defence-matrix.ts ATTACKERS, restated: that module holds tensors). */
export const MATRIX_ATTACKERS = ['paper', 'adaptive'] as const;

const count = z.number().int().min(0);
const share = z.number().min(0).max(1);
const interval = z.tuple([share, share]).nullable();
const rate = { recovered: count, validFlips: count, rate: share.nullable(), ci: interval };

const cellSchema = z.object({
  defence: z.string().min(1),
  attacker: z.enum(MATRIX_ATTACKERS),
  mode: z.enum(PROJECTION_MODES),
  ...rate,
  perSeed: z.array(z.object({ seed: z.number(), recovered: count, validFlips: count })),
  meanRelDrift: z.number().nullable(),
  detectionRate: share.nullable(),
});

const rowSchema = z.object({
  defence: z.string().min(1),
  ids: z.array(z.string()),
  description: z.string(),
  notes: z.array(z.string()),
  cost: z.object({
    validFlips: count,
    samples: count,
    utility: z.object({ ceBase: z.number(), ceDefended: z.number(), kl: z.number() }).passthrough().nullable(),
  }),
  random: z.object(rate),
  budgetCurve: z.array(z.object({ multiple: z.number().positive(), budget: z.number(), rate: share.nullable() }).passthrough()),
  auc: z.number().nullable(),
  checks: z.object({
    budgetMonotone: z.boolean(),
    moreStepsNotLower: z.boolean(),
    stepsRates: z.tuple([share.nullable(), share.nullable()]),
    beatsRandom: z.boolean(),
  }),
  detector: z
    .object({
      threshold: z.number(),
      heldOutFpr: share,
      heldOutCi: interval,
      cleanScores: z.array(z.number()),
      attackedScores: z.object({ paper: z.array(z.number()), adaptive: z.array(z.number()) }),
    })
    .optional(),
});

const matrixSchema = z.object({
  scenario: z.enum(SCENARIO_IDS),
  title: z.string(),
  seeds: z.array(z.number()).min(1),
  modes: z.array(z.enum(PROJECTION_MODES)).min(1),
  curveMode: z.enum(PROJECTION_MODES),
  lambdaDetect: z.number(),
  settings: z.record(z.string(), z.unknown()),
  defences: z.array(rowSchema).min(1),
  cells: z.array(cellSchema),
  gaps: z.array(z.object({ defence: z.string(), mode: z.enum(PROJECTION_MODES) }).passthrough()),
  durationS: z.number(),
});

const where = (path: PropertyKey[]) =>
  path.length
    ? path
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
        .join('')
        .slice(1)
    : 'the file';

/** Read a matrix file; throws MatrixFileError saying what is wrong (a run's result file is named as such). */
export function parseMatrixJson(text: string): DefenceMatrix {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new MatrixFileError(`not a defence matrix: invalid JSON (${(e as Error).message})`);
  }
  // A file that wraps the matrix (`{ "matrix": … }`) is read too.
  if (raw && typeof raw === 'object' && 'matrix' in raw && !('cells' in raw)) raw = (raw as { matrix: unknown }).matrix;
  if (raw && typeof raw === 'object' && 'samples' in raw && 'aggregate' in raw)
    throw new MatrixFileError('this is a run’s result, not a defence matrix: open it with “Import a run (JSON)…” in the playground');
  if (!raw || typeof raw !== 'object' || !('cells' in raw) || !('defences' in raw))
    throw new MatrixFileError('not a defence matrix: expected the defences, cells and scenario that `unclamp defences --json` writes');
  const r = matrixSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new MatrixFileError(`not a defence matrix: ${where(issue.path)}: ${issue.message}`);
  }
  const m = r.data;
  const keys = new Set(m.defences.map((d) => d.defence));
  if (keys.size !== m.defences.length) throw new MatrixFileError('not a defence matrix: a defence has two rows');
  const bad = m.cells.findIndex((c) => !keys.has(c.defence) || !m.modes.includes(c.mode));
  if (bad >= 0)
    throw new MatrixFileError(
      `not a defence matrix: cells[${bad}] is for a defence or mode the matrix does not list (${m.cells[bad].defence}, ${m.cells[bad].mode})`,
    );
  const seen = new Set(m.cells.map((c) => `${c.defence}|${c.attacker}|${c.mode}`));
  if (seen.size !== m.cells.length) throw new MatrixFileError('not a defence matrix: a cell is listed twice');
  return m as unknown as DefenceMatrix;
}

export function matrixToJson(m: DefenceMatrix): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

export function matrixFileName(m: DefenceMatrix): string {
  return `unclamp-defences-${m.scenario}-seeds${m.seeds.length}.json`;
}
