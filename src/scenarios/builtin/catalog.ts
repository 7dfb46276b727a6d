// Titles and one-line descriptions of the built-in scenarios — data only, so the page can list them without
// loading any tensor code.
import type { ScenarioId } from './types.ts';

export const SCENARIO_CATALOG: Record<ScenarioId, { title: string; blurb: string }> = {
  ioi: { title: 'IOI', blurb: 'Clamp the features that carry the indirect object; a shared δ at the answer position brings the name back.' },
  refusal: { title: 'Refusal steering', blurb: 'Amplify refusal features ×3 so borderline requests get refused; δ restores compliance under the clamp.' },
  tpp: { title: 'TPP', blurb: 'Zero-ablate the features a class probe reads; δ makes the probe read the class again.' },
  unlearning: { title: 'Unlearning', blurb: 'Clamp features of a forgotten domain; δ brings the right multiple-choice answers back.' },
};
