// The Defences section of docs/results.md, rendered from a small hand-made matrix: every table, the failed checks in
// words, the monitor, and what the section says when results.json has no matrix.
import { describe, expect, it } from 'vitest';
import type { DefenceMatrix, DefenceRow, MatrixCell } from '../scenarios/defence-matrix.ts';
import { defencesSection } from './report-defences.ts';
import { reportDocument } from './report-markdown.ts';
import { costTable, failedChecks, recoveryTable } from './defence-tables.ts';

const rate = (recovered: number, validFlips: number, ci: [number, number] | null) => ({
  recovered,
  validFlips,
  rate: validFlips ? recovered / validFlips : null,
  ci,
});

function cell(defence: string, attacker: 'paper' | 'adaptive', r: ReturnType<typeof rate>, extra: Partial<MatrixCell> = {}): MatrixCell {
  return {
    defence,
    attacker,
    mode: 'encoder',
    ...r,
    perSeed: [{ seed: 0, recovered: r.recovered, validFlips: r.validFlips }],
    meanRelDrift: 0.25,
    detectionRate: null,
    ...extra,
  };
}

const okChecks = { budgetMonotone: true, moreStepsNotLower: true, stepsRates: [0.5, 0.5] as [number, number], beatsRandom: true };

const clampRow: DefenceRow = {
  defence: 'clamp',
  ids: ['clamp'],
  description: 'Clamp (the paper’s)',
  notes: [],
  cost: { validFlips: 10, samples: 16, utility: { ceBase: 0.7, ceDefended: 1.2, kl: 0.5, tokens: 100, source: 'held-out sentences' } },
  random: rate(1, 10, [0.02, 0.4]),
  budgetCurve: [
    { multiple: 0.5, budget: 1, rate: 0.3, recovered: 3, validFlips: 10 },
    { multiple: 1, budget: 2, rate: 0.6, recovered: 6, validFlips: 10 },
  ],
  auc: 0.375,
  checks: okChecks,
};

const monitored: DefenceRow = {
  defence: 'no-error-term+detect',
  ids: ['no-error-term', 'detect'],
  description: 'No error term + Detector at 1% FPR',
  notes: ['monitor threshold 3.000; held-out clean FPR 0.0% of 4'],
  cost: { validFlips: 8, samples: 16, utility: null },
  random: rate(2, 8, [0.07, 0.59]),
  budgetCurve: [
    { multiple: 0.5, budget: 1, rate: 0.25, recovered: 2, validFlips: 8 },
    { multiple: 1, budget: 2, rate: 0.125, recovered: 1, validFlips: 8 },
  ],
  auc: 0.1875,
  checks: { budgetMonotone: false, moreStepsNotLower: true, stepsRates: [0.125, 0.25], beatsRandom: false },
  detector: {
    threshold: 3,
    heldOutFpr: 0,
    heldOutCi: [0, 0.49],
    cleanScores: [0, 1, 2, 3],
    attackedScores: { paper: [4, 5], adaptive: [1, 5] },
  },
};

const matrix: DefenceMatrix = {
  scenario: 'ioi',
  title: 'Indirect object identification',
  seeds: [0, 1],
  modes: ['encoder'],
  curveMode: 'encoder',
  lambdaDetect: 10,
  settings: { steps: 20 },
  defences: [clampRow, monitored],
  cells: [
    cell('clamp', 'paper', rate(6, 10, [0.31, 0.83])),
    cell('clamp', 'adaptive', rate(6, 10, [0.31, 0.83])),
    cell('no-error-term+detect', 'paper', rate(0, 8, [0, 0.32]), { detectionRate: 0.5 }),
    cell('no-error-term+detect', 'adaptive', rate(2, 8, [0.07, 0.59]), { detectionRate: 0.25, meanRelDrift: null }),
  ],
  gaps: [
    { defence: 'clamp', mode: 'encoder', paper: 0.6, adaptive: 0.6, gap: 0 },
    { defence: 'no-error-term+detect', mode: 'encoder', paper: 0, adaptive: 0.25, gap: 0.25 },
  ],
  durationS: 12.5,
};

