// The engine's state machine, independent of where it runs: the worker wraps it with postMessage, tests
// drive it directly in Node. It owns every tensor of the current scenario, defence and run. Loading goes
// through the one scenario loader, runs through RecoveryRun's one run loop, defaults come from the
// scenario's table: what the page runs is what `unclamp run` runs.
import { InputError } from '../core/errors.ts';
import { tf, type Tensor3D } from '../core/tf.ts';
import type { RecoverySite } from '../core/site.ts';
import { RecoveryRun } from '../core/recovery.ts';
import { budgetBasis } from '../core/budget.ts';
import { jacobianAnalysis, recoveryPathReplay } from '../core/analyses.ts';
import type { HistoryEntry, SampleMetrics } from '../core/metrics.ts';
import { BUILTIN_SCENARIO_IDS, effectiveRun, isBuiltinScenarioId, type DeltaPositions } from '../scenarios/catalog.ts';
import { boundsProblem, PROJECTION_MODES } from '../core/options.ts';
import { type DefenceChoice, defenceKey, describeDefence, PAPER_DEFENCE, parseDefence } from '../core/defence-kinds.ts';
import { DEFAULT_BUDGET_MULTIPLES, type DefenceMatrix, defenceMatrix } from '../scenarios/defence-matrix.ts';
import type { Limits } from '../model/memory-plan.ts';
import { featureTable, loadScenario } from '../scenarios/load.ts';
import type { LoadedScenario } from '../scenarios/loaded.ts';
import { createSite, resultConfig, runOptions, type Defence } from '../scenarios/run.ts';
import { nextTokenView, requireLanguageModel } from '../scenarios/next-tokens.ts';
import type {
  BudgetSweepRow,
  DefenceInfo,
  EngineEvent,
  Fault,
  MatrixRequest,
  ReplyPayload,
  Request,
  RunConfig,
  ScenarioInfo,
} from './protocol.ts';

export class EngineInputError extends InputError {
  override name = 'EngineInputError';
}

/** The matrix stopped at the user's request (the page knows it asked, and says so as information). */
export class MatrixCancelled extends EngineInputError {
  override name = 'MatrixCancelled';
}

/** Most seeds, defences and budget points one matrix request may ask for (a link cannot ask for days of work). */
const MAX_MATRIX_SEEDS = 20;
const MAX_MATRIX_DEFENCES = 16;
const MAX_MATRIX_BUDGETS = 8;

/** The injected worker crash: the host rethrows it where nothing catches it. */
class WorkerCrash extends Error {
  override name = 'WorkerCrash';
}

export interface SessionHost {
  emit(event: EngineEvent): void;
  /** Fetch a bundled asset by path relative to the app's public folder. */
  fetchAsset(path: string): Promise<ArrayBuffer>;
  sleep(ms: number): Promise<void>;
  /** An error outside any request (the run loop failed). */
  fail?(error: unknown): void;
  /** Why the GPU device was lost, once it has been (the worker watches WebGPU's `device.lost`); null while it is fine. */
  deviceLost?(): string | null;
  /** Testing aid: destroy the backend's real GPU device; false when there is none (not on WebGPU). */
  destroyDevice?(): boolean;
  /** Testing aid: die as a worker does on an uncaught error. */
  crash?(error: Error): void;
  /** The host's JS heap in bytes, where it can tell. */
  heapBytes?(): number | null;
  /** Where a run goes and what that allows (the backend, its buffer limits): a real model's run is planned against it. */
  limits?(): Limits | null;
}

/** A lost GPU device, as the run loop reports it (the worker maps it to the 'device' error code). */
export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
}

/**
 * The optimiser state goes to the page after every step while it is at most this many values (the built-in
 * scenarios: a few thousand), so a run continues from its last completed step; larger states (a real model's
 * per-sample δ) go every SNAPSHOT_EVERY_LARGE steps, because each snapshot is a read-back from the device.
 */
const SNAPSHOT_EVERY_STEP_MAX = 1 << 16;
const SNAPSHOT_EVERY_LARGE = 10;
/** Per-sample rows travel with every this-many-th metrics event (and when paused or done). */
const SAMPLES_EVERY = 10;

