// The defence in the page’s configuration (and the Defences tab’s actions): its URL form (`defence=no-error-term+detect`, `clip=`, `fpr=`), checked by
// parseDefence, falling back field by field like every other setting, and the default leaving links as they were.
import { describe, expect, it } from 'vitest';
import {
  configFromHash,
  configToHash,
  DEFAULT_CONFIG,
  defenceChoice,
  defenceConfig,
  parseSavedConfig,
  type PlaygroundConfig,
} from './config.ts';
import { parseDefence } from '../core/defence-kinds.ts';
import { action, handleKeyDown } from './actions.ts';
import { useStore } from './store.ts';

describe('the defence in the URL state', () => {
  it('leaves the default (the paper’s clamp) out of links and configurations', () => {
    expect(configToHash(DEFAULT_CONFIG)).toBe('#s=ioi');
    for (const hash of ['#s=ioi&defence=clamp', '#s=ioi&defence=clamp&clip=90&fpr=0.05']) {
      const { config, problems } = configFromHash(hash);
      expect(problems).toEqual([]);
      expect(config).toEqual(DEFAULT_CONFIG);
      expect(configToHash(config)).toBe('#s=ioi');
    }
    expect(defenceChoice(DEFAULT_CONFIG)).toEqual(parseDefence('clamp'));
  });

  it('reads and writes `defence=no-error-term+detect` with a literal +, in the canonical order', () => {
    for (const raw of ['no-error-term+detect', 'detect+no-error-term', 'no-error-term,detect', 'no-error-term%2Bdetect']) {
      const { config, problems } = configFromHash(`#s=ioi&defence=${raw}`);
      expect(problems).toEqual([]);
      expect(config.defence).toBe('no-error-term+detect');
      expect(configToHash(config)).toBe('#s=ioi&defence=no-error-term+detect');
    }
    // What the link holds is what the engine is asked for.
    const { config } = configFromHash('#s=tpp&defence=clip-error+multi-layer&clip=95&n=7');
    expect(defenceChoice(config)).toEqual(parseDefence('clip-error+multi-layer', { clipPercentile: 95 }));
    expect(configToHash(config)).toBe('#s=tpp&defence=clip-error+multi-layer&clip=95&n=7');
  });

  it('round-trips every choice the panel can make, with its settings', () => {
    const choices = [
      parseDefence('no-error-term'),
      parseDefence('reclamp+multi-layer+detect', { detectFpr: 0.05 }),
      parseDefence('clip-error', { clipPercentile: 90 }),
      parseDefence('ablate-span+detect'),
      parseDefence('multi-layer'),
      parseDefence('detect', { detectFpr: 0.5 }),
    ];
    for (const choice of choices) {
      const c: PlaygroundConfig = { ...DEFAULT_CONFIG, ...defenceConfig(choice) };
      const back = configFromHash(configToHash(c));
      expect(back.problems).toEqual([]);
      expect(defenceChoice(back.config)).toEqual(choice);
      expect(back.config).toEqual(c);
    }
  });

  it('keeps a setting only where its defence is chosen', () => {
    expect(defenceConfig(parseDefence('clip-error', { clipPercentile: 99 }))).toEqual({
      defence: 'clip-error',
      clipPercentile: undefined,
      detectFpr: undefined,
    });
    expect(defenceConfig(parseDefence('no-error-term', { clipPercentile: 90, detectFpr: 0.1 })).clipPercentile).toBeUndefined();
    const { config } = configFromHash('#s=ioi&defence=detect&clip=90&fpr=0.1');
    expect(config).toMatchObject({ defence: 'detect', detectFpr: 0.1 });
    expect(config.clipPercentile).toBeUndefined();
  });

  it('drops an invalid defence or setting (the default applies) and says why, in parseDefence’s words', () => {
    const cases: [string, string, RegExp][] = [
      ['defence=no-error-term+clip-error', 'defence', /both act at the hook/],
      ['defence=shield', 'defence', /"shield" is not a defence/],
      ['defence=detect+detect', 'defence', /listed twice/],
      ['defence=ablate-span+multi-layer', 'defence', /does not combine with multi-layer/],
      ['defence=clip-error&clip=0', 'clip', /percentile must be in \(0, 100\]/],
      ['defence=clip-error&clip=abc', 'clip', /expected number/],
      ['defence=detect&fpr=0.9', 'fpr', /false-positive rate must be in \(0, 0.5\]/],
    ];
    for (const [query, field, message] of cases) {
      const { config, problems } = configFromHash(`#s=ioi&n=7&${query}`);
      expect(problems, query).toHaveLength(1);
      expect(problems[0].startsWith(`${field}: `), query).toBe(true);
      expect(problems[0], query).toMatch(message);
      // The rest of the link still applies.
      expect(config.run).toEqual({ steps: 7 });
    }
    // A bad setting leaves its defence in place with the default setting.
    const { config } = configFromHash('#s=ioi&defence=detect&fpr=2');
    expect(defenceChoice(config)).toEqual(parseDefence('detect'));
  });

  it('saved settings go through the same checks', () => {
    expect(parseSavedConfig({ ...DEFAULT_CONFIG, defence: 'no-error-term+detect', detectFpr: 0.05 })).toMatchObject({
      defence: 'no-error-term+detect',
      detectFpr: 0.05,
    });
    expect(parseSavedConfig({ ...DEFAULT_CONFIG, defence: 'reclamp+ablate-span' })).toBeNull();
    expect(parseSavedConfig({ ...DEFAULT_CONFIG, defence: 'clip-error', clipPercentile: 101 })).toBeNull();
    // Settings saved before the defence existed still load.
    expect(parseSavedConfig(DEFAULT_CONFIG)).toEqual(DEFAULT_CONFIG);
  });
});

