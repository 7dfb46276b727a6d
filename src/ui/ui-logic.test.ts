import { describe, expect, it } from 'vitest';
import { configFromHash, configToHash, DEFAULT_CONFIG, type PlaygroundConfig } from './config.ts';
import { chartPoints, decimate } from './series.ts';
import { ACTIONS, handleKeyDown } from './actions.ts';
import { useStore } from './store.ts';

describe('URL state', () => {
  it('round-trips a full configuration', () => {
    const c: PlaygroundConfig = {
      scenario: 'tpp',
      sae: 'ladder-high',
      features: [3, 17, 40],
      clamp: { kind: 'set', value: -5, onlyActive: true },
      run: { mode: 'jacobian', delta: 'shared', positions: 'last', steps: 120, lr: 0.08, budget: 7.5, lambdaAct: 20, seed: 9, reproject: true },
      stepDelayMs: 100,
    };
    const { config, problems } = configFromHash(configToHash(c));
    expect(problems).toEqual([]);
    expect(config).toEqual(c);
    expect(configFromHash(configToHash(DEFAULT_CONFIG)).config).toEqual(DEFAULT_CONFIG);
  });

  it('repairs bad fields one by one and says which', () => {
    const { config, problems } = configFromHash('#s=nope&m=encoder&n=-3&lr=abc&b=2&seed=1.5&f=1.x.3');
    expect(config.scenario).toBe(DEFAULT_CONFIG.scenario);
    expect(config.run.mode).toBe('encoder');
    expect(config.run.steps).toBe(DEFAULT_CONFIG.run.steps);
    expect(config.run.lr).toBe(DEFAULT_CONFIG.run.lr);
    expect(config.run.budget).toBe(2);
    expect(config.run.seed).toBe(DEFAULT_CONFIG.run.seed);
    expect(config.features).toBeNull();
    expect(problems.join(' ')).toMatch(/scenario/);
    expect(problems.join(' ')).toMatch(/steps/);
    expect(problems.join(' ')).toMatch(/lr/);
    expect(problems.join(' ')).toMatch(/features/);
  });
});

describe('chart series', () => {
  it('decimates long series keeping both ends', () => {
    const xs = Array.from({ length: 1001 }, (_, i) => i);
    const d = decimate(xs, 50);
    expect(d).toHaveLength(50);
    expect(d[0]).toBe(0);
    expect(d.at(-1)).toBe(1000);
    expect(decimate([1, 2, 3], 50)).toEqual([1, 2, 3]);
  });

  it('puts a Wilson band around each recovery-rate point', () => {
    const pts = chartPoints([{ step: 10, objective: 1, loss: -1, recoveryRate: 0.5, meanRelDrift: 0, meanAbsDrift: 0, meanDeltaNorm: 1, residualNorm: 2, projectionCosine: 1 }], 20);
    expect(pts[0].band![0]).toBeLessThan(0.5);
    expect(pts[0].band![1]).toBeGreaterThan(0.5);
  });
});

describe('action registry', () => {
  it('has unique ids and shortcuts, and the keys the issue names', () => {
    const ids = ACTIONS.map((a) => a.id);
    expect(new Set(ids).size).toBe(ids.length);
    const keys = ACTIONS.filter((a) => a.shortcut).map((a) => a.shortcut!.key.toLowerCase());
    expect(new Set(keys).size).toBe(keys.length);
    expect(ACTIONS.find((a) => a.shortcut?.key === ' ')!.id).toBe('toggle-play');
    expect(ACTIONS.find((a) => a.shortcut?.key === 'ArrowRight')!.id).toBe('step');
    expect(ACTIONS.find((a) => a.shortcut?.key === 'r')!.id).toBe('reset');
  });

  it('ignores keys typed into fields and disabled actions; runs enabled ones', () => {
    let prevented = 0;
    const ev = (key: string, inField: boolean) =>
      ({ key, ctrlKey: false, metaKey: false, altKey: false, target: { closest: (sel: string) => (inField && sel.includes('input') ? {} : null) }, preventDefault: () => prevented++ }) as unknown as KeyboardEvent;
    useStore.setState({ history: [] });
    expect(handleKeyDown(ev('p', true))).toBe(false); // typing "p" in a field
    expect(handleKeyDown(ev('p', false))).toBe(false); // pin is disabled with no history
    useStore.setState({ history: [{ step: 0 }, { step: 1 }] as never, pinned: [] });
    expect(handleKeyDown(ev('p', false))).toBe(true);
    expect(useStore.getState().pinned).toHaveLength(1);
    expect(prevented).toBe(1);
  });
});
