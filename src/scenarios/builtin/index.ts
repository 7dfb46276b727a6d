// The built-in scenarios' builders, by id (titles, blurbs and defaults are in ../catalog.ts).
import type { BuiltinScenarioId } from '../catalog.ts';
import { buildIoi } from './ioi.ts';
import { buildRefusal } from './refusal.ts';
import { buildTpp } from './tpp.ts';
import { buildUnlearning } from './unlearning.ts';
import type { BuiltScenario, ScenarioContext, ScenarioParams } from './types.ts';

export const BUILDERS: Record<BuiltinScenarioId, (ctx: ScenarioContext, p?: ScenarioParams) => Promise<BuiltScenario>> = {
  ioi: buildIoi,
  refusal: buildRefusal,
  tpp: buildTpp,
  unlearning: buildUnlearning,
};