describe('the Defences tab’s actions', () => {
  const key = (k: string) =>
    ({
      key: k,
      ctrlKey: false,
      metaKey: false,
      altKey: false,
      target: { closest: () => null },
      preventDefault: () => undefined,
    }) as unknown as KeyboardEvent;

  it('switch views; the run’s keys act on the playground only, the tour brings it back', () => {
    useStore.setState({ history: [{ step: 0 }, { step: 1 }] as never, pinned: [], view: 'playground' });
    void action('view-defences').perform();
    expect(useStore.getState().view).toBe('defences');
    expect(handleKeyDown(key('p'))).toBe(false);
    expect(useStore.getState().pinned).toHaveLength(0);
    expect(handleKeyDown(key('?'))).toBe(true);
    expect(useStore.getState()).toMatchObject({ view: 'playground', tourStep: 0 });
    expect(handleKeyDown(key('p'))).toBe(true);
    expect(useStore.getState().pinned).toHaveLength(1);
    useStore.setState({ tourStep: null, pinned: [], history: [] });
  });

  it('runs the matrix only on a built-in scenario, with a mode and a defence chosen, one at a time', () => {
    const ready = {
      ...useStore.getState(),
      config: { ...DEFAULT_CONFIG, scenario: 'ioi' as const },
      status: 'ready' as const,
      busy: null,
      matrixProgress: null,
      matrixOptions: { seeds: 1, modes: ['encoder' as const], defences: ['clamp' as const] },
    };
    const run = action('run-matrix');
    expect(run.enabled(ready)).toBe(true);
    expect(run.enabled({ ...ready, config: { ...ready.config, scenario: 'probe-example' } })).toBe(false);
    expect(run.enabled({ ...ready, matrixOptions: { ...ready.matrixOptions, modes: [] } })).toBe(false);
    expect(run.enabled({ ...ready, status: 'running' })).toBe(false);
    const going = { ...ready, matrixProgress: { message: '', done: 0, total: 3, cancelling: false } };
    expect(run.enabled(going)).toBe(false);
    expect(action('cancel-matrix').enabled(going)).toBe(true);
    expect(action('cancel-matrix').enabled({ ...going, matrixProgress: { ...going.matrixProgress, cancelling: true } })).toBe(false);
    expect(action('open-matrix').enabled(going)).toBe(false);
    expect(action('save-matrix').enabled(ready)).toBe(false);
  });
});
