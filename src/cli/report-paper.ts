// The paper's released aggregates (src/scenarios/reference/, read through reference.ts) that the report's modes
// tables set beside ours: the figures as the files give them, one row per run the paper reports. Writing them out
// is report-markdown.ts's job.
import type { BuiltinScenarioId } from '../scenarios/catalog.ts';
import { readReference, readReferenceJson } from './reference.ts';

/** One run the paper reports. A figure left out is one the paper does not give for that scenario; rates are shares. */
export interface PaperFigures {
  label: string;
  valid?: number;
  recovered?: number;
  rate?: number;
  rateCi?: [number, number];
  absDrift?: number;
  /** TPP's drift figure is relative, not absolute. */
  absDriftRelative?: boolean;
  relDrift?: number;
  /**
   * Unlearning: relative drift is defined on none of the valid flips (the defended norm is near zero on each); the
   * number of them when the paper's counts say that holds for all, null when they do not.
   */
  relDriftUndefinedOf?: number | null;
  /** Pooled over the eligible features of every valid flip. */
  reactivation?: number;
  /** The mean over prompts of each prompt's share. */
  reactivationPerPrompt?: number;
  zeroReactivation?: number;
}

export function paperFigures(id: BuiltinScenarioId): PaperFigures[] {
  switch (id) {
    case 'ioi': {
      const m = readReferenceJson('ioi_aggregate.json').aggregate_by_mode as Record<string, Record<string, number>>;
      return ['none', 'encoder'].map((k) => ({
        label: `paper: ${k}`,
        valid: m[k].n_valid_flips,
        recovered: m[k].n_recovered_success,
        rate: m[k].recovery_rate_over_valid,
        absDrift: m[k].mean_final_act_drift_l2_valid,
        reactivationPerPrompt: m[k].mean_reactivated_positive_fraction_within_eligible_valid,
      }));
    }
    case 'tpp': {
      const csv = readReference('neurips_main_table.csv')
        .trim()
        .split('\n')
        .map((l) => l.split(','));
      const head = csv[0];
      const all = csv.find((r) => r[0].startsWith('All'))!;
      const get = (k: string) => Number(all[head.indexOf(k)]);
      return (['none', 'encoder'] as const).map((k) => ({
        label: `paper: ${k}`,
        rate: get(`recovery_${k}`),
        absDrift: get(`act_${k}`),
        absDriftRelative: true,
        reactivation: get(`react_${k}`),
        zeroReactivation: get(`zero_${k}`),
      }));
    }
    case 'unlearning': {
      const m = readReferenceJson('unlearning_posthoc_aggregate.json').methods as Record<string, Record<string, number>>;
      return [
        ['None', 'none'],
        ['Encoder', 'encoder'],
        ['OABD', 'OABD soft suffix'],
      ].map(([k, label]) => ({
        label: `paper: ${label}`,
        valid: m[k].n_valid_flips,
        recovered: m[k].n_recovered,
        rate: m[k].recovery_rate,
        absDrift: m[k].mean_defended_feature_drift_abs_l2,
        relDriftUndefinedOf: m[k].n_near_zero_defended_norm === m[k].n_valid_flips ? m[k].n_valid_flips : null,
      }));
    }
    case 'refusal':
      // The paper's refusal figures are in its text (gemma-2-2b-it, stage 1), not in a released aggregate.
      return [
        { label: 'paper: jacobian (λ_act 200)', valid: 24, recovered: 23, rate: 0.958, rateCi: [0.798, 0.993], relDrift: 0.131 },
        { label: 'paper: unconstrained', valid: 24, recovered: 21, rate: 21 / 24, relDrift: 0.161 },
      ];
  }
}
