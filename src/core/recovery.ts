// The recovery attack's run: find δ with ‖δ‖ ≤ ρ that brings the behaviour back under the active clamp,
//   h_rec = h_def + δ at the chosen slots, maximise mean B(h_rec),
// with Adam (or L2 projected gradient) from δ⁰ = 0 and one of three projection modes (docs/method.md §3):
//   none      plain Adam;
//   encoder   the gradient projected off the defended encoder directions (ridge projection, factorised
//             once), optionally δ itself re-projected after each step (exact C1);
//   jacobian  the behaviour gradient projected off the rows of ∂z_S/∂δ (exact rows when few, else a
//             sketch of one drift-direction and k random-probe VJPs), the λ_act drift gradient added
//             unprojected, then a few plain-gradient correction steps on drift.
// Step-wise API: create → stepOnce() / run() → record() → … → result() → dispose(). One step is one tf.tidy;
// nothing is read back from the device unless metrics are recorded. Here: the state and the one run loop;
// the options are options.ts, the step optimiser-step.ts, the checkpoints checkpoints.ts, the per-sample
// metrics sample-metrics.ts, the relative budget budget.ts, saving and restoring recovery-state.ts.
import { tf, type Scalar, type Tensor, type Variable } from './tf.ts';
import { EncoderProjector, cosine, type MaskedColumns, maskedColumns } from './projection.ts';
import type { RecoverySite } from './site.ts';
import { summarise, type HistoryEntry, type RecoveryResult, type SampleMetrics } from './metrics.ts';
import { optionsForExport, RecoveryOptionError, resolveOptions, type RecoveryOptions } from './options.ts';
import { relativeBudget } from './budget.ts';
import { optimiserStep, type StepContext } from './optimiser-step.ts';
import { Checkpoints } from './checkpoints.ts';
import { sampleMetrics } from './sample-metrics.ts';
import { restoreState, saveState, type RecoveryState } from './recovery-state.ts';

export type RunStatus = 'ready' | 'running' | 'paused' | 'done' | 'disposed';

