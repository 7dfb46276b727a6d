// The engine's state machine, independent of where it runs: the worker wraps it with postMessage, tests
// drive it directly in Node. It owns every tensor of the current scenario, defence and run.
import { tf, type Tensor3D } from '../core/tf.ts';
import type { Sae } from '../core/sae.ts';
import { loadSaeLens } from '../io/saelens.ts';
import { RecoverySite, type Behaviour } from '../core/site.ts';
import { RecoveryRun, resolveOptions } from '../core/recovery.ts';
import { featureAttribution, topKPositive } from '../core/attribution.ts';
import { jacobianAnalysis, recoveryPathReplay } from '../core/analyses.ts';
import { describeClamp, type ClampRule } from '../core/intervention.ts';
import { activationsTensor, allTokenPositions, checkProbeScenario, parseActivations, parseProbe, probeBehaviour } from '../scenarios/probe.ts';
import { openWorkbench, scenarioFor } from '../scenarios/run.ts';
import type { ReadAsset } from '../scenarios/builtin/assets.ts';
import type {
  BudgetSweepRow,
  DefenceInfo,
  DeltaPositions,
  EngineEvent,
  JacobianAnalysis,
  ProbeFiles,
  ReplayRow,
  Request,
  RunConfig,
  ScenarioInfo,
  ScenarioRequest,
} from './protocol.ts';

export class EngineInputError extends Error {
  override name = 'EngineInputError';
}

/** Everything a loaded scenario needs to build sites. */
interface LoadedScenario {
  info: ScenarioInfo;
  sae: Sae;
  h: Tensor3D;
  behaviour: Behaviour;
  positions: Record<DeltaPositions, number[][]>;
  dispose: () => void;
}

export interface SessionHost {
  emit(event: EngineEvent): void;
  /** Fetch a bundled asset by path relative to the app's public folder. */
  fetchAsset(path: string): Promise<ArrayBuffer>;
  sleep(ms: number): Promise<void>;
  /** An error outside any request (the run loop failed). */
  fail?(error: unknown): void;
}

const EXAMPLE_DIR = 'examples/probe';
const SNAPSHOT_EVERY = 10;

export class EngineSession {
  private scenario: LoadedScenario | null = null;
  private site: RecoverySite | null = null;
  private defence: { features: number[]; clamp: ClampRule; positions: DeltaPositions } | null = null;
  private run: RecoveryRun | null = null;
  private runConfig: RunConfig | null = null;
  private loop: Promise<void> | null = null;
  private stopRequested = false;

  constructor(private readonly host: SessionHost) {}

  async handle(req: Request): Promise<unknown> {
    switch (req.type) {
      case 'init':
        throw new Error('init is handled by the host (backend selection)');
      case 'loadScenario':
        return this.loadScenario(req.scenario);
      case 'setDefence':
        return this.setDefence(req.features, req.clamp, this.defence?.positions ?? this.requireScenario().info.defaults.positions);
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
      case 'analyse':
        if (req.analysis === 'jacobian') return this.jacobian();
        if (req.analysis === 'replay') return this.replay(req.topK ?? 8);
        return this.budgetSweep(req.budgets);
    }
  }

  // ---- scenario ------------------------------------------------------------------------------------

  private async loadScenario(req: ScenarioRequest): Promise<ScenarioInfo> {
    await this.resetRun();
    this.disposeDefence();
    this.scenario?.dispose();
    this.scenario = null;
    if (req.kind === 'probe-example') {
      const [cfg, weights, activations, probe] = await Promise.all([
        this.host.fetchAsset(`${EXAMPLE_DIR}/sae/cfg.json`),
        this.host.fetchAsset(`${EXAMPLE_DIR}/sae/sae_weights.safetensors`),
        this.host.fetchAsset(`${EXAMPLE_DIR}/activations.safetensors`),
        this.host.fetchAsset(`${EXAMPLE_DIR}/probe.safetensors`),
      ]);
      const files: ProbeFiles = { cfgJson: new TextDecoder().decode(cfg), weights, activations, probe };
      this.scenario = await this.loadProbe(files, undefined, undefined, 'probe-example', 'Probe example (synthetic)');
    } else if (req.kind === 'probe') {
      this.scenario = await this.loadProbe(req.files, req.target, req.centerInput, 'probe', req.name ?? 'Your probe');
    } else {
      this.scenario = await this.loadBuiltin(req);
    }
    return this.scenario.info;
  }

