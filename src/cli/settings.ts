// The run-setting flags shared by `unclamp run` and `unclamp recover`, declared once. A flag left out is
// left out of the result too: the scenario's table (src/scenarios/catalog.ts) supplies its value.
import type { Command } from 'commander';
import {
  changedSettings,
  DELTA_POSITIONS,
  effectiveRun,
  RUN_SETTING_KEYS,
  type RunSettings,
  type ScenarioId,
} from '../scenarios/catalog.ts';
import { integer, number, oneOf } from './parse.ts';

export interface SettingFlags {
  mode?: RunSettings['mode'];
  delta?: RunSettings['delta'];
  positions?: RunSettings['positions'];
  steps?: number;
  lr?: number;
  budget?: number;
  lambdaAct?: number;
  seed?: number;
  reproject?: boolean;
  checkpointDrift?: number;
}

export function addSettingOptions(cmd: Command): Command {
  return cmd
    .option('--mode <mode>', 'projection mode: none | encoder | jacobian', oneOf('--mode', ['none', 'encoder', 'jacobian'] as const))
    .option(
      '--delta <kind>',
      'per-sample | shared (per-sample: each ‖δ_i‖ ≤ ρ; shared: one δ, ‖δ‖ ≤ ρ)',
      oneOf('--delta', ['per-sample', 'shared'] as const),
    )
    .option(
      '--positions <which>',
      "δ at the scenario's positions, every real token, or the last one: default | all | last",
      oneOf('--positions', DELTA_POSITIONS),
    )
    .option('--steps <n>', 'Adam steps', integer('--steps'))
    .option('--lr <x>', 'Adam learning rate', number('--lr'))
    .option('--budget <r>', 'budget ρ', number('--budget'))
    .option('--lambda-act <x>', 'weight of the relative drift penalty', number('--lambda-act'))
    .option('--seed <s>', 'seed (data and optimiser)', integer('--seed'))
    .option('--reproject', 'encoder mode: also project δ itself after each step (exact encoder orthogonality)')
    .option('--no-reproject', "encoder mode: project the gradient only (the paper's variant)")
    .option('--checkpoint-drift <x>', 'report, per sample, the best δ whose relative drift is ≤ x', number('--checkpoint-drift'));
}

/** The settings the user gave on the command line (and only those). */
export function settingsFromFlags(flags: SettingFlags): Partial<RunSettings> {
  const given: Partial<Record<keyof RunSettings, unknown>> = { ...flags, checkpointMaxRelDrift: flags.checkpointDrift };
  const out: Partial<Record<keyof RunSettings, unknown>> = {};
  for (const k of RUN_SETTING_KEYS) if (given[k] !== undefined) out[k] = given[k];
  return out as Partial<RunSettings>;
}

/** One line for stderr: the settings a run uses, and which of them differ from the scenario's. */
export function settingsLine(id: ScenarioId, changed: Partial<RunSettings>): string {
  const r = effectiveRun(id, changed);
  const defaults = effectiveRun(id);
  const diff = changedSettings(id, changed).map((k) => `${k} ${String(r[k])} (scenario: ${String(defaults[k])})`);
  const parts = [`mode ${r.mode}`, `δ ${r.delta} at ${r.positions} positions`, `${r.steps} steps`, `lr ${r.lr}`, `ρ ${r.budget}`];
  parts.push(`λ_act ${r.lambdaAct}`, `seed ${r.seed}`);
  if (r.reproject) parts.push('δ re-projected');
  if (r.checkpointMaxRelDrift !== null) parts.push(`drift cap ${r.checkpointMaxRelDrift}`);
  const base = `${id}: ${parts.join(', ')}`;
  return diff.length ? `${base}; changed from the scenario's: ${diff.join(', ')}` : `${base} (the scenario's defaults)`;
}
