// Loading what a run needs into the engine: the configured scenario (a real model's files downloaded first when
// they must be), then its defence (the clamp), whose effect the page shows before any attack runs.
import type { ProbeFiles, ScenarioRequest } from '../../engine/protocol.ts';
import { useStore } from '../store.ts';
import { defenceChoice, defenceConfig, runSettings, type PlaygroundConfig } from '../config.ts';
import { type DefenceChoice, defenceKey, describeDefence, PAPER_DEFENCE } from '../../core/defence-kinds.ts';
import { EngineError } from '../../engine/client.ts';
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

const isPaper = (c: DefenceChoice) => defenceKey(c) === defenceKey(PAPER_DEFENCE);

/**
 * Apply the configured features, clamp and defence. A defence this scenario cannot serve (the monitor, clip-error or
 * later layers on raw activations) is replaced by the paper's clamp, in the configuration too, and the page says why.
 */
export async function applyDefence(): Promise<void> {
  const st = useStore.getState();
  const sc = st.scenario;
  if (!sc) return;
  const features = st.config.features ?? sc.defaults.features;
  const clamp = st.config.clamp ?? sc.defaults.clamp;
  const choice = defenceChoice(st.config);
  const ask = (c: DefenceChoice) => request({ type: 'setDefence', features, clamp, ...(isPaper(c) ? {} : { defence: c }) });
  const defence = await guarded(isPaper(choice) ? 'Applying the clamp' : `Applying the defence (${describeDefence(choice)})`, async () => {
    try {
      return await ask(choice);
    } catch (e) {
      if (isPaper(choice) || !(e instanceof EngineError && e.code === 'input')) throw e;
      // When the clamp fails too, the first error is the one to read.
      const fallback = await ask(PAPER_DEFENCE).catch(() => Promise.reject(e));
      useStore.getState().setConfig(defenceConfig(PAPER_DEFENCE));
      useStore.getState().notify({
        kind: 'error',
        message: `${describeDefence(choice)} cannot act on this scenario (${e.message}); the paper's clamp is applied instead.`,
        hint: 'Choose a built-in scenario for the defences that need clean text or later layers.',
      });
      return fallback;
    }
  });
  if (!defence) return;
  bridge.clearRun();
  useStore.getState().set({ defence, status: 'ready' });
}
