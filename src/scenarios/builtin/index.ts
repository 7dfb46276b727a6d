// The built-in scenarios, by id: one declaration each (title, builder), so the CLI, the worker and the
// report share the list.
import { buildIoi } from './ioi.ts';
import { buildRefusal } from './refusal.ts';
import { buildTpp } from './tpp.ts';
import { buildUnlearning } from './unlearning.ts';
import { SCENARIO_CATALOG } from './catalog.ts';
import type { BuiltScenario, ScenarioContext, ScenarioId, ScenarioParams } from './types.ts';

export const SCENARIOS: Record<ScenarioId, { title: string; blurb: string; build: (ctx: ScenarioContext, p?: ScenarioParams) => Promise<BuiltScenario> }> = {
  ioi: { ...SCENARIO_CATALOG.ioi, build: buildIoi },
  refusal: { ...SCENARIO_CATALOG.refusal, build: buildRefusal },
  tpp: { ...SCENARIO_CATALOG.tpp, build: buildTpp },
  unlearning: { ...SCENARIO_CATALOG.unlearning, build: buildUnlearning },
};

export function isScenarioId(s: string): s is ScenarioId {
  return s in SCENARIOS;
}

export { SCENARIO_IDS, type BuiltScenario, type ScenarioContext, type ScenarioId, type ScenarioParams } from './types.ts';
