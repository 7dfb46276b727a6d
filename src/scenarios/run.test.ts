// Where a run's settings come from: the scenario's table for every run setting (the core's own defaults,
// core/options.ts, never reach a scenario run), with the user's changes on top and only real changes kept.
import { describe, expect, it } from 'vitest';
import { changedOnly, RUN_SETTING_KEYS, SCENARIO_IDS, SCENARIOS } from './catalog.ts';
import { runOptions } from './run.ts';

describe('run options', () => {
  it.each(SCENARIO_IDS)("%s: every run setting is the scenario's, none the core's default", (id) => {
    const table = SCENARIOS[id].defaults.run;
    const options = runOptions(id) as unknown as Record<string, unknown>;
    for (const key of RUN_SETTING_KEYS) {
      if (key === 'positions') continue; // where δ goes is the site's, not an optimiser option
      expect(options[key], key).toBe(table[key]);
    }
  });

  it('keeps only the changes that differ from the scenario (what a link and saved settings hold)', () => {
    const d = SCENARIOS.refusal.defaults.run;
    expect(changedOnly('refusal', { steps: d.steps, lr: 0.5, budget: undefined })).toEqual({ lr: 0.5 });
    expect(changedOnly('ioi', { budgetRel: null, budget: SCENARIOS.ioi.defaults.run.budget })).toEqual({ budgetRel: null });
    expect(changedOnly('ioi', { budget: 5 })).toEqual({ budget: 5 });
  });
});
