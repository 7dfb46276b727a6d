// The relative budget: the ρ a κ means on a site, computed once here for the run (RecoveryRun.create) and for
// the page, which shows it beside κ from what the engine sends (engine/session.ts DefenceInfo), so the two
// never disagree. No TensorFlow.js: the page imports it.
import { RecoveryOptionError } from './options.ts';
import type { RecoverySite } from './site.ts';
import { medianOf } from './stats.ts';

/** What a relative budget scales with on one site (docs/method.md §3.4). */
export interface BudgetBasis {
  /** Median ‖h_def‖ over the δ positions of every sample. */
  slotNormMedian: number;
  /**
   * P: the median number of δ positions a sample uses — not the padded slot count, which is the longest
   * sample's (TPP's sentences differ in length, and δ at every token then gives each sample its own count).
   */
  slotsPerSample: number;
}

export function budgetBasis(site: RecoverySite): BudgetBasis {
  return { slotNormMedian: site.baseline.slotNormMedian, slotsPerSample: medianOf(site.slotsPerSample) ?? site.p };
}

/** ρ = κ · median ‖h_def‖ at the δ positions · √P. */
export function rhoForKappa(kappa: number, basis: BudgetBasis): number {
  return kappa * basis.slotNormMedian * Math.sqrt(basis.slotsPerSample);
}

/** The ρ a run with relative budget κ uses on this site; refused when the residual there is zero. */
export function relativeBudget(site: RecoverySite, kappa: number): number {
  const rho = rhoForKappa(kappa, budgetBasis(site));
  if (!(rho > 0 && Number.isFinite(rho)))
    throw new RecoveryOptionError(`a relative budget needs a non-zero residual at the δ positions (got ρ = ${rho})`);
  return rho;
}