export class EngineSession {
  private scenario: LoadedScenario | null = null;
  private defence: Defence | null = null;
  private site: RecoverySite | null = null;
  private run: RecoveryRun | null = null;
  private runConfig: RunConfig | null = null;
  private loop: Promise<void> | null = null;
  /** Memory requests made while a run goes, answered at the next step boundary (see memory()). */
  private atStepBoundary: (() => void)[] = [];
  /** The run loop is between its first and its last step (false once it has paused, finished or failed). */
  private stepping = false;
  /** The defence matrix in progress, if any; `cancelled` stops it at its next stage. */
  private matrixRun: { cancelled: boolean } | null = null;

  constructor(private readonly host: SessionHost) {}

  async handle<T extends Request['type']>(req: Extract<Request, { type: T }>): Promise<ReplyPayload[T]>;
  async handle(req: Request): Promise<unknown>;
  async handle(req: Request): Promise<unknown> {
    switch (req.type) {
      case 'init':
        throw new Error('init is handled by the host (backend selection)');
      case 'loadScenario':
        return this.loadScenario(req.scenario);
      case 'setDefence':
        return this.setDefence({
          features: req.features,
          clamp: req.clamp,
          positions: this.defence?.positions ?? 'default',
          choice: req.defence ? checkedChoice(req.defence) : undefined,
        });
      case 'start':
        return this.start(req.config);
      case 'pause':
        await this.stopLoop();
        return { status: this.run ? (this.run.finished ? 'done' : 'paused') : 'ready', step: this.run?.step ?? 0 };
      case 'resume':
        return this.resume();
      case 'step':
        return this.stepBy(req.count, req.config);
      case 'reset':
        await this.resetRun();
        return { status: 'ready' };
      case 'result':
        return this.requireRun().result(this.resultConfig());
      case 'jacobian':
        return jacobianAnalysis(this.requireSite());
      case 'replay':
        return this.replay(req.topK ?? 8);
      case 'nextTokens':
        return this.nextTokens(req.sample, req.topK ?? 10);
      case 'budgetSweep':
        return this.budgetSweep(req.budgets, req.relative);
      case 'memory':
        return this.memory();
      case 'matrix':
        return this.matrix(req);
      case 'matrixCancel':
        if (this.matrixRun) this.matrixRun.cancelled = true;
        return { cancelled: this.matrixRun !== null };
    }
  }

  // ---- scenario ------------------------------------------------------------------------------------

  private async loadScenario(spec: Extract<Request, { type: 'loadScenario' }>['scenario']): Promise<ScenarioInfo> {
    await this.resetRun();
    this.disposeDefence();
    this.scenario?.dispose();
    this.scenario = null;
    const limits = spec.kind === 'model' && !spec.limits ? this.host.limits?.() : null;
    if (limits && spec.kind === 'model') spec = { ...spec, limits };
    const sc = await loadScenario(spec, async (p) => new Uint8Array(await this.host.fetchAsset(p)));
    try {
      const features = await featureTable(sc);
      const [n, t, d] = sc.h.shape;
      this.scenario = sc;
      return {
        id: sc.id,
        title: sc.title,
        behaviour: sc.behaviourText,
        n,
        t,
        d,
        dSae: sc.sae.dSae,
        sae: sc.saeInfo,
        model: sc.modelName,
        warnings: sc.warnings,
        features,
        featureRule: `top-${sc.defaults.features.length} ${sc.featureRule}`,
        defaults: sc.defaults,
        samples: sc.samples,
        saeCheck: sc.saeCheck,
        defenceKit: sc.defenceKit !== undefined,
      };
    } catch (e) {
      sc.dispose();
      throw e;
    }
  }

  private requireScenario(): LoadedScenario {
    if (!this.scenario) throw new EngineInputError('load a scenario first');
    return this.scenario;
  }

  // ---- defence -------------------------------------------------------------------------------------