  private async loadProbe(files: ProbeFiles, target: number | undefined, centerInput: boolean | undefined, id: string, title: string): Promise<LoadedScenario> {
    const acts = parseActivations(new Uint8Array(files.activations), 'activations');
    const probe = parseProbe(new Uint8Array(files.probe), 'probe');
    const loaded = loadSaeLens(
      { cfgJson: files.cfgJson, weights: new Uint8Array(files.weights), sparsity: files.sparsity ? new Uint8Array(files.sparsity) : undefined },
      { source: 'SAE', centerInput },
    );
    const { sae } = loaded;
    let pb: ReturnType<typeof probeBehaviour> | null = null;
    let h: Tensor3D | null = null;
    try {
      const c = checkProbeScenario(acts, probe, sae.dIn, target);
      pb = probeBehaviour(probe, c, acts);
      h = activationsTensor(acts);
      const all = allTokenPositions(acts);
      const positions = { default: all, all, last: all.map((row) => [Math.max(...row)]) };
      const attribution = await featureAttribution(sae, h, pb.behaviour);
      const { meanActivation, logDensity } = await featureStats(sae, h, acts.mask);
      const defaults = topKPositive(attribution, Math.min(4, sae.dSae));
      const info: ScenarioInfo = {
        id,
        title,
        behaviour: `B = logit of probe class ${c} on the mean-pooled residual; a valid flip has B > 0 before the clamp and B ≤ 0 after.`,
        n: acts.n,
        t: acts.t,
        d: acts.d,
        dSae: sae.dSae,
        sae: { name: loaded.config.modelName ?? 'SAE', architecture: loaded.config.architecture, hookName: loaded.config.hookName, k: loaded.config.k, notes: loaded.notes },
        features: { attribution, meanActivation, logDensity: loaded.logDensity ?? logDensity },
        defaults: {
          features: defaults,
          clamp: { kind: 'set', value: 0, onlyActive: false },
          positions: 'default',
          options: { mode: 'encoder', steps: 100, lr: 0.05, budget: 2, delta: 'per-sample', seed: 0 },
        },
        samples: Array.from({ length: acts.n }, (_, i) => ({ index: i, deltaPositions: all[i].filter((p) => p >= 0) })),
      };
      const hh = h, pbb = pb;
      return { info, sae, h: hh, behaviour: pbb.behaviour, positions, dispose: () => (hh.dispose(), pbb.dispose(), sae.dispose()) };
    } catch (e) {
      h?.dispose();
      pb?.dispose();
      sae.dispose();
      throw e;
    }
  }

  private async loadBuiltin(req: Extract<ScenarioRequest, { kind: 'builtin' }>): Promise<LoadedScenario> {
    const read: ReadAsset = async (p) => new Uint8Array(await this.host.fetchAsset(`models/${p}`));
    const wb = await openWorkbench(read, req.model, req.sae);
    try {
      const sc = await scenarioFor(wb, req.scenario, { seed: req.seed, n: req.n, k: req.k, targetClass: req.targetClass });
      const { sae } = wb.sae.loaded;
      const [n, t] = sc.h.shape;
      const mask = new Float32Array(n * t);
      sc.samples.forEach((smp, i) => mask.fill(1, i * t, i * t + smp.tokens.length));
      const weights = new Float32Array(n * t);
      sc.positions.forEach((row, i) => row.forEach((pos) => pos >= 0 && (weights[i * t + pos] = 1)));
      const attribution = await featureAttribution(sae, sc.h, sc.behaviour, weights);
      const { meanActivation, logDensity } = await featureStats(sae, sc.h, mask);
      const all = sc.samples.map((smp) => Array.from({ length: t }, (_, j) => (j < smp.tokens.length ? j : -1)));
      const info: ScenarioInfo = {
        id: req.scenario,
        title: sc.title,
        behaviour: sc.behaviourText,
        n,
        t,
        d: sae.dIn,
        dSae: sae.dSae,
        sae: { name: wb.sae.entry.name, architecture: wb.sae.entry.architecture, hookName: sc.hook, k: wb.sae.entry.k ?? undefined, notes: [`explained variance ${wb.sae.entry.explainedVariance.toFixed(3)}, mean L0 ${wb.sae.entry.meanL0}`, sc.featureRule] },
        features: { attribution, meanActivation, logDensity: wb.sae.loaded.logDensity ?? logDensity },
        defaults: { features: sc.features, clamp: sc.clamp, positions: 'default', options: sc.options },
        samples: sc.samples.map((smp) => ({ index: smp.index, tokens: smp.tokens, label: smp.label, deltaPositions: smp.deltaPositions })),
      };
      return {
        info,
        sae,
        h: sc.h,
        behaviour: sc.behaviour,
        positions: { default: sc.positions, all, last: sc.samples.map((smp) => [smp.tokens.length - 1]) },
        dispose: () => wb.dispose(),
      };
    } catch (e) {
      wb.dispose();
      throw e;
    }
  }

