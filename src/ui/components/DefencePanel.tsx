// The defence: which features to clamp (feature table) and how (clamp rule), which defence acts on them (the paper's
// clamp, or one of the defence lab's: core/defence-kinds.ts), and what the defence alone does.
import { useEffect, useMemo, useState } from 'react';
import { useStore } from '../store.ts';
import { applyDefence } from '../engine/scenario.ts';
import type { ClampRule } from '../../core/clamp.ts';
import { defenceChoice, defenceConfig, MAX_CLAMP_MAGNITUDE } from '../config.ts';
import {
  DEFENCE_TEXT,
  type DefenceChoice,
  type DefenceId,
  defenceKey,
  HOOK_KINDS,
  type HookKind,
  PAPER_DEFENCE,
  parseDefence,
} from '../../core/defence-kinds.ts';
import { rankPositive } from '../../core/select.ts';
import { formatNumber as fmt } from '../../core/format.ts';
import { featureSearch } from '../../io/labels.ts';
import { NeuronpediaLabels } from './NeuronpediaLabels.tsx';
import { NumberInput } from './NumberInput.tsx';

type SortKey = 'index' | 'attribution' | 'mean' | 'density';
const PAGE = 60;

function ClampControls({ clamp, onChange }: { clamp: ClampRule; onChange: (c: ClampRule) => void }) {
  const kind = clamp.kind === 'multiply' ? 'multiply' : clamp.onlyActive ? 'set-active' : clamp.value === 0 ? 'zero' : 'set';
  const value = clamp.kind === 'multiply' ? clamp.factor : clamp.value;
  const make = (k: string, v: number): ClampRule =>
    k === 'multiply'
      ? { kind: 'multiply', factor: v }
      : k === 'zero'
        ? { kind: 'set', value: 0, onlyActive: false }
        : { kind: 'set', value: v, onlyActive: k === 'set-active' };
  return (
    <div className="row">
      <label className="field">
        <span>Clamp rule</span>
        <select
          value={kind}
          onChange={(e) => onChange(make(e.target.value, e.target.value === 'multiply' ? 3 : e.target.value === 'zero' ? 0 : -5))}
          data-testid="clamp-rule"
        >
          <option value="zero">zero-ablate</option>
          <option value="set">set to c</option>
          <option value="set-active">set to c where active</option>
          <option value="multiply">multiply by α</option>
        </select>
      </label>
      {kind !== 'zero' && (
        <label className="field narrow">
          <span>{kind === 'multiply' ? 'α' : 'c'}</span>
          {/* A value a link could not carry (config.ts bounds it) is not taken. */}
          <NumberInput value={value} min={-MAX_CLAMP_MAGNITUDE} max={MAX_CLAMP_MAGNITUDE} onChange={(v) => onChange(make(kind, v))} />
        </label>
      )}
    </div>
  );
}

/** The defences that need clean text or later layers (a scenario's defence kit): not on raw activations or real models. */
const NEEDS_KIT: readonly DefenceId[] = ['clip-error', 'multi-layer', 'detect'];

const isPaper = (c: DefenceChoice) => defenceKey(c) === defenceKey(PAPER_DEFENCE);

/** The same choice with one part changed, by parseDefence's rules (ablate-span drops multi-layer: it acts at every later layer). */
function changeChoice(
  c: DefenceChoice,
  patch: Partial<Pick<DefenceChoice, 'hook' | 'multiLayer' | 'detect' | 'clipPercentile' | 'detectFpr'>>,
): DefenceChoice {
  const n = { ...c, ...patch };
  const multiLayer = n.multiLayer && n.hook !== 'ablate-span';
  const ids = [n.hook, multiLayer && 'multi-layer', n.detect && 'detect'].filter(Boolean).join('+');
  return parseDefence(ids, { clipPercentile: n.clipPercentile, detectFpr: n.detectFpr });
}