  private async setDefence(defence: Defence): Promise<DefenceInfo> {
    const sc = this.requireScenario();
    await this.resetRun();
    const site = await createSite(sc, defence);
    this.disposeDefence();
    this.site = site;
    this.defence = { ...defence, features: [...defence.features] };
    const b = site.baseline;
    const choice = defence.choice ?? PAPER_DEFENCE;
    return {
      features: [...defence.features],
      clamp: defence.clamp,
      choice,
      description: describeDefence(choice),
      notes: siteNotes(site),
      base: b.bBase,
      defended: b.bDef,
      valid: b.valid,
      validFlips: b.valid.filter(Boolean).length,
      residualBase: b.residualBase,
      residualDefended: b.residualDef,
      ...budgetBasis(site),
    };
  }

  private requireDefence(): { defence: Defence; site: RecoverySite } {
    if (!this.defence || !this.site) throw new EngineInputError('choose the defended features first');
    return { defence: this.defence, site: this.site };
  }

  private requireSite(): RecoverySite {
    return this.requireDefence().site;
  }

  private disposeDefence(): void {
    this.site?.dispose();
    this.site = null;
    this.defence = null;
  }

  // ---- run -----------------------------------------------------------------------------------------

  private async start(config: RunConfig): Promise<{ status: 'running' }> {
    const sc = this.requireScenario();
    const { defence } = this.requireDefence();
    const options = runOptions(sc.id, config.settings);
    if (!Number.isInteger(config.metricsEvery) || config.metricsEvery < 1)
      throw new EngineInputError('metrics interval must be a whole number ≥ 1');
    if (!(config.stepDelayMs >= 0 && config.stepDelayMs <= 10_000)) throw new EngineInputError('step delay must be between 0 and 10000 ms');
    await this.resetRun();
    const positions: DeltaPositions = effectiveRun(sc.id, config.settings).positions;
    if (positions !== defence.positions) await this.setDefence({ ...defence, positions });
    this.run = await RecoveryRun.create(this.requireSite(), options);
    if (config.resumeFrom) this.run.importState(config.resumeFrom);
    this.runConfig = config;
    this.startLoop();
    return { status: 'running' };
  }

  private requireRun(): RecoveryRun {
    if (!this.run) throw new EngineInputError('start a run first');
    return this.run;
  }

  private startLoop(): void {
    const run = this.requireRun();
    const cfg = this.runConfig!;
    const snapshotEvery = run.deltaShape.reduce((a, b) => a * b, 1) <= SNAPSHOT_EVERY_STEP_MAX ? 1 : SNAPSHOT_EVERY_LARGE;
    this.stepping = true;
    this.loop = (async () => {
      this.emitStatus('running');
      const status = await run.run({
        metricsEvery: cfg.metricsEvery,
        onMetrics: (entry, samples) => this.emitMetrics(entry, samples),
        beforeStep: (step) => {
          this.answerAtStepBoundary();
          const lost = this.host.deviceLost?.();
          if (lost) throw new DeviceLostError(lost);
          if (cfg.fault && step > cfg.fault.atStep) {
            const { kind } = cfg.fault;
            cfg.fault = undefined;
            this.injectFault(kind);
          }
        },
        afterStep: async (step) => {
          if (step % snapshotEvery === 0) await this.emitSnapshot();
        },
        stepDelayMs: cfg.stepDelayMs,
        sleep: (ms) => this.host.sleep(ms),
      });
      if (status === 'done') await this.finish();
      else await this.emitPaused();
    })()
      .catch((e) => {
        // A failure inside the loop (a lost device, out of memory) is not a reply to any request: it is reported
        // once, as an event-level error (a later pause or reset must not throw it again). A lost device is named
        // as such even when the failing read-back said something else.
        if (e instanceof WorkerCrash) this.host.crash?.(e);
        else
          this.host.fail?.(this.host.deviceLost?.() && !(e instanceof DeviceLostError) ? new DeviceLostError(this.host.deviceLost()!) : e);
      })
      .finally(() => {
        this.stepping = false;
        this.answerAtStepBoundary();
      });
  }

