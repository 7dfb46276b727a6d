// The Defences tab's side of the engine: run the defence matrix on the current built-in scenario (progress, cancel),
// open a matrix file and save one, and open one cell of a matrix in the playground.
import type { DefenceMatrix, MatrixCell } from '../../engine/protocol.ts';
import { describeDefence, parseDefence } from '../../core/defence-kinds.ts';
import { changedOnly, isBuiltinScenarioId, PAGE_SCENARIO_IDS, type PageScenarioId, SCENARIOS } from '../../scenarios/catalog.ts';
import { useStore } from '../store.ts';
import { defenceConfig, runSchema, type RunSettings } from '../config.ts';
import { matrixSeeds } from '../matrix-options.ts';
import { matrixFileName, matrixToJson, parseMatrixJson } from '../matrix-file.ts';
import { download } from '../exports.ts';
import { request } from './bridge.ts';
import { report } from './report.ts';
import { loadScenario } from './scenario.ts';

const RUNNING = 'Running the defence matrix';

/**
 * The matrix on the playground's scenario (a built-in one), with the playground's changed run settings (its seed
 * aside: the matrix's seeds are data seeds) and the tab's seeds, modes and defences (each alone, default settings).
 */
export async function runMatrix(): Promise<void> {
  const st = useStore.getState();
  const { config, matrixOptions: o } = st;
  if (!isBuiltinScenarioId(config.scenario)) {
    st.notify({
      kind: 'error',
      message: `The defence matrix runs on the built-in scenarios; ${SCENARIOS[config.scenario].title} is not one.`,
      hint: 'Choose IOI, refusal steering, TPP or unlearning in the playground.',
    });
    return;
  }
  const { seed: _seed, ...settings } = config.run;
  st.set({ busy: RUNNING, matrixProgress: { message: 'loading the scenario', done: 0, total: 0, cancelling: false } });
  try {
    const matrix = await request({
      type: 'matrix',
      scenario: config.scenario,
      sae: config.sae,
      seeds: matrixSeeds(o),
      modes: o.modes,
      defences: o.defences.map((id) => parseDefence(id)),
      settings,
    });
    useStore.getState().set({ matrix, matrixSource: 'run in this tab' });
    useStore.getState().notify({ kind: 'info', message: `The defence matrix finished in ${matrix.durationS.toFixed(0)} s.` });
  } catch (e) {
    if (useStore.getState().matrixProgress?.cancelling)
      useStore.getState().notify({ kind: 'info', message: 'The defence matrix was cancelled.' });
    else report(e);
  } finally {
    useStore.getState().set({ busy: null, matrixProgress: null });
  }
}

/** Ask the engine to stop the matrix at its next stage (the request itself then fails, which runMatrix expects). */
export async function cancelMatrix(): Promise<void> {
  const st = useStore.getState();
  if (!st.matrixProgress) return;
  st.set({ matrixProgress: { ...st.matrixProgress, cancelling: true } });
  await request({ type: 'matrixCancel' }).catch(report);
}

/** Show a matrix file (the CLI's `unclamp defences --json`, or one saved here); a wrong file is refused in words. */
export function viewMatrix(text: string, name: string): void {
  const st = useStore.getState();
  try {
    const matrix = parseMatrixJson(text);
    st.set({ matrix, matrixSource: name });
    st.notify({
      kind: 'info',
      message: `Opened a defence matrix of ${matrix.defences.length} defences on ${matrix.title || matrix.scenario} (${matrix.seeds.length} seed${matrix.seeds.length > 1 ? 's' : ''}).`,
    });
  } catch (e) {
    st.notify({
      kind: 'error',
      message: `${name}: ${(e as Error).message}`,
      hint: 'Choose a JSON file written by `unclamp defences --json` or saved from this tab.',
    });
  }
}

export function openMatrixFile(): void {
  const input = document.createElement('input');
  input.type = 'file';
  input.accept = 'application/json,.json';
  input.onchange = async () => {
    const f = input.files?.[0];
    if (f) viewMatrix(await f.text(), f.name);
  };
  input.click();
}

export function saveMatrix(): void {
  const m = useStore.getState().matrix;
  if (m) download(matrixFileName(m), new Blob([matrixToJson(m)], { type: 'application/json' }));
}

/** The run settings of a matrix file the page can use (each checked as a link's would be; the rest dropped). */
function usableSettings(settings: Record<string, unknown>): Partial<RunSettings> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(settings)) {
    const schema = runSchema.shape[k as keyof RunSettings];
    if (schema?.safeParse(v).success) out[k] = v;
  }
  return out as Partial<RunSettings>;
}

/**
 * One cell in the playground: its scenario (its first seed, the matrix's settings, the scenario's features and clamp),
 * its defence and its mode; the user presses Run. The playground's attacker optimises δ through the chosen defence:
 * the matrix's adaptive attacker (the paper's attacker is the run under the paper's clamp).
 */
export async function openCell(m: DefenceMatrix, cell: Pick<MatrixCell, 'defence' | 'attacker' | 'mode'>): Promise<void> {
  const st = useStore.getState();
  let choice: ReturnType<typeof parseDefence>;
  try {
    choice = parseDefence(cell.defence);
  } catch (e) {
    report(e);
    return;
  }
  const scenario = (PAGE_SCENARIO_IDS as readonly string[]).includes(m.scenario) ? (m.scenario as PageScenarioId) : st.config.scenario;
  const run = changedOnly(scenario, { ...usableSettings(m.settings), mode: cell.mode, seed: m.seeds[0] });
  st.setConfig({
    scenario,
    sae: scenario === st.config.scenario ? st.config.sae : undefined,
    features: null,
    clamp: null,
    run,
    ...defenceConfig(choice),
  });
  st.set({ view: 'playground' });
  st.notify({
    kind: 'info',
    message:
      `Opened ${describeDefence(choice)} in ${cell.mode} mode: press Run.` +
      (cell.attacker === 'paper' && cell.defence !== 'clamp'
        ? ' The playground attacks through the chosen defence (the matrix’s adaptive attacker); the paper’s attacker optimises δ against the paper’s clamp.'
        : ''),
  });
  await loadScenario();
}