/** The defence: one operator at the hook, plus the multi-layer clamp and the detector, each with what it does. */
function DefenceChoiceControls({ choice, kit, onChange }: { choice: DefenceChoice; kit: boolean; onChange: (c: DefenceChoice) => void }) {
  const toggle = (id: 'multi-layer' | 'detect', checked: boolean, disabled: boolean) => (
    <label className="field checkbox" title={DEFENCE_TEXT[id].does}>
      <input
        type="checkbox"
        checked={checked}
        disabled={disabled}
        data-testid={`defence-${id}`}
        onChange={(e) => onChange(changeChoice(choice, id === 'detect' ? { detect: e.target.checked } : { multiLayer: e.target.checked }))}
      />
      <span>{DEFENCE_TEXT[id].label}</span>
    </label>
  );
  return (
    <fieldset className="defence-choice" data-testid="defence-choice">
      <legend>Defence</legend>
      <label className="field">
        <span>At the hook</span>
        <select
          value={choice.hook}
          data-testid="defence-hook"
          onChange={(e) => onChange(changeChoice(choice, { hook: e.target.value as HookKind }))}
        >
          {HOOK_KINDS.map((id) => (
            <option key={id} value={id} disabled={!kit && NEEDS_KIT.includes(id)} title={DEFENCE_TEXT[id].does}>
              {DEFENCE_TEXT[id].label}
            </option>
          ))}
        </select>
      </label>
      <p className="muted small defence-does" data-testid="defence-does">
        {DEFENCE_TEXT[choice.hook].does}
      </p>
      {choice.hook === 'clip-error' && (
        <label className="field narrow">
          <span>Cap at the percentile of clean error norms</span>
          <NumberInput
            value={choice.clipPercentile}
            min={1}
            max={100}
            testId="clip-percentile"
            onChange={(v) => onChange(changeChoice(choice, { clipPercentile: v }))}
          />
        </label>
      )}
      <div className="row tight">
        {toggle('multi-layer', choice.multiLayer, !kit || choice.hook === 'ablate-span')}
        {toggle('detect', choice.detect, !kit)}
      </div>
      {choice.multiLayer && <p className="muted small defence-does">{DEFENCE_TEXT['multi-layer'].does}</p>}
      {choice.detect && (
        <>
          <p className="muted small defence-does">{DEFENCE_TEXT.detect.does}</p>
          <label className="field narrow">
            <span>Detector false-positive rate on clean inputs</span>
            <NumberInput
              value={choice.detectFpr}
              min={0.001}
              max={0.5}
              testId="detect-fpr"
              onChange={(v) => onChange(changeChoice(choice, { detectFpr: v }))}
            />
          </label>
        </>
      )}
      {!kit && (
        <p className="muted small">
          Clip-error, the multi-layer clamp and the detector need clean text or later layers: the built-in scenarios have them, this one
          does not.
        </p>
      )}
    </fieldset>
  );
}

