// One set of bounds for the run settings: a shared link (ui/config.ts), the engine (core/options.ts
// resolveOptions) and `unclamp run` accept the same largest value and refuse the next one with the same words.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { type BoundedSetting, boundsProblem, RUN_BOUNDS, resolveOptions } from '../core/options.ts';
import { configFromHash } from '../ui/config.ts';
import { runOptions } from '../scenarios/run.ts';
import { settingsFromFlags } from './settings.ts';

const root = path.resolve(import.meta.dirname, '../..');

function unclamp(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/unclamp.js'), ...args], { encoding: 'utf8', cwd: root, timeout: 120_000 });
  return { code: r.status, stderr: r.stderr };
}

/** Each bounded setting: its CLI flag (SettingFlags key) and its URL key. */
const SETTINGS: [BoundedSetting, string, string][] = [
  ['steps', 'steps', 'n'],
  ['lr', 'lr', 'lr'],
  ['budget', 'budget', 'b'],
  ['budgetRel', 'budget-rel', 'br'],
  ['lambdaAct', 'lambda-act', 'la'],
  ['seed', 'seed', 'seed'],
  ['checkpointMaxRelDrift', 'checkpoint-drift', 'cd'],
];
const tooBig = (key: BoundedSetting) => (RUN_BOUNDS[key].integer ? RUN_BOUNDS[key].max + 1 : RUN_BOUNDS[key].max * 2);

describe('run-setting bounds', () => {
  it.each(SETTINGS)('%s: the link, the engine and the CLI flags accept the max and refuse above it alike', (key, flag, short) => {
    const { max } = RUN_BOUNDS[key];
    const url = configFromHash(`#s=ioi&${short}=${max}`);
    expect(url.problems).toEqual([]);
    expect(url.config.run[key]).toBe(max);
    expect(resolveOptions({ [key]: max })).toMatchObject({ [key]: max });
    const camel = flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    expect(runOptions('ioi', settingsFromFlags({ [camel]: max }))[key]).toBe(max);

    const over = tooBig(key);
    const message = boundsProblem(key, over)!;
    expect(message).toBe(`${RUN_BOUNDS[key].name} = ${over} is above the limit ${max}`);
    expect(configFromHash(`#s=ioi&${short}=${over}`).problems).toEqual([`${key}: ${message}`]);
    expect(() => resolveOptions({ [key]: over })).toThrow(message);
    expect(() => runOptions('ioi', settingsFromFlags({ [camel]: over }))).toThrow(message);
  });

  it('`unclamp run` refuses a value above the limit before loading anything, and gets past every max', () => {
    const over = unclamp(['run', '--scenario', 'ioi', '--steps', String(RUN_BOUNDS.steps.max + 1)]);
    expect(over.code).toBe(2);
    expect(over.stderr.trim()).toBe(`unclamp: ${boundsProblem('steps', RUN_BOUNDS.steps.max + 1)}`);
    // Every max at once passes the settings check; the next check (--n) is what stops the run.
    const maxes = SETTINGS.flatMap(([key, flag]) => [`--${flag}`, String(RUN_BOUNDS[key].max)]);
    const atMax = unclamp(['run', '--scenario', 'ioi', ...maxes, '--n', '0']);
    expect(atMax.stderr.trim()).toBe('unclamp: --n must be in 1..512');
    expect(atMax.code).toBe(2);
  });

  it('refuses below the least value with the same words everywhere', () => {
    const message = boundsProblem('lr', 1e-7)!;
    expect(message).toBe('lr = 1e-7 is below the limit 0.000001');
    expect(configFromHash('#s=ioi&lr=1e-7').problems).toEqual([`lr: ${message}`]);
    expect(() => resolveOptions({ lr: 1e-7 })).toThrow(message);
    expect(boundsProblem('steps', 0)).toBe('steps must be a positive number, got 0');
    expect(boundsProblem('steps', 2.5)).toBe('steps must be a whole number, got 2.5');
  });
});
