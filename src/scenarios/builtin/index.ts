// The built-in scenarios, by id: one declaration each (title, builder), so the CLI, the worker and the
// report share the list.
import { buildIoi } from './ioi.ts';
import { buildRefusal } from './refusal.ts';
import { buildTpp } from './tpp.ts';
import { buildUnlearning } from './unlearning.ts';
import type { BuiltScenario, ScenarioContext, ScenarioId, ScenarioParams } from './types.ts';

export const SCENARIOS: Record<ScenarioId, { title: string; blurb: string; build: (ctx: ScenarioContext, p?: ScenarioParams) => Promise<BuiltScenario> }> = {
  ioi: { title: 'IOI', blurb: 'Clamp the features that carry the indirect object; a shared δ at the answer position brings the name back.', build: buildIoi },
  refusal: { title: 'Refusal steering', blurb: 'Amplify refusal features ×3 so borderline requests get refused; δ restores compliance under the clamp.', build: buildRefusal },
  tpp: { title: 'TPP', blurb: 'Zero-ablate the features a class probe reads; δ makes the probe read the class again.', build: buildTpp },
  unlearning: { title: 'Unlearning', blurb: 'Clamp features of a forgotten domain; δ brings the right multiple-choice answers back.', build: buildUnlearning },
};

export function isScenarioId(s: string): s is ScenarioId {
  return s in SCENARIOS;
}

export { SCENARIO_IDS, type BuiltScenario, type ScenarioContext, type ScenarioId, type ScenarioParams } from './types.ts';
