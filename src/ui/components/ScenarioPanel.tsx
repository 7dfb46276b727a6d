// Choose the scenario, the SAE, your own files, a label file, or a preset.
import { useState } from 'react';
import { useStore } from '../store.ts';
import { PAGE_SCENARIO_IDS, type PageScenarioId, SCENARIOS } from '../../scenarios/catalog.ts';
import { loadScenario, setUploadedProbe } from '../engine/scenario.ts';
import { report } from '../engine/report.ts';
import { PRESETS, type Preset } from '../presets.ts';
import { parseFeatureLabels } from '../../io/labels.ts';
import { isModelScenario } from '../model-inputs.ts';
import { defenceConfig } from '../config.ts';
import { PAPER_DEFENCE } from '../../core/defence-kinds.ts';
import { ModelPanel } from './ModelPanel.tsx';
import { ModelPromptEditor } from './ModelPromptEditor.tsx';

/** A new scenario starts from its own table: the defence and run settings chosen for the last one are dropped. */
async function choose(scenario: PageScenarioId, sae?: string) {
  useStore.getState().setConfig({ scenario, sae, features: null, clamp: null, run: {} });
  await loadScenario();
}

/** A preset shows the paper's setting: under the paper's clamp, whatever defence was chosen before. */
async function applyPreset(p: Preset) {
  const st = useStore.getState();
  st.setConfig({
    ...p.config,
    ...defenceConfig(PAPER_DEFENCE),
    sae: p.config.scenario && p.config.scenario !== st.config.scenario ? undefined : st.config.sae,
  });
  await loadScenario();
}

function UploadForm() {
  const [files, setFiles] = useState<Record<string, File | undefined>>({});
  const fields: [string, string, string][] = [
    ['cfg', 'SAE cfg.json', '.json'],
    ['weights', 'SAE sae_weights.safetensors', '.safetensors'],
    ['sparsity', 'SAE sparsity.safetensors (optional)', '.safetensors'],
    ['activations', 'activations.safetensors (h, mask)', '.safetensors'],
    ['probe', 'probe.safetensors (w, b)', '.safetensors'],
  ];
  const ready = files.cfg && files.weights && files.activations && files.probe;
  const submit = async () => {
    try {
      setUploadedProbe({
        cfgJson: await files.cfg!.text(),
        weights: await files.weights!.arrayBuffer(),
        sparsity: files.sparsity ? await files.sparsity.arrayBuffer() : undefined,
        activations: await files.activations!.arrayBuffer(),
        probe: await files.probe!.arrayBuffer(),
      });
      await loadScenario();
    } catch (e) {
      report(e);
    }
  };
  return (
    <div className="upload">
      {fields.map(([key, label, accept]) => (
        <label key={key} className="field">
          <span>{label}</span>
          <input type="file" accept={accept} onChange={(e) => setFiles((f) => ({ ...f, [key]: e.target.files?.[0] }))} />
        </label>
      ))}
      <button type="button" className="btn btn-primary" disabled={!ready} onClick={() => void submit()}>
        Load my files
      </button>
    </div>
  );
}

export function ScenarioPanel() {
  const config = useStore((s) => s.config);
  const scenario = useStore((s) => s.scenario);
  const index = useStore((s) => s.modelIndex);
  const labels = useStore((s) => s.labels);
  const builtin = SCENARIOS[config.scenario].kind === 'builtin';
  const saes = index?.[0]?.saes ?? [];
  const [openPreset, setOpenPreset] = useState<string | null>(null);

  const loadLabels = async (file: File | undefined) => {
    if (!file) return;
    try {
      const map = parseFeatureLabels(await file.text(), scenario?.dSae);
      useStore.getState().set({ labels: map });
      useStore.getState().notify({ kind: 'info', message: `Loaded ${map.size} feature labels.` });
    } catch (e) {
      report(e, 'Use a Neuronpedia explanation export (a JSON array of {index, description}).');
    }
  };

  return (
    <section className="panel" aria-labelledby="scenario-heading" data-tour="scenario">
      <h2 id="scenario-heading">Scenario</h2>
      <label className="field">
        <span>Experiment</span>
        <select value={config.scenario} onChange={(e) => void choose(e.target.value as PageScenarioId)} data-testid="scenario-select">
          {PAGE_SCENARIO_IDS.map((id) => (
            <option key={id} value={id}>
              {SCENARIOS[id].title}
            </option>
          ))}
        </select>
      </label>
      <p className="muted" data-testid="scenario-blurb">
        {SCENARIOS[config.scenario].blurb}
      </p>
      {builtin && saes.length > 0 && (
        <label className="field">
          <span>SAE (layer, architecture, width, explained variance)</span>
          <select
            value={config.sae ?? SCENARIOS[config.scenario].defaults.sae ?? index![0].defaultSae}
            onChange={(e) => void choose(config.scenario, e.target.value)}
            data-testid="sae-select"
          >
            {saes.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name} — L0 {s.meanL0}
              </option>
            ))}
          </select>
        </label>
      )}
      {config.scenario === 'probe' && <UploadForm />}
      {isModelScenario(config.scenario) && <ModelPanel scenario={config.scenario} promptEditor={<ModelPromptEditor />} />}
      {scenario && (
        <div className="scenario-facts" data-testid="scenario-info">
          <p>{scenario.behaviour}</p>
          {scenario.model && <p className="muted small">Model: {scenario.model}</p>}
          {scenario.warnings?.map((w) => (
            <p key={w} className="warn small" role="status">
              ⚠ {w}
            </p>
          ))}
          <p className="muted">
            {scenario.n} samples · d = {scenario.d} · SAE {scenario.sae.architecture}
            {scenario.sae.k ? ` (k = ${scenario.sae.k})` : ''}, {scenario.dSae} features at {scenario.sae.hookName ?? 'the hook'}
          </p>
          {scenario.sae.notes.map((n) => (
            <p className="muted small" key={n}>
              {n}
            </p>
          ))}
        </div>
      )}
      <label className="field">
        <span>Feature labels (Neuronpedia export, optional){labels.size ? ` — ${labels.size} loaded` : ''}</span>
        <input type="file" accept=".json,application/json" onChange={(e) => void loadLabels(e.target.files?.[0])} />
      </label>
      <h3>Presets</h3>
      <ul className="presets">
        {PRESETS.map((p) => (
          <li key={p.id}>
            <button
              type="button"
              className="btn btn-link"
              aria-expanded={openPreset === p.id}
              onClick={() => {
                setOpenPreset(p.id);
                void applyPreset(p);
              }}
            >
              {p.title}
            </button>
            {openPreset === p.id && (
              <div className="explain" data-testid={`preset-${p.id}`}>
                <p>
                  <strong>What this shows.</strong> {p.shows}
                </p>
                <p>
                  <strong>What it does not.</strong> {p.doesNotShow}
                </p>
              </div>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