  /**
   * What TensorFlow.js holds. While a run goes the reading waits for the boundary between two steps: read in the
   * middle of one (the loop awaits metrics and snapshots), it would catch that step's short-lived tensors and a
   * flat run would look like it leaks.
   */
  private memory(): Promise<ReplyPayload['memory']> {
    const read = () => {
      const m = tf.memory();
      return { numTensors: m.numTensors, numBytes: m.numBytes, heapBytes: this.host.heapBytes?.() ?? null };
    };
    if (!this.stepping) return Promise.resolve(read());
    return new Promise((resolve) => this.atStepBoundary.push(() => resolve(read())));
  }

  private answerAtStepBoundary(): void {
    const waiting = this.atStepBoundary;
    this.atStepBoundary = [];
    for (const answer of waiting) answer();
  }

  private injectFault(kind: Fault['kind']): void {
    if (kind === 'device-loss') throw new DeviceLostError('the GPU device was lost (simulated for testing)');
    if (kind === 'worker-crash') throw new WorkerCrash('the engine worker crashed (simulated for testing)');
    if (!this.host.destroyDevice?.())
      this.host.emit({ type: 'notice', message: 'fault destroy-device: this backend has no GPU device to destroy; the run goes on' });
  }

  private async emitSnapshot(): Promise<void> {
    const { history: _, ...state } = await this.requireRun().exportState();
    // Values read back from a device that was lost meanwhile are not trusted as a resume point.
    const lost = this.host.deviceLost?.();
    if (lost) throw new DeviceLostError(lost);
    this.host.emit({ type: 'snapshot', state });
  }

  private async stopLoop(): Promise<void> {
    if (!this.loop) return;
    this.run?.pause();
    try {
      await this.loop;
    } finally {
      this.loop = null;
    }
  }

  private async resume(): Promise<{ status: 'running' | 'done' }> {
    const run = this.requireRun();
    if (this.loop) return { status: 'running' };
    if (run.finished) return { status: 'done' };
    this.startLoop();
    return { status: 'running' };
  }

  private async stepBy(count: number, config?: RunConfig): Promise<{ status: 'paused' | 'done'; step: number }> {
    if (!Number.isInteger(count) || count < 1 || count > 10_000)
      throw new EngineInputError('step count must be a whole number in 1..10000');
    if ((!this.run || this.run.finished) && config) {
      await this.start(config);
      await this.stopLoop();
    }
    const run = this.requireRun();
    await this.stopLoop();
    for (let i = 0; i < count && !run.finished; i++) run.stepOnce();
    if (run.finished) await this.finish();
    else await this.emitPaused();
    return { status: run.finished ? 'done' : 'paused', step: run.step };
  }

  private async resetRun(): Promise<void> {
    await this.stopLoop();
    this.run?.dispose();
    this.run = null;
  }

  private emitMetrics(entry: HistoryEntry, samples: SampleMetrics[], withSamples = false): void {
    const every = (this.runConfig?.metricsEvery ?? 1) * SAMPLES_EVERY;
    const include = withSamples || this.run?.finished || entry.step % every === 0;
    this.host.emit({ type: 'metrics', entry, samples: include ? samples : undefined });
  }

  private async emitPaused(): Promise<void> {
    const { entry, samples } = await this.requireRun().record();
    this.emitMetrics(entry, samples, true);
    // A paused run is saved by the page exactly where it stopped.
    await this.emitSnapshot();
    this.emitStatus('paused');
  }

  private async finish(): Promise<void> {
    const run = this.requireRun();
    const { entry, samples } = await run.record();
    this.emitMetrics(entry, samples, true);
    this.emitStatus('done');
    this.host.emit({ type: 'done', result: await run.result(this.resultConfig()) });
  }

  private emitStatus(status: 'running' | 'paused' | 'done'): void {
    const run = this.run;
    this.host.emit({ type: 'status', status, step: run?.step ?? 0, totalSteps: run?.options.steps ?? 0 });
  }

  private resultConfig(): Record<string, unknown> {
    const sc = this.requireScenario();
    const { defence } = this.requireDefence();
    const given = defence.features.join() !== sc.defaults.features.join();
    return resultConfig(sc, defence, given);
  }

  // ---- analyses ------------------------------------------------------------------------------------

