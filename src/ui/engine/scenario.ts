// Loading what a run needs into the engine: the configured scenario (a real model's files downloaded first when
// they must be), then its defence (the clamp), whose effect the page shows before any attack runs.
import type { ProbeFiles, ScenarioRequest } from '../../engine/protocol.ts';
import { useStore } from '../store.ts';
import { runSettings, type PlaygroundConfig } from '../config.ts';
import { isModelScenario, modelScenarioRequest, specTransfer } from '../model-inputs.ts';
import { bridge, request } from './bridge.ts';
import { guarded } from './report.ts';

export function setUploadedProbe(files: ProbeFiles | null): void {
  bridge.uploaded = files;
}

/** The scenario to load; a real model's files come from the cache, local files or (after the load button) the Hub. */
export async function scenarioRequest(config: PlaygroundConfig): Promise<ScenarioRequest | null> {
  const { scenario } = config;
  if (isModelScenario(scenario)) return modelScenarioRequest(scenario);
  if (scenario === 'probe-example') return { kind: 'probe-example' };
  if (scenario === 'probe') return bridge.uploaded ? { kind: 'probe', files: bridge.uploaded } : null;
  return { kind: 'builtin', scenario, sae: config.sae, seed: runSettings(config).seed };
}

/** Load the configured scenario, then apply the configured (or default) defence. */
export async function loadScenario(): Promise<void> {
  const st = useStore.getState();
  bridge.clearRun();
  st.set({ status: 'loading', scenario: null, defence: null, sweep: null });
  // A real model's files may have to be downloaded first: that is part of loading (undefined: it failed, and said so).
  const req = await guarded('Loading the scenario', () => scenarioRequest(st.config));
  if (req === undefined) return;
  if (!req) {
    useStore.getState().set({ scenario: null, defence: null, status: 'ready' });
    return;
  }
  const info = await guarded('Loading the scenario', () =>
    request({ type: 'loadScenario', scenario: req }, req.kind === 'model' ? specTransfer(req) : []),
  );
  if (!info) return;
  useStore.getState().set({ scenario: info });
  await applyDefence();
}

export async function applyDefence(): Promise<void> {
  const st = useStore.getState();
  const sc = st.scenario;
  if (!sc) return;
  const features = st.config.features ?? sc.defaults.features;
  const clamp = st.config.clamp ?? sc.defaults.clamp;
  const defence = await guarded('Applying the clamp', () => request({ type: 'setDefence', features, clamp }));
  if (!defence) return;
  bridge.clearRun();
  useStore.getState().set({ defence, status: 'ready' });
}
