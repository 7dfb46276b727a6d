// The playground page: layout, and the wiring of URL state, saved settings and runs, and keyboard shortcuts.
import { useEffect } from 'react';
import { useStore, VIEWS, type View } from './store.ts';
import { configFromHash, configToHash } from './config.ts';
import { bootEngine } from './engine/boot.ts';
import { restoreCurrentRun } from './engine/resume.ts';
import { loadScenario } from './engine/scenario.ts';
import { action, handleKeyDown } from './actions.ts';
import { listRuns, loadConfig, loadCurrentRun, saveConfig } from './persistence.ts';
import { Header } from './components/Header.tsx';
import { Notices } from './components/Notices.tsx';
import { ScenarioPanel } from './components/ScenarioPanel.tsx';
import { DefencePanel } from './components/DefencePanel.tsx';
import { RunControls } from './components/RunControls.tsx';
import { Charts } from './components/Charts.tsx';
import { Inspect } from './components/Inspect.tsx';
import { Tour } from './components/Tour.tsx';
import { DefencesView } from './components/DefencesView.tsx';

/** The view in the address (`?view=defences`), so a reload or a shared link opens the same tab. */
function viewToSearch(view: View): void {
  const url = new URL(location.href);
  if (view === 'playground') url.searchParams.delete('view');
  else url.searchParams.set('view', view);
  if (url.href !== location.href) history.replaceState(history.state, '', url);
}

function ViewTabs() {
  const view = useStore((s) => s.view);
  const busyMatrix = useStore((s) => Boolean(s.matrixProgress));
  return (
    <div role="tablist" aria-label="Views" className="tabs view-tabs">
      {VIEWS.map((v) => {
        const a = action(`view-${v}`);
        return (
          <button
            key={v}
            type="button"
            role="tab"
            id={`view-${v}`}
            aria-selected={view === v}
            aria-controls="view-panel"
            className={view === v ? 'tab tab-active' : 'tab'}
            data-action={a.id}
            onClick={() => void a.perform()}
          >
            {a.label}
            {v === 'defences' && busyMatrix && ' (running…)'}
          </button>
        );
      })}
    </div>
  );
}

function Playground() {
  return (
    <div className="layout">
      <div className="col-left">
        <ScenarioPanel />
        <DefencePanel />
      </div>
      <div className="col-right">
        <RunControls />
        <Charts />
        <Inspect />
      </div>
    </div>
  );
}

async function start(): Promise<void> {
  const st = useStore.getState();
  // The worker boots its backend (its script and the WebAssembly compiled: most of a second on 2 busy cores) while
  // the saved state is read.
  const engine = bootEngine();
  if (location.hash.length > 1) {
    const { config, problems } = configFromHash(location.hash);
    st.set({ config });
    if (problems.length)
      st.notify({ kind: 'error', message: `Some settings in the link were not valid and were reset: ${problems.join('; ')}.` });
  } else {
    const saved = await loadConfig().catch(() => null);
    if (saved) st.set({ config: saved });
  }
  history.replaceState(null, '', configToHash(useStore.getState().config));
  // Read before the scenario loads: loading it clears the saved run in progress, and restoring writes it back.
  const current = await loadCurrentRun().catch(() => null);
  await engine;
  await loadScenario();
  // A run that was in progress comes back first: it is newer than any finished run (finishing one clears it).
  if (current && restoreCurrentRun(current)) return;
  // Else the last finished run of this configuration.
  const runs = await listRuns().catch(() => []);
  const cfg = useStore.getState().config;
  const last = runs.find((r) => configToHash(r.config) === configToHash(cfg));
  if (last && !useStore.getState().result) {
    useStore.getState().set({ result: last.result, history: last.result.history, samples: last.result.samples, imported: true });
    useStore.getState().notify({ kind: 'info', message: `Restored your last run of this configuration (${last.label}).` });
  }
}

export function App() {
  useEffect(() => {
    void start();
    const onKey = (e: KeyboardEvent) => void handleKeyDown(e);
    window.addEventListener('keydown', onKey);
    // A pasted or edited link: apply it as the new configuration.
    const onHash = () => {
      const st = useStore.getState();
      if (location.hash === configToHash(st.config)) return;
      const { config, problems } = configFromHash(location.hash);
      st.set({ config });
      if (problems.length)
        st.notify({ kind: 'error', message: `Some settings in the link were not valid and were reset: ${problems.join('; ')}.` });
      void loadScenario();
    };
    window.addEventListener('hashchange', onHash);
    // Keep the URL and the saved settings in step with the configuration, and the address with the view.
    const unsub = useStore.subscribe((s, prev) => {
      if (s.view !== prev.view) viewToSearch(s.view);
      if (s.config === prev.config) return;
      history.replaceState(null, '', configToHash(s.config));
      void saveConfig(s.config).catch(() => undefined);
    });
    return () => {
      window.removeEventListener('keydown', onKey);
      window.removeEventListener('hashchange', onHash);
      unsub();
    };
  }, []);
  const view = useStore((s) => s.view);
  return (
    <>
      <a className="skip" href="#main">
        Skip to the {view === 'defences' ? 'defence matrix' : 'playground'}
      </a>
      <Header />
      <ViewTabs />
      <Notices />
      <main id="main" data-view={view}>
        <div role="tabpanel" id="view-panel" aria-labelledby={`view-${view}`}>
          {view === 'defences' ? <DefencesView /> : <Playground />}
        </div>
      </main>
      <footer className="footer">
        Method: Cui, Shen, Yang (2026), <em>SAE interventions are unreliable: post-intervention recovery of suppressed behavior</em>,
        arXiv:2606.18322. Everything runs in this browser tab.
      </footer>
      <Tour />
    </>
  );
}
