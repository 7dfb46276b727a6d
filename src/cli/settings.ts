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
import { indexList, integer, number, oneOf } from './parse.ts';
import { formatNumber } from '../core/format.ts';

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

export function addSettingOptions(cmd: Command): Command {
  return cmd
    .option('--mode <mode>', 'projection mode: none | encoder | jacobian', oneOf('--mode', ['none', 'encoder', 'jacobian'] as const))
    .option(
      '--optimizer <name>',
      "adam (the paper's) | pgd (L2 projected gradient, normalised steps)",
      oneOf('--optimizer', ['adam', 'pgd'] as const),
    )
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
    .option('--steps <n>', 'optimiser steps', integer('--steps'))
    .option('--lr <x>', "Adam's learning rate; for pgd, the first step's length as a fraction of ρ", number('--lr'))
    .option('--budget-rel <k>', 'budget κ: ρ = κ · median ‖h_def‖ at the δ positions · √P (the default, κ = 0.3)', number('--budget-rel'))
    .option('--budget <r>', 'absolute budget ρ instead (‖δ‖ ≤ ρ per sample, or for the shared δ)', number('--budget'))
    .option('--lambda-act <x>', 'weight of the relative drift penalty', number('--lambda-act'))
    .option('--seed <s>', 'seed (data and optimiser)', integer('--seed'))
    .option('--reproject', 'encoder mode: also project δ itself after each step (exact encoder orthogonality)')
    .option('--no-reproject', "encoder mode: project the gradient only (the paper's variant)")
    .option(
      '--checkpoint-drift <x>',
      'report per sample the best δ (checked every 10 steps) whose relative drift is ≤ x, else the best B − 80·drift',
      number('--checkpoint-drift'),
    );
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
