// The paper's released results (src/scenarios/reference/), read where a table or a run puts ours beside them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { formatNumber } from '../core/format.ts';

const REFERENCE = path.resolve(import.meta.dirname, '../scenarios/reference');

export const readReference = (file: string): string => readFileSync(path.join(REFERENCE, file), 'utf8');
export const readReferenceJson = (file: string): Record<string, unknown> => JSON.parse(readReference(file));

/** The paper's IOI figures for one mode, in one line (after an `unclamp run --scenario paper-ioi`). */
export function paperIoiLine(mode: string): string {
  const m = (readReferenceJson('ioi_aggregate.json').aggregate_by_mode as Record<string, Record<string, number>>)[mode];
  if (!m) return `the paper reports no IOI run in mode ${mode} (none and encoder only)`;
  return `the paper (GPT-2 small, this setting), mode ${mode}: ${m.n_valid_flips} valid flips of ${m.n_prompts}, ${m.n_recovered_success} recovered, abs drift ${formatNumber(m.mean_final_act_drift_l2_valid)}, decode drift ${formatNumber(m.mean_final_decode_drift_l2_valid)}`;
}
