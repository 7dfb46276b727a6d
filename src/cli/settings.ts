// The run-setting flags shared by `unclamp run` and `unclamp recover`, declared once. A flag left out is
// left out of the result too: the scenario's table (src/scenarios/catalog.ts) supplies its value.
import type { Command } from 'commander';
import {
  changedSettings,
  DEFAULT_KAPPA,
  DELTA_POSITIONS,
  effectiveRun,
  RUN_SETTING_KEYS,
  RUN_SETTING_TEXT,
  type RunSettings,
  type ScenarioId,
} from '../scenarios/catalog.ts';
import { indexList, integer, number, oneOf } from './parse.ts';
import { formatNumber } from '../core/format.ts';
import { DELTA_SHARINGS, OPTIMIZER_KINDS, PROJECTION_MODES } from '../core/options.ts';

export interface SettingFlags {
  mode?: RunSettings['mode'];
  optimizer?: RunSettings['optimizer'];
  delta?: RunSettings['delta'];
  positions?: RunSettings['positions'];
  steps?: number;
  lr?: number;
  budget?: number;
  budgetRel?: number;
  lambdaAct?: number;
  seed?: number;
  reproject?: boolean;
  checkpointDrift?: number;
}

/**
 * The flags' meanings are the catalog's (RUN_SETTING_TEXT), their bounds the engine's: a value out of range is
 * refused by resolveOptions (core/options.ts) before anything loads, with the message a link or the page gets.
 */
export function addSettingOptions(cmd: Command): Command {
  const help = (k: keyof RunSettings) => RUN_SETTING_TEXT[k].help;
  return cmd
    .option('--mode <mode>', help('mode'), oneOf('--mode', PROJECTION_MODES))
    .option('--optimizer <name>', help('optimizer'), oneOf('--optimizer', OPTIMIZER_KINDS))
    .option('--delta <kind>', help('delta'), oneOf('--delta', DELTA_SHARINGS))
    .option('--positions <which>', help('positions'), oneOf('--positions', DELTA_POSITIONS))
    .option('--steps <n>', help('steps'), integer('--steps'))
    .option('--lr <x>', help('lr'), number('--lr'))
    .option('--budget-rel <k>', `${help('budgetRel')} (the default, κ = ${DEFAULT_KAPPA})`, number('--budget-rel'))
    .option('--budget <r>', help('budget'), number('--budget'))
    .option('--lambda-act <x>', help('lambdaAct'), number('--lambda-act'))
    .option('--seed <s>', help('seed'), integer('--seed'))
    .option('--reproject', help('reproject'))
    .option('--no-reproject', "encoder mode: project the gradient only (the paper's variant)")
    .option('--checkpoint-drift <x>', help('checkpointMaxRelDrift'), number('--checkpoint-drift'));
}

/** The defence flags shared by `run` and `recover` (each adds its own top-K flag). */
export function addDefenceOptions(cmd: Command, defaultClamp: string): Command {
  return cmd
    .option('--features <list>', "defended SAE features instead of the scenario's selection, e.g. 3,17,40-43", indexList('--features'))
    .option('--clamp <rule>', `zero | set:C | multiply:A (default: ${defaultClamp})`)
    .option('--positive-only', 'with --clamp set/zero: only where the feature is active (z > 0)');
}

/** The settings the user gave on the command line (and only those). */
export function settingsFromFlags(flags: SettingFlags): Partial<RunSettings> {
  const given: Partial<Record<keyof RunSettings, unknown>> = { ...flags, checkpointMaxRelDrift: flags.checkpointDrift };
  const out: Partial<Record<keyof RunSettings, unknown>> = {};
  for (const k of RUN_SETTING_KEYS) if (given[k] !== undefined) out[k] = given[k];
  return out as Partial<RunSettings>;
}

/**
 * One line: the settings a run used (with `rho`, the absolute budget it ended up with), and which of them differ
 * from the scenario's.
 */
export function settingsLine(id: ScenarioId, changed: Partial<RunSettings>, rho: number): string {
  const r = effectiveRun(id, changed);
  const defaults = effectiveRun(id);
  const diff = changedSettings(id, changed).map((k) => `${k} ${String(r[k])} (scenario: ${String(defaults[k])})`);
  const budget = r.budgetRel !== null ? `ρ ${formatNumber(rho)} (κ ${r.budgetRel})` : `ρ ${formatNumber(rho)}`;
  const parts = [`mode ${r.mode}`, `${r.optimizer}`, `δ ${r.delta} at ${r.positions} positions`, `${r.steps} steps`, `lr ${r.lr}`, budget];
  parts.push(`λ_act ${r.lambdaAct}`, `seed ${r.seed}`);
  if (r.reproject) parts.push('δ re-projected');
  if (r.checkpointMaxRelDrift !== null) parts.push(`drift cap ${r.checkpointMaxRelDrift}`);
  const base = `${id}: ${parts.join(', ')}`;
  return diff.length ? `${base}; changed from the scenario's: ${diff.join(', ')}` : `${base} (the scenario's defaults)`;
}