  /** The run's reported δ as the site takes it, [N, P, d] (a shared δ broadcast); zeros when there is no run. */
  private async siteDelta(site: RecoverySite, run: RecoveryRun | null): Promise<Tensor3D> {
    const raw = run ? await run.deltaValues() : null;
    return tf.tidy(() =>
      run && raw
        ? (tf.broadcastTo(tf.tensor3d(raw, run.deltaShape), [site.n, site.p, site.d]) as Tensor3D)
        : (tf.zeros([site.n, site.p, site.d]) as Tensor3D),
    );
  }

  private async nextTokens(sample: number, topK: number): Promise<ReplyPayload['nextTokens']> {
    const sc = this.requireScenario();
    // A scenario without a language model says so before anything else is asked of it.
    requireLanguageModel(sc);
    const site = this.requireSite();
    const run = this.run;
    const delta = await this.siteDelta(site, run);
    try {
      return await nextTokenView(sc, site, { delta, step: run?.step ?? null }, sample, topK);
    } finally {
      delta.dispose();
    }
  }

  private async replay(topK: number): Promise<ReplyPayload['replay']> {
    const run = this.requireRun();
    const site = this.requireSite();
    const delta = await this.siteDelta(site, run);
    try {
      const rows = await recoveryPathReplay(site, delta, topK);
      return rows.map(({ part, recovered, validFlips, rate, normShare }) => ({ part, recovered, validFlips, rate, normShare }));
    } finally {
      delta.dispose();
    }
  }

  /** Re-run the current configuration at each budget κ (relative) or ρ (absolute), to completion, no live metrics. */
  private async budgetSweep(budgets: number[], relative: boolean): Promise<BudgetSweepRow[]> {
    const site = this.requireSite();
    const base = this.run?.options ?? runOptions(this.requireScenario().id, this.runConfig?.settings);
    if (!budgets.length || budgets.length > 20) throw new EngineInputError('give between 1 and 20 budgets');
    const rows: BudgetSweepRow[] = [];
    for (const budget of budgets) {
      const run = await RecoveryRun.create(site, relative ? { ...base, budgetRel: budget } : { ...base, budget, budgetRel: null });
      try {
        await run.run({ metricsEvery: run.options.steps, sleep: (ms) => this.host.sleep(ms) });
        const a = (await run.result()).aggregate;
        rows.push({
          budget,
          relative,
          rho: run.options.budget,
          recoveryRate: a.recoveryRate,
          recovered: a.recovered,
          validFlips: a.validFlips,
          meanRelDrift: a.relDrift.mean,
          meanAbsDrift: a.meanAbsDrift,
        });
        this.host.emit({ type: 'notice', message: `budget sweep: ${relative ? 'κ' : 'ρ'} = ${budget} done` });
      } finally {
        run.dispose();
      }
    }
    return rows;
  }

  // ---- the defence matrix -------------------------------------------------------------------------

  /**
   * The matrix on a built-in scenario, loaded for each seed the way loadScenario loads one (this session's scenario,
   * defence and run stay as they are; a run going is paused first). Progress goes out as events; a cancel stops it at
   * the next stage, and everything it made is freed on the way out.
   */
  private async matrix(req: MatrixRequest): Promise<DefenceMatrix> {
    if (this.matrixRun) throw new EngineInputError('a defence matrix is already running: cancel it first');
    const spec = checkedMatrix(req);
    await this.stopLoop();
    const state = { cancelled: false };
    this.matrixRun = state;
    const budgets = spec.budgets ?? DEFAULT_BUDGET_MULTIPLES;
    const attacked = spec.defences.filter((d) => defenceKey(d) !== defenceKey(PAPER_DEFENCE)).length;
    // The stages the matrix reports: the paper's attacker per seed and mode; per defence its cost, its curve and the
    // doubled steps (first seed), and the adaptive attacker per seed and mode (the paper's clamp reuses the paper's δ).
    const total = spec.seeds.length * spec.modes.length * (1 + attacked) + spec.defences.length * (budgets.length + 2);
    let done = 0;
    const read = async (p: string) => new Uint8Array(await this.host.fetchAsset(p));
    try {
      return await defenceMatrix({
        scenario: spec.scenario,
        load: (seed) => loadScenario({ kind: 'builtin', scenario: spec.scenario, sae: spec.sae, seed }, read),
        defences: spec.defences,
        modes: spec.modes,
        seeds: spec.seeds,
        budgets,
        settings: spec.settings,
        onProgress: (message) => {
          if (state.cancelled) throw new MatrixCancelled('the defence matrix was cancelled');
          this.host.emit({ type: 'matrixProgress', message, done: done++, total: Math.max(total, done) });
        },
      });
    } finally {
      this.matrixRun = null;
    }
  }

