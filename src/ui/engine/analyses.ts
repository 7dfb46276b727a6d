// The analyses beside a run: the feature-map Jacobian, the recovery-path replay, a budget sweep, and one prompt's
// next tokens.
import type { NextTokenView } from '../../engine/protocol.ts';
import { useStore } from '../store.ts';
import { runSettings } from '../config.ts';
import { KAPPA_SWEEP } from '../../scenarios/catalog.ts';
import { request } from './bridge.ts';
import { guarded } from './report.ts';

export async function analyseJacobian(): Promise<void> {
  const j = await guarded('Analysing the Jacobian', () => request({ type: 'jacobian' }));
  if (j) useStore.getState().set({ jacobian: j });
}

export async function replayPath(): Promise<void> {
  const r = await guarded('Replaying the recovery path', () => request({ type: 'replay', topK: 8 }));
  if (r) useStore.getState().set({ replay: r });
}

/**
 * One prompt's top-k next tokens for the base, defended and recovered model. Not guarded: the next-token view
 * asks again as a run goes, and shows its own errors in place rather than as a notice each time.
 */
export function fetchNextTokens(sample: number, topK: number): Promise<NextTokenView> {
  return request({ type: 'nextTokens', sample, topK });
}

export async function sweepBudget(): Promise<void> {
  const run = runSettings(useStore.getState().config);
  const relative = run.budgetRel !== null;
  // Relative: κ over the paper's range; absolute: around the run's own ρ, from a twentieth of it to twice it.
  const budgets = relative ? [...KAPPA_SWEEP] : [0.05, 0.1, 0.25, 0.5, 1, 2].map((f) => Number((f * run.budget).toPrecision(3)));
  const r = await guarded('Sweeping the budget', () => request({ type: 'budgetSweep', budgets, relative }));
  if (r) useStore.getState().set({ sweep: r });
}
