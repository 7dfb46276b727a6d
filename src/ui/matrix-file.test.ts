// The Defences tab's file: the matrix `unclamp defences --json` writes is read back whole, and a wrong file is
// refused with what is wrong. The e2e fixture is the file read here.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MatrixFileError, matrixFileName, matrixToJson, parseMatrixJson } from './matrix-file.ts';
import { matrixSeeds, toggled } from './matrix-options.ts';

const FIXTURE = readFileSync(path.resolve(import.meta.dirname, '../../e2e/fixtures/defence-matrix.json'), 'utf8');
const fixture = () => JSON.parse(FIXTURE);

describe('matrix files', () => {
  it('reads the matrix whole, and writes it back to the same', () => {
    const m = parseMatrixJson(FIXTURE);
    expect(m.defences.map((d) => d.defence)).toEqual(['clamp', 'no-error-term+detect']);
    expect(m.cells).toHaveLength(4);
    expect(m.defences[1].detector?.attackedScores.adaptive.length).toBeGreaterThan(0);
    expect(parseMatrixJson(matrixToJson(m))).toEqual(m);
    expect(matrixFileName(m)).toBe('unclamp-defences-ioi-seeds1.json');
    // Wrapped in an object of its own, as a tool may write it.
    expect(parseMatrixJson(JSON.stringify({ matrix: fixture() }))).toEqual(m);
  });

  it('refuses a wrong file with what is wrong', () => {
    const bad = (change: (m: ReturnType<typeof fixture>) => unknown, message: RegExp) => {
      const m = fixture();
      const out = change(m) ?? m;
      const e = (() => {
        try {
          parseMatrixJson(typeof out === 'string' ? out : JSON.stringify(out));
        } catch (x) {
          return x;
        }
      })();
      expect(e).toBeInstanceOf(MatrixFileError);
      expect((e as Error).message).toMatch(message);
    };
    bad(() => '{not json', /invalid JSON/);
    bad(() => ({ config: {}, samples: [], aggregate: {}, history: [] }), /run’s result, not a defence matrix/);
    bad(() => [1, 2], /expected the defences, cells and scenario/);
    bad((m) => {
      m.cells[1].rate = 'high';
    }, /cells\[1\]\.rate/);
    bad((m) => {
      m.cells[0].rate = 1.5;
    }, /cells\[0\]\.rate/);
    bad((m) => {
      m.cells[0].attacker = 'oracle';
    }, /cells\[0\]\.attacker/);
    bad((m) => {
      m.scenario = 'chess';
    }, /scenario/);
    bad((m) => {
      m.defences[1].detector.cleanScores = 'many';
    }, /defences\[1\]\.detector\.cleanScores/);
    bad((m) => {
      m.cells[3].defence = 'shield';
    }, /cells\[3\] is for a defence or mode the matrix does not list/);
    bad((m) => {
      m.cells.push({ ...m.cells[0] });
    }, /a cell is listed twice/);
    bad((m) => {
      m.defences.push({ ...m.defences[0] });
    }, /a defence has two rows/);
  });
});

describe('matrix options', () => {
  it('seeds 0.. N − 1, and toggles keep the canonical order', () => {
    expect(matrixSeeds({ seeds: 3, modes: ['encoder'], defences: ['clamp'] })).toEqual([0, 1, 2]);
    const all = ['a', 'b', 'c'] as const;
    expect(toggled(['c'], 'a', true, all)).toEqual(['a', 'c']);
    expect(toggled(['a', 'c'], 'a', false, all)).toEqual(['c']);
  });
});