  async dispose(): Promise<void> {
    if (this.matrixRun) this.matrixRun.cancelled = true;
    await this.resetRun();
    this.disposeDefence();
    this.scenario?.dispose();
    this.scenario = null;
  }
}

/** A defence from the page, checked as a link's would be: known ids, one at the hook, settings in range. */
function checkedChoice(c: DefenceChoice): DefenceChoice {
  if (!c || !Array.isArray(c.ids)) throw new EngineInputError('the defence must name its ids');
  return parseDefence(c.ids.join('+'), { clipPercentile: c.clipPercentile, detectFpr: c.detectFpr });
}

/** A matrix request checked before anything is loaded: what a link or a stale page could ask for that cannot run. */
function checkedMatrix(req: MatrixRequest): MatrixRequest {
  if (!isBuiltinScenarioId(req.scenario))
    throw new EngineInputError(
      `the defence matrix runs on the built-in scenarios (${BUILTIN_SCENARIO_IDS.join(', ')}), not "${String(req.scenario)}"`,
    );
  const seeds = req.seeds ?? [];
  if (!Array.isArray(seeds) || seeds.length < 1 || seeds.length > MAX_MATRIX_SEEDS)
    throw new EngineInputError(`give between 1 and ${MAX_MATRIX_SEEDS} seeds`);
  for (const s of seeds) {
    const problem = boundsProblem('seed', s);
    if (problem) throw new EngineInputError(problem);
  }
  if (new Set(seeds).size !== seeds.length) throw new EngineInputError('a seed is listed twice');
  const modes = req.modes ?? [];
  if (!Array.isArray(modes) || !modes.length || modes.some((m) => !(PROJECTION_MODES as readonly string[]).includes(m)))
    throw new EngineInputError(`choose the projection modes from ${PROJECTION_MODES.join(', ')}`);
  if (new Set(modes).size !== modes.length) throw new EngineInputError('a mode is listed twice');
  if (!Array.isArray(req.defences) || !req.defences.length || req.defences.length > MAX_MATRIX_DEFENCES)
    throw new EngineInputError(`choose between 1 and ${MAX_MATRIX_DEFENCES} defences`);
  const defences = req.defences.map(checkedChoice);
  const keys = defences.map(defenceKey);
  if (new Set(keys).size !== keys.length) throw new EngineInputError('a defence is listed twice');
  const budgets = req.budgets;
  if (budgets !== undefined && (!budgets.length || budgets.length > MAX_MATRIX_BUDGETS || budgets.some((b) => !(b > 0 && b <= 100))))
    throw new EngineInputError(`give between 1 and ${MAX_MATRIX_BUDGETS} budget multiples, each in (0, 100]`);
  // The settings are checked as a run's are (the engine's bounds, in its words).
  runOptions(req.scenario, req.settings);
  return { scenario: req.scenario, sae: req.sae, seeds: [...seeds], modes: [...modes], defences, settings: req.settings ?? {}, budgets };
}

/** What a defence set up at the site, in words: its later layers, the monitor's calibration, clip-error's cap. */
function siteNotes(site: RecoverySite): string[] {
  const notes: string[] = [];
  const d = site.spec.defence;
  for (const l of d?.later ?? []) notes.push(`${l.hook}: ${l.describe}`);
  const cal = site.detector?.calibration;
  if (cal)
    notes.push(
      `monitor threshold ${cal.threshold.toFixed(3)}; held-out clean false-positive rate ${(cal.heldOutFpr * 100).toFixed(1)}% of ${cal.heldOutInputs} inputs`,
    );
  if (d?.params?.errorCap !== undefined) notes.push(`error norm capped at ${d.params.errorCap.toFixed(3)}`);
  return notes;
}
