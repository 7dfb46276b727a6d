// The worker registers @tensorflow/tfjs-core without the chained-op prototypes (x.reshape(…) is undefined
// there), while Node loads the full @tensorflow/tfjs and has them, so a chained call passes every Node test
// and breaks only in the browser. This scan keeps the engine code on the functional form tf.reshape(x, …);
// a line that calls such a method on something else says so with the words "not a tensor".
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const DIRS = ['core', 'model', 'scenarios', 'engine', 'world', 'io'];
const CHAINED =
  /\)\s*\.(reshape|squeeze|expandDims|matMul|transpose|mul|sub|div|sum|mean|neg|exp|sqrt|square|relu|softmax|gather|cast|tile|clipByValue|norm|argMax|logSoftmax)\(/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    if (statSync(p).isDirectory()) return files(p);
    return /\.tsx?$/.test(f) && !/\.test\.ts$/.test(f) ? [p] : [];
  });
}

describe('engine code', () => {
  it('uses no chained tensor methods (they do not exist in the worker)', () => {
    const hits: string[] = [];
    for (const f of DIRS.flatMap((d) => files(path.join(ROOT, d)))) {
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (!line.trim().startsWith('//') && !line.includes('not a tensor') && CHAINED.test(line))
            hits.push(`${path.relative(ROOT, f)}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(hits).toEqual([]);
  });
});
