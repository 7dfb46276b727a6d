// The Chromium bench worker: selects exactly the backend asked for (no fallback, so a record's backend is the one
// measured) and runs one level's body from bench/levels.ts, the same code the Node scripts run. The page
// (BenchPage.tsx) starts it and shows what it posts; bench/browser.bench.ts drives the page.
import { selectBackend } from '../../src/engine/browser-backend.ts';
import type { ProjectionMode } from '../../src/core/options.ts';
import type { BuiltinScenarioId } from '../../src/scenarios/catalog.ts';
import {
  type BenchHost,
  benchGpt2Step,
  benchProbe,
  benchScenarios,
  GPT2_DEFAULTS,
  type Gpt2Variant,
  PROBE_DEFAULTS,
  SCENARIO_DEFAULTS,
} from '../levels.ts';
import { benchGemmaStep, GEMMA_DEFAULTS, type GemmaSize, type StepVariant } from '../families.ts';
import type { BenchRecord } from '../record.ts';
import type { BenchMessage, BenchRequest } from './protocol.ts';

const scope = self as unknown as {
  postMessage(m: BenchMessage): void;
  addEventListener(t: 'message', l: (e: MessageEvent) => void): void;
};
const post = (m: BenchMessage) => scope.postMessage(m);

const host: BenchHost = {
  rssMB: () => null,
  readAsset: async (path) => {
    const res = await fetch(new URL(path, new URL(import.meta.env.BASE_URL, self.location.origin)));
    if (!res.ok) throw new Error(`could not load ${path} (HTTP ${res.status})`);
    return new Uint8Array(await res.arrayBuffer());
  },
  progress: (message) => post({ kind: 'progress', message }),
};

/** A number from the query, or the level's default. */
const num = (p: Record<string, string>, key: string, fallback: number) =>
  p[key] !== undefined && p[key] !== '' ? Number(p[key]) : fallback;
const list = <T extends string>(p: Record<string, string>, key: string, fallback: readonly T[]) =>
  (p[key] ? p[key].split(',') : [...fallback]) as T[];

async function runLevel({ level, params: p }: BenchRequest): Promise<BenchRecord[]> {
  // Level d arrives as ?level=c&run=d while the page (BenchPage.tsx) accepts only a, b and c.
  if (level === 'd' || p.run === 'd') {
    const d = GEMMA_DEFAULTS;
    const w16 = p.weights16;
    return benchGemmaStep(host, {
      size: (p.size || d.size) as GemmaSize,
      n: num(p, 'n', d.n),
      t: num(p, 't', d.t),
      steps: num(p, 'steps', d.steps),
      modes: list<ProjectionMode>(p, 'modes', d.modes),
      variants: list<StepVariant>(p, 'variants', d.variants),
      fromHookN: num(p, 'fromHookN', d.fromHookN),
      // weights16=1 / 0: 16-bit or float32 block matrices; default 16-bit where the backend multiplies them natively.
      weights16: w16 === undefined || w16 === '' ? undefined : !['0', 'false'].includes(w16),
    });
  }
  if (level === 'a') {
    const d = PROBE_DEFAULTS;
    return benchProbe(host, {
      n: num(p, 'n', d.n),
      d: num(p, 'd', d.d),
      m: num(p, 'm', d.m),
      s: num(p, 's', d.s),
      steps: num(p, 'steps', d.steps),
      modes: list<ProjectionMode>(p, 'modes', d.modes),
    });
  }
  if (level === 'b')
    return benchScenarios(host, {
      steps: num(p, 'steps', SCENARIO_DEFAULTS.steps),
      scenarios: list<BuiltinScenarioId>(p, 'scenarios', SCENARIO_DEFAULTS.scenarios),
    });
  const d = GPT2_DEFAULTS;
  return benchGpt2Step(host, {
    n: num(p, 'n', d.n),
    t: num(p, 't', d.t),
    steps: num(p, 'steps', d.steps),
    modes: list<ProjectionMode>(p, 'modes', d.modes),
    variants: list<Gpt2Variant>(p, 'variants', d.variants),
    fromHookN: num(p, 'fromHookN', d.fromHookN),
  });
}

scope.addEventListener('message', async (ev: MessageEvent) => {
  const req = ev.data as BenchRequest;
  try {
    // wasmThreads=N: the wasm backend's threads, as the page's ?threads=N (0 or 1: TF.js's single-threaded SIMD
    // build, the driver's fallback); default TF.js's, half the logical cores.
    const threads = req.params.wasmThreads === undefined ? undefined : Math.max(1, Number(req.params.wasmThreads) || 1);
    const backend = await selectBackend([req.backend], { wasmThreads: threads });
    post({
      kind: 'ready',
      env: {
        backend,
        hardwareConcurrency: navigator.hardwareConcurrency,
        crossOriginIsolated: globalThis.crossOriginIsolated === true,
        userAgent: navigator.userAgent,
      },
    });
    for (const record of await runLevel(req)) post({ kind: 'record', record: { ...record, runner: 'chromium' } });
    post({ kind: 'done' });
  } catch (e) {
    post({ kind: 'error', message: (e as Error)?.message ?? String(e) });
  }
});
