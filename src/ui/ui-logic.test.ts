import { describe, expect, it } from 'vitest';
import { configFromHash, configToHash, DEFAULT_CONFIG, runSettings, type PlaygroundConfig } from './config.ts';
import { SCENARIOS } from '../scenarios/catalog.ts';
import { RUN_BOUNDS } from '../core/options.ts';
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
      run: {
        mode: 'jacobian',
        delta: 'shared',
        positions: 'last',
        steps: 120,
        lr: 0.08,
        budget: 7.5,
        lambdaAct: 20,
        seed: 9,
        reproject: true,
        checkpointMaxRelDrift: null,
      },
      stepDelayMs: 100,
    };
    const { config, problems } = configFromHash(configToHash(c));
    expect(problems).toEqual([]);
    expect(config).toEqual(c);
    expect(configFromHash(configToHash(DEFAULT_CONFIG)).config).toEqual(DEFAULT_CONFIG);
  });

  it("holds only what the user changed; the rest is the scenario's table", () => {
    expect(configToHash(DEFAULT_CONFIG)).toBe('#s=ioi');
    const { config } = configFromHash('#s=refusal&n=7');
    expect(config.run).toEqual({ steps: 7 });
    expect(runSettings(config)).toEqual({ ...SCENARIOS.refusal.defaults.run, steps: 7 });
    // Setting a value back to the scenario's own drops it from the configuration (and the link).
    useStore.setState({ config });
    useStore.getState().setRun({ steps: SCENARIOS.refusal.defaults.run.steps, lr: 0.5 });
    expect(useStore.getState().config.run).toEqual({ lr: 0.5 });
    expect(configToHash(useStore.getState().config)).toBe('#s=refusal&lr=0.5');
  });

  it("drops bad fields one by one (the scenario's value applies) and says which", () => {
    const { config, problems } = configFromHash('#s=nope&m=encoder&n=-3&lr=abc&b=2&seed=1.5&f=1.x.3&cd=off');
    expect(config.scenario).toBe(DEFAULT_CONFIG.scenario);
    expect(config.run).toEqual({ mode: 'encoder', budget: 2, checkpointMaxRelDrift: null });
    expect(runSettings(config).steps).toBe(SCENARIOS.ioi.defaults.run.steps);
    expect(config.features).toBeNull();
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['features', 'lr', 'scenario', 'seed', 'steps']);
  });

  it('refuses links that ask for absurd work', () => {
    const { config, problems } = configFromHash('#s=ioi&n=1000000000&b=1e9');
    expect(config.run).toEqual({});
    // The engine's bounds (core/options.ts), in the engine's words: what the CLI refuses too.
    expect(problems).toEqual([
      `steps: steps = 1000000000 is above the limit ${RUN_BOUNDS.steps.max}`,
      `budget: budget = 1000000000 is above the limit ${RUN_BOUNDS.budget.max}`,
    ]);
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
    const pts = chartPoints(
      [
        {
          step: 10,
          objective: 1,
          loss: -1,
          recoveryRate: 0.5,
          meanRelDrift: 0,
          meanAbsDrift: 0,
          meanDeltaNorm: 1,
          residualNorm: 2,
          projectionCosine: 1,
        },
      ],
      20,
    );
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
      ({
        key,
        ctrlKey: false,
        metaKey: false,
        altKey: false,
        target: { closest: (sel: string) => (inField && sel.includes('input') ? {} : null) },
        preventDefault: () => prevented++,
      }) as unknown as KeyboardEvent;
    useStore.setState({ history: [] });
    expect(handleKeyDown(ev('p', true))).toBe(false); // typing "p" in a field
    expect(handleKeyDown(ev('p', false))).toBe(false); // pin is disabled with no history
    useStore.setState({ history: [{ step: 0 }, { step: 1 }] as never, pinned: [] });
    expect(handleKeyDown(ev('p', false))).toBe(true);
    expect(useStore.getState().pinned).toHaveLength(1);
    expect(prevented).toBe(1);
  });
});
