// The defence: which features to clamp (feature table) and how (clamp rule), and what the clamp alone does.
import { useEffect, useMemo, useState } from 'react';
import { useStore } from '../store.ts';
import { applyDefence } from '../engine/scenario.ts';
import type { ClampRule } from '../../core/clamp.ts';
import { MAX_CLAMP_MAGNITUDE } from '../config.ts';
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

  // Start from what is applied (the defence) whenever it changes.
  useEffect(() => {
    if (defence) {
      setSelected(new Set(defence.features));
      setClamp(defence.clamp);
      setTopK(defence.features.length);
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
    defence.features.join() !== [...selected].sort((a, b) => a - b).join() ||
    JSON.stringify(defence.clamp) !== JSON.stringify(clamp);
  const apply = async () => {
    useStore.getState().setConfig({ features: [...selected].sort((a, b) => a - b), clamp });
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
          Apply clamp ({selected.size})
        </button>
      </div>
      {defence && (
        <p className="clamp-effect" data-testid="defence">
          The clamp alone flips <strong>{defence.validFlips}</strong> of {defence.valid.length} samples (valid flips): mean B{' '}
          {fmt(mean(defence.base))} → {fmt(mean(defence.defended))}; SAE error norm ‖e‖ {fmt(mean(defence.residualBase))} →{' '}
          {fmt(mean(defence.residualDefended))}.
        </p>
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