  private requireScenario(): LoadedScenario {
    if (!this.scenario) throw new EngineInputError('load a scenario first');
    return this.scenario;
  }

  // ---- defence -------------------------------------------------------------------------------------

  private async setDefence(features: number[], clamp: ClampRule, positions: DeltaPositions): Promise<DefenceInfo> {
    const sc = this.requireScenario();
    await this.resetRun();
    const site = await RecoverySite.create({ sae: sc.sae, features, clamp, h: sc.h, positions: sc.positions[positions], behaviour: sc.behaviour });
    this.disposeDefence();
    this.site = site;
    this.defence = { features: [...features], clamp, positions };
    const b = site.baseline;
    return {
      features: [...features],
      clamp,
      base: b.bBase,
      defended: b.bDef,
      valid: b.valid,
      validFlips: b.valid.filter(Boolean).length,
      residualBase: b.residualBase,
      residualDefended: b.residualDef,
    };
  }

  private requireSite(): RecoverySite {
    if (!this.site) throw new EngineInputError('choose the defended features first');
    return this.site;
  }

  private disposeDefence(): void {
    this.site?.dispose();
    this.site = null;
  }

  // ---- run -----------------------------------------------------------------------------------------

  private async start(config: RunConfig): Promise<{ status: string }> {
    const sc = this.requireScenario();
    if (!this.defence) throw new EngineInputError('choose the defended features first');
    const options = resolveOptions({ ...sc.info.defaults.options, ...config.options });
    if (!Number.isInteger(config.metricsEvery) || config.metricsEvery < 1) throw new EngineInputError('metrics interval must be a whole number ≥ 1');
    if (!(config.stepDelayMs >= 0 && config.stepDelayMs <= 10_000)) throw new EngineInputError('step delay must be between 0 and 10000 ms');
    await this.resetRun();
    if (config.positions !== this.defence.positions) await this.setDefence(this.defence.features, this.defence.clamp, config.positions);
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
    this.stopRequested = false;
    this.loop = (async () => {
      this.emitStatus('running');
      if (run.history.length === 0) await this.emitMetrics();
      let lastYield = performance.now();
      while (!run.finished && !this.stopRequested) {
        if (cfg.simulateDeviceLossAtStep !== undefined && run.step >= cfg.simulateDeviceLossAtStep) {
          cfg.simulateDeviceLossAtStep = undefined;
          throw new Error('GPU device was lost (simulated for testing)');
        }
        run.stepOnce();
        if (run.step % SNAPSHOT_EVERY === 0) this.host.emit({ type: 'snapshot', state: await run.exportState() });
        if (run.step % cfg.metricsEvery === 0 || run.finished) {
          await this.emitMetrics();
          lastYield = performance.now();
        }
        if (cfg.stepDelayMs > 0) {
          await this.host.sleep(cfg.stepDelayMs);
          lastYield = performance.now();
        } else if (performance.now() - lastYield > 30) {
          // Let pause/step messages through even when metrics are sparse.
          await this.host.sleep(0);
          lastYield = performance.now();
        }
      }
      if (run.finished) {
        this.emitStatus('done');
        this.host.emit({ type: 'done', result: await run.result(this.resultConfig()) });
      } else {
        await this.emitMetrics(true);
        this.emitStatus('paused');
      }
    })();
    // A failure inside the loop (a lost device, out of memory) is not a reply to any request: report it as an event-level error.
    this.loop.catch((e) => this.host.fail?.(e));
  }

  private async stopLoop(): Promise<void> {
    if (!this.loop) return;
    this.stopRequested = true;
    try {
      await this.loop;
    } finally {
      this.loop = null;
    }
  }

  private async resume(): Promise<{ status: string }> {
    const run = this.requireRun();
    if (this.loop) return { status: 'running' };
    if (run.finished) return { status: 'done' };
    this.startLoop();
    return { status: 'running' };
  }

  private async stepBy(count: number, config?: RunConfig): Promise<{ status: string; step: number }> {
    if (!Number.isInteger(count) || count < 1 || count > 10_000) throw new EngineInputError('step count must be a whole number in 1..10000');
    if ((!this.run || this.run.finished) && config) {
      await this.start(config);
      await this.stopLoop();
    }
    const run = this.requireRun();
    await this.stopLoop();
    for (let i = 0; i < count && !run.finished; i++) run.stepOnce();
    await this.emitMetrics(true);
    const status = run.finished ? 'done' : 'paused';
    this.emitStatus(status);
    if (run.finished) this.host.emit({ type: 'done', result: await run.result(this.resultConfig()) });
    return { status, step: run.step };
  }

  private async resetRun(): Promise<void> {
    await this.stopLoop();
    this.run?.dispose();
    this.run = null;
  }

