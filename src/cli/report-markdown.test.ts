// docs/results.md is what the report renders from docs/results.json (`unclamp report --render` does just this):
// the rendering, the pooling over seeds and the paper's figures read back from src/scenarios/reference/ must
// reproduce it byte for byte, so a change to any of them shows here instead of at the next five-minute
// `unclamp report --all`. A deliberate change re-renders the document: `npx unclamp report --render`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportDocument } from './report-markdown.ts';
import type { ScenarioData } from './report-runs.ts';

const docs = path.resolve(import.meta.dirname, '../../docs');

describe('the report document', () => {
  it('renders docs/results.md from docs/results.json', () => {
    const data = JSON.parse(readFileSync(path.join(docs, 'results.json'), 'utf8')) as {
      meta: Parameters<typeof reportDocument>[1];
      scenarios: ScenarioData[];
      defences?: Parameters<typeof reportDocument>[2];
    };
    expect(reportDocument(data.scenarios, data.meta, data.defences)).toBe(readFileSync(path.join(docs, 'results.md'), 'utf8'));
  });
});