describe('the Defences section', () => {
  it('says how to generate the matrix when results.json has none', () => {
    expect(defencesSection(undefined)).toBe(
      '## Defences\n\nNot generated yet. `npx unclamp report --all` runs the defence matrix on the built-in IOI scenario over the ' +
        'report’s seeds and writes it here (and under `defences` in [results.json](results.json)); `npx unclamp defences --scenario ioi` ' +
        'runs the same matrix alone. What each defence does, its threat model, the two attackers and the checks: [defences.md](defences.md).\n',
    );
  });

  it('renders the recovery, cost, budget and monitor tables from the matrix', () => {
    const md = defencesSection(matrix);
    expect(md.startsWith('## Defences\n\nThe defence matrix on indirect object identification (`ioi`), seeds 0, 1, ')).toBe(true);
    expect(md).toContain("the scenario's settings but steps 20");
    expect(md).toContain(
      [
        '### Recovery, encoder mode',
        '',
        '| defence | paper attacker | adaptive attacker | gap (points) | rel drift paper / adaptive | detected paper / adaptive |',
        '|---|---|---|---|---|---|',
        '| clamp | 6/10 60.0% [31.0, 83.0] | 6/10 60.0% [31.0, 83.0] | +0.0 | 0.250 / 0.250 | — |',
        '| no-error-term+detect | 0/8 0.0% [0.0, 32.0] | 2/8 25.0% [7.0, 59.0] | +25.0 | 0.250 / — | 50.0% / 25.0% |',
      ].join('\n'),
    );
    expect(md).toContain(
      '| clamp | 10/16 | 0.700 → 1.200 | 0.500 | 1/10 10.0% [2.0, 40.0] | 0.375 | ok |\n' +
        '| no-error-term+detect | 8/16 | — | — | 2/8 25.0% [7.0, 59.0] | 0.188 | budget not monotone; random δ ≥ attack |',
    );
    expect(md).toContain('- **no-error-term+detect**: recovery falls as the budget grows (×0.5 25.0%, ×1 12.5%)');
    expect(md).toContain(
      '- **no-error-term+detect**: a random δ of the same norm recovers 25.0%, the best gradient attacker 25.0%: the defence only beats the gradient attacker',
    );
    expect(md).toContain(
      '### Recovery against budget (adaptive attacker, encoder mode, seed 0)\n\n| defence | ρ × 0.5 | ρ × 1 |\n|---|---|---|\n' +
        '| clamp | 30.0% (3/10) | 60.0% (6/10) |\n| no-error-term+detect | 25.0% (2/8) | 12.5% (1/8) |',
    );
    // Clean scores 0..3 against attacked (4, 5): perfectly apart; against (1, 5): 1 ties one clean score.
    expect(md).toContain(
      "- no-error-term+detect: threshold 3.000; false-positive rate on 4 held-out clean inputs 0.0% [0.0, 49.0]; ROC AUC of clean against attacked valid flips 1.000 (paper's δ), 0.688 (adaptive δ).",
    );
    // The monitor's note is its sentence above; no other note, so no list of what acts where.
    expect(md).not.toContain('monitor threshold');
    expect(md).not.toContain('What acts where');
    expect(md.endsWith('\n')).toBe(true);
    expect(md).not.toContain('\n\n\n');
  });

  it('leaves out the detection column when no defence has a monitor, and reads "beats random" as passed when nothing recovers', () => {
    const none: DefenceRow = { ...clampRow, random: rate(0, 10, [0, 0.28]), checks: { ...okChecks, beatsRandom: false } };
    const m: DefenceMatrix = {
      ...matrix,
      defences: [none],
      cells: [cell('clamp', 'paper', rate(0, 10, [0, 0.28])), cell('clamp', 'adaptive', rate(0, 10, [0, 0.28]))],
      gaps: [matrix.gaps[0]],
    };
    expect(recoveryTable(m, 'encoder').head).not.toContain('detected paper / adaptive');
    expect(failedChecks(m, none)).toEqual([]);
    expect(costTable(m).rows[0].at(-1)).toBe('ok (nothing recovers)');
    expect(defencesSection(m)).toContain('Every defence passes every check.');
  });

  it('lists what acts where, and closes the results document', () => {
    const withNotes: DefenceMatrix = {
      ...matrix,
      defences: [{ ...clampRow, notes: ['blocks.2.hook_resid_post: clamp 20 features'] }, monitored],
    };
    expect(defencesSection(withNotes)).toContain('What acts where (seed 0):\n\n- clamp: blocks.2.hook_resid_post: clamp 20 features\n');
    const doc = reportDocument([], { seeds: [0, 1], backend: 'wasm', model: 'tiny-world', seconds: 60 }, matrix);
    expect(doc.endsWith(defencesSection(matrix))).toBe(true);
    expect(doc).toContain('\n\n## Defences\n\n');
  });
});