export function DefencePanel() {
  const scenario = useStore((s) => s.scenario);
  const defence = useStore((s) => s.defence);
  const labels = useStore((s) => s.labels);
  const config = useStore((s) => s.config);
  const busy = useStore((s) => s.busy);
  const running = useStore((s) => s.status === 'running');
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [clamp, setClamp] = useState<ClampRule>({ kind: 'set', value: 0, onlyActive: false });
  const [query, setQuery] = useState('');
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: 'attribution', desc: true });
  const [shown, setShown] = useState(PAGE);
  const [topK, setTopK] = useState(8);
  const [choice, setChoice] = useState<DefenceChoice>(() => defenceChoice(config));

  // Start from what is applied (the defence) whenever it changes.
  useEffect(() => {
    if (defence) {
      setSelected(new Set(defence.features));
      setClamp(defence.clamp);
      setTopK(defence.features.length);
      setChoice(defence.choice);
    }
  }, [defence]);

  const rows = useMemo(() => {
    if (!scenario) return [];
    const { attribution, meanActivation, logDensity } = scenario.features;
    const matches = featureSearch(query);
    const all = Array.from({ length: scenario.dSae }, (_, i) => ({
      index: i,
      label: labels.get(i) ?? '',
      attribution: attribution[i],
      mean: meanActivation[i],
      density: logDensity ? 10 ** logDensity[i] : NaN,
    })).filter((r) => matches(r.index, r.label));
    const dir = sort.desc ? -1 : 1;
    return all.sort((a, b) => dir * ((a[sort.key] as number) - (b[sort.key] as number)) || a.index - b.index);
  }, [scenario, labels, query, sort]);

  if (!scenario) return null;
  const dirty =
    !defence ||
    // Both sorted: the scenario's default selection comes in rank order.
    [...defence.features].sort((a, b) => a - b).join() !== [...selected].sort((a, b) => a - b).join() ||
    JSON.stringify(defence.clamp) !== JSON.stringify(clamp) ||
    JSON.stringify(defence.choice) !== JSON.stringify(choice);
  const apply = async () => {
    useStore.getState().setConfig({ features: [...selected].sort((a, b) => a - b), clamp, ...defenceConfig(choice) });
    await applyDefence();
  };
  const pickTopK = () => setSelected(new Set(rankPositive(scenario.features.attribution).slice(0, topK)));
  const header = (key: SortKey, label: string) => (
    <th scope="col" aria-sort={sort.key === key ? (sort.desc ? 'descending' : 'ascending') : 'none'}>
      <button type="button" className="th-btn" onClick={() => setSort((s) => ({ key, desc: s.key === key ? !s.desc : true }))}>
        {label}
        {sort.key === key ? (sort.desc ? ' ▾' : ' ▴') : ''}
      </button>
    </th>
  );

  return (
    <section className="panel" aria-labelledby="defence-heading" data-tour="defence">
      <h2 id="defence-heading">Defence: clamp SAE features</h2>
      <ClampControls clamp={clamp} onChange={setClamp} />
      <DefenceChoiceControls choice={choice} kit={scenario.defenceKit} onChange={setChoice} />
      <div className="row">
        <label className="field narrow">
          <span>K</span>
          <NumberInput value={topK} min={1} max={scenario.dSae} step={1} outOfRange="clamp" onChange={setTopK} />
        </label>
        <button type="button" className="btn" onClick={pickTopK}>
          Select top-K by attribution
        </button>
        <button
          type="button"
          className="btn btn-primary"
          disabled={!dirty || selected.size === 0 || Boolean(busy) || running}
          onClick={() => void apply()}
          data-testid="apply-defence"
        >
          Apply {isPaper(choice) ? 'clamp' : 'defence'} ({selected.size})
        </button>
      </div>
      {defence && (
        <div className="clamp-effect">
          <p data-testid="defence" data-defence={defenceKey(defence.choice)}>
            {isPaper(defence.choice) ? (
              'The clamp alone'
            ) : (
              <>
                The defence alone (<span data-testid="defence-applied">{defence.description}</span>)
              </>
            )}{' '}
            flips <strong>{defence.validFlips}</strong> of {defence.valid.length} samples (valid flips): mean B {fmt(mean(defence.base))} →{' '}
            {fmt(mean(defence.defended))}; SAE error norm ‖e‖ {fmt(mean(defence.residualBase))} → {fmt(mean(defence.residualDefended))}.
          </p>
          {defence.notes.length > 0 && (
            <ul className="defence-notes muted small" data-testid="defence-notes">
              {defence.notes.map((n) => (
                <li key={n}>{n}</li>
              ))}
            </ul>
          )}
        </div>
      )}
      <label className="field">
        <span>Search features (indices, ranges or words of a label)</span>
        <input
          type="search"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          placeholder="e.g. 42, 10-20, or words of a label"
          data-testid="feature-search"
        />
      </label>
      <NeuronpediaLabels defended={[...selected]} shown={rows.slice(0, shown).map((r) => r.index)} />
      <section className="table-wrap" tabIndex={0} aria-label="SAE features">
        <table className="features" data-testid="feature-table">
          <caption className="sr-only">SAE features: check to defend</caption>
          <thead>
            <tr>
              <th scope="col">defend</th>
              {header('index', '#')}
              <th scope="col">label</th>
              {header('attribution', 'attribution')}
              {header('mean', 'mean act.')}
              {header('density', 'density')}
            </tr>
          </thead>
          <tbody>
            {rows.slice(0, shown).map((r) => (
              <tr key={r.index} className={selected.has(r.index) ? 'row-selected' : undefined}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`defend feature ${r.index}`}
                    checked={selected.has(r.index)}
                    onChange={(e) =>
                      setSelected((s) => {
                        const n = new Set(s);
                        if (e.target.checked) n.add(r.index);
                        else n.delete(r.index);
                        return n;
                      })
                    }
                  />
                </td>
                <td>{r.index}</td>
                <td className="label-cell">{r.label}</td>
                <td className={r.attribution > 0 ? 'pos' : r.attribution < 0 ? 'neg' : undefined}>{fmt(r.attribution)}</td>
                <td>{fmt(r.mean)}</td>
                <td>{Number.isFinite(r.density) ? `${(100 * r.density).toFixed(2)}%` : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {rows.length > shown && (
        <button type="button" className="btn btn-link" onClick={() => setShown((s) => s + PAGE)}>
          Show more ({rows.length - shown} left)
        </button>
      )}
      {config.features === null && defence && <p className="muted small">Default selection: {scenario.featureRule}.</p>}
    </section>
  );
}

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return a.length ? s / a.length : NaN;
}