/** How `run()` drives the stepper: when to record, what to call around each step, how to share the thread. */
export interface RunControl {
  /** Record metrics every this many steps (and before the first step and at the last). */
  metricsEvery?: number;
  /** Every per-step record, as charts, progress bars and reports read it. */
  onMetrics?: (entry: HistoryEntry, samples: SampleMetrics[]) => void | Promise<void>;
  /** Before each step, with the step about to run (may throw to abort the run). */
  beforeStep?: (step: number) => void;
  /** After each step and its record, if it has one (e.g. to snapshot the optimiser state). */
  afterStep?: (step: number) => void | Promise<void>;
  /** Wait this long between steps (the page's speed control). */
  stepDelayMs?: number;
  /** Give the event loop a turn when this many ms have passed without one, so pause() gets through. */
  yieldMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class RecoveryRun {
  readonly options: RecoveryOptions;
  readonly history: HistoryEntry[] = [];
  private deltaVar: Variable;
  private m: Variable;
  private v: Variable;
  /** Checkpoints: the best admissible δ per budget group and the best fallback (B − w·drift), when selection is on. */
  private best: Checkpoints | null = null;
  /**
   * The last step's raw and projected gradients (one tensor when the projection left it as is), for the projection
   * cosine of the next record(): computed there, since a run records far fewer steps than it takes.
   */
  private lastGradients: { raw: Tensor; projected: Tensor } | null = null;
  private lastLoss: Scalar | null = null;
  private stepCount = 0;
  private status: RunStatus = 'ready';
  private pauseRequested = false;
  /** The defended encoder columns, for the exact Jacobian projection (affine encoders). */
  private readonly columns: MaskedColumns | null;
  private readonly context: StepContext;

  private constructor(
    readonly site: RecoverySite,
    options: RecoveryOptions,
    projector: EncoderProjector | null,
  ) {
    this.options = options;
    const shape: [number, number, number] = [options.delta === 'shared' ? 1 : site.n, site.p, site.d];
    // Variables share the initial tensor's data; tidy frees the initial tensor objects themselves.
    const zeros = () => tf.tidy(() => tf.variable(tf.zeros(shape), false));
    this.deltaVar = zeros();
    this.m = zeros();
    this.v = zeros();
    this.columns = site.affineEncoder ? maskedColumns(site.set.encoderDirections()) : null;
    if (options.checkpointMaxRelDrift !== null) this.best = Checkpoints.create(shape);
    this.context = { site, options, projector, columns: this.columns };
  }

  static async create(site: RecoverySite, partial: Partial<RecoveryOptions> = {}): Promise<RecoveryRun> {
    const resolved = resolveOptions(partial);
    if (resolved.delta === 'shared' && site.spec.unshared) throw new RecoveryOptionError(site.spec.unshared);
    const options = resolved.budgetRel === null ? resolved : { ...resolved, budget: relativeBudget(site, resolved.budgetRel) };
    const projector = options.mode === 'encoder' ? await EncoderProjector.create(site.set.encoderDirections(), options.ridge) : null;
    return new RecoveryRun(site, options, projector);
  }

  get step(): number {
    return this.stepCount;
  }
  /** [N, P, d] for per-sample δ, [1, P, d] for a shared one. */
  get deltaShape(): [number, number, number] {
    return this.deltaVar.shape as [number, number, number];
  }
  get state(): RunStatus {
    return this.status;
  }
  get finished(): boolean {
    return this.stepCount >= this.options.steps;
  }

  /** One optimiser step. Synchronous: it queues device work and reads nothing back. */
  stepOnce(): void {
    if (this.status === 'disposed') throw new Error('this run has been disposed');
    if (this.finished) return;
    const { options } = this;
    const t = this.stepCount + 1;
    const [newDelta, newM, newV, raw, projected, loss] = optimiserStep(this.context, { delta: this.deltaVar, m: this.m, v: this.v }, t);
    this.deltaVar.assign(newDelta);
    if (newM !== this.m) this.m.assign(newM);
    if (newV !== this.v) this.v.assign(newV);
    tf.dispose([newDelta, newM, newV].filter((x) => x !== this.m && x !== this.v));
    this.disposeLast();
    this.lastGradients = { raw, projected };
    this.lastLoss = loss;
    this.stepCount = t;
    const { checkpointEvery } = options;
    if (this.best && (t % checkpointEvery === 0 || this.finished)) this.best.update(this.site, options, this.deltaVar);
  }

  private disposeLast(): void {
    if (this.lastGradients) tf.dispose([this.lastGradients.raw, this.lastGradients.projected]);
    this.lastLoss?.dispose();
    this.lastGradients = null;
    this.lastLoss = null;
  }

  /**
   * The δ the run reports: the current one, or with checkpoint selection, per budget group the best admissible
   * checkpoint, else the best fallback (before the first checkpoint: the current δ). Caller disposes.
   */
  private reported(): Tensor {
    return this.best ? this.best.reported(this.deltaVar) : this.deltaVar.clone();
  }

  /** Per-sample metrics at the reported δ, read back in one transfer. */
  sampleMetrics(): Promise<SampleMetrics[]> {
    return sampleMetrics(this.site, () => this.reported());
  }

  /** Read the metrics now and append them to the history. */
  async record(): Promise<{ entry: HistoryEntry; samples: SampleMetrics[] }> {
    const samples = await this.sampleMetrics();
    const g = this.lastGradients;
    const cosT = g ? (cosine(g.raw, g.projected) as Scalar) : null;
    const [cos, loss] = await Promise.all([cosT?.data(), this.lastLoss?.data()]);
    cosT?.dispose();
    const agg = summarise(samples);
    const entry: HistoryEntry = {
      step: this.stepCount,
      objective: agg.all.meanRecoveredScore,
      loss: loss ? loss[0] : null,
      recoveryRate: agg.recoveryRate,
      meanRelDrift: agg.relDrift.mean,
      meanAbsDrift: agg.meanAbsDrift,
      meanDeltaNorm: agg.meanDeltaNorm,
      residualNorm: agg.residualNorm.recovered,
      projectionCosine: cos ? cos[0] : null,
    };
    const last = this.history[this.history.length - 1];
    if (!last || last.step !== entry.step) this.history.push(entry);
    return { entry, samples };
  }

  /**
   * The run loop: step until done or paused, recording metrics every `metricsEvery` steps. Resolves with
   * the status; call again after pause() to resume from where it stopped. The CLI, the report, the worker
   * session and the budget sweep all run through here.
   */
  async run(control: RunControl = {}): Promise<RunStatus> {
    if (this.status === 'disposed') throw new Error('this run has been disposed');
    const every = Math.max(1, control.metricsEvery ?? 1);
    const sleep = control.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const yieldMs = control.yieldMs ?? 30;
    const delay = control.stepDelayMs ?? 0;
    this.pauseRequested = false;
    this.status = 'running';
    if (this.history.length === 0) await this.emit(control);
    let lastYield = performance.now();
    while (!this.finished) {
      if (this.pauseRequested) {
        this.status = 'paused';
        return this.status;
      }
      control.beforeStep?.(this.stepCount + 1);
      this.stepOnce();
      // The record before the snapshot: whoever saves a snapshot at this step then already holds its record,
      // so a run resumed from it leaves no hole in the history.
      if (this.stepCount % every === 0 || this.finished) await this.emit(control);
      await control.afterStep?.(this.stepCount);
      // Reading metrics back only resolves promises; a pause request needs a real turn of the event loop.
      if (delay > 0 || performance.now() - lastYield > yieldMs) {
        await sleep(delay);
        lastYield = performance.now();
      }
    }
    this.status = 'done';
    return this.status;
  }

  private async emit(control: RunControl): Promise<void> {
    const { entry, samples } = await this.record();
    await control.onMetrics?.(entry, samples);
  }

  pause(): void {
    this.pauseRequested = true;
  }

  /** The full result in the documented schema (public/schemas/recovery-result.schema.json). */
  async result(config: Record<string, unknown> = {}): Promise<RecoveryResult> {
    const samples = await this.sampleMetrics();
    if (this.history.length === 0 || this.history[this.history.length - 1].step !== this.stepCount) await this.record();
    return {
      config: {
        ...config,
        ...optionsForExport(this.options),
        // The monitor's penalty weight means something only where there is a monitor.
        ...(this.site.detector && { lambdaDetect: this.options.lambdaDetect }),
        features: this.site.set.indices,
      },
      samples,
      aggregate: summarise(samples),
      history: this.history.slice(),
    };
  }

  /** The final δ, [N|1, P, d] flattened. */
  async deltaValues(): Promise<Float32Array> {
    const delta = this.reported();
    try {
      return (await delta.data()) as Float32Array;
    } finally {
      delta.dispose();
    }
  }

  exportState(): Promise<RecoveryState> {
    return saveState(this.variables(), this.stepCount, this.history);
  }

  /** Continue a run from an exported state (e.g. on another backend after a lost device). */
  importState(state: RecoveryState): void {
    restoreState(this.variables(), state);
    this.stepCount = state.step;
    this.history.splice(0, this.history.length, ...state.history);
  }

  private variables() {
    return { delta: this.deltaVar, m: this.m, v: this.v, best: this.best };
  }

  dispose(): void {
    if (this.status === 'disposed') return;
    this.disposeLast();
    tf.dispose([this.deltaVar, this.m, this.v, ...(this.columns ? Object.values(this.columns) : [])].filter(Boolean) as Tensor[]);
    this.best?.dispose();
    this.context.projector?.dispose();
    this.status = 'disposed';
  }
}