  /** Per-sample rows travel with every 10th metrics event and at the end: the page shows them when paused. */
  private async emitMetrics(withSamples = false): Promise<void> {
    const run = this.requireRun();
    const { entry, samples } = await run.record();
    const every = (this.runConfig?.metricsEvery ?? 1) * 10;
    const include = withSamples || run.finished || run.step % every === 0;
    this.host.emit({ type: 'metrics', entry, samples: include ? samples : undefined });
  }

  private emitStatus(status: 'running' | 'paused' | 'done'): void {
    const run = this.run;
    this.host.emit({ type: 'status', status, step: run?.step ?? 0, totalSteps: run?.options.steps ?? 0 });
  }

  private resultConfig(): Record<string, unknown> {
    const sc = this.scenario?.info;
    const d = this.defence;
    return {
      scenario: sc?.id,
      scenarioTitle: sc?.title,
      sae: sc?.sae.name,
      clamp: d ? { ...d.clamp, description: describeClamp(d.clamp) } : undefined,
      positions: d?.positions,
      backend: tf.getBackend(),
    };
  }

  // ---- analyses ------------------------------------------------------------------------------------

  private async jacobian(): Promise<JacobianAnalysis> {
    return jacobianAnalysis(this.requireSite());
  }

  private async replay(topK: number): Promise<ReplayRow[]> {
    const run = this.requireRun();
    const site = this.requireSite();
    const raw = await run.deltaValues();
    const delta = tf.tidy(() => tf.broadcastTo(tf.tensor3d(raw, run.deltaShape), [site.n, site.p, site.d]) as Tensor3D);
    try {
      const rows = await recoveryPathReplay(site, delta, topK);
      return rows.map(({ part, recovered, validFlips, rate, normShare }) => ({ part, recovered, validFlips, rate, normShare }));
    } finally {
      delta.dispose();
    }
  }

  /** Re-run the current configuration at each budget (to completion, no live metrics). */
  private async budgetSweep(budgets: number[]): Promise<BudgetSweepRow[]> {
    const site = this.requireSite();
    const base = this.run?.options ?? resolveOptions({ ...this.requireScenario().info.defaults.options, ...this.runConfig?.options });
    if (!budgets.length || budgets.length > 20) throw new EngineInputError('give between 1 and 20 budgets');
    const rows: BudgetSweepRow[] = [];
    for (const budget of budgets) {
      const run = await RecoveryRun.create(site, { ...base, budget });
      try {
        for (let i = 0; i < run.options.steps; i++) {
          run.stepOnce();
          if (i % 10 === 9) await this.host.sleep(0);
        }
        const a = (await run.result()).aggregate;
        rows.push({ budget, recoveryRate: a.recoveryRate, recovered: a.recovered, validFlips: a.validFlips, meanRelDrift: a.meanRelDrift, meanAbsDrift: a.meanAbsDrift });
        this.host.emit({ type: 'notice', message: `budget sweep: ρ = ${budget} done` });
      } finally {
        run.dispose();
      }
    }
    return rows;
  }

  async dispose(): Promise<void> {
    await this.resetRun();
    this.disposeDefence();
    this.scenario?.dispose();
    this.scenario = null;
  }
}

/** Mean activation over real tokens and log10 firing density, per feature (chunked over samples). */
async function featureStats(sae: Sae, h: Tensor3D, mask: Float32Array): Promise<{ meanActivation: Float32Array; logDensity: Float32Array }> {
  const [n, t, d] = h.shape;
  const m = sae.dSae;
  const chunk = Math.max(1, Math.floor(2_000_000 / Math.max(1, t * m)));
  const maskT = tf.tensor2d(mask, [n * t, 1]);
  let sum = tf.zeros([m]);
  let fired = tf.zeros([m]);
  for (let start = 0; start < n; start += chunk) {
    const size = Math.min(chunk, n - start);
    const [s2, f2] = tf.tidy(() => {
      const z = tf.reshape(sae.encode(tf.slice(h, [start, 0, 0], [size, t, d])), [size * t, m]);
      const w = tf.slice(maskT, [start * t, 0], [size * t, 1]);
      return [tf.add(sum, tf.sum(tf.mul(z, w), 0)), tf.add(fired, tf.sum(tf.mul(tf.step(z), w), 0))];
    });
    tf.dispose([sum, fired]);
    sum = s2;
    fired = f2;
  }
  const tokens = mask.reduce((a, b) => a + b, 0);
  const [s, f] = await Promise.all([sum.data(), fired.data()]);
  tf.dispose([sum, fired, maskT]);
  return {
    meanActivation: Float32Array.from(s, (v) => v / tokens),
    logDensity: Float32Array.from(f, (v) => Math.log10(Math.max(v / tokens, 1e-10))),
  };
}
