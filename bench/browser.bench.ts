// The benchmark levels in Chromium: builds the bench page (bench/browser/, its own Vite config) into its own folder,
// serves it with `vite preview` (which sends COOP/COEP, so wasm gets its multi-threaded build) on a free port, and
// drives Debian's Chromium through that page (bench/browser/BenchPage.tsx), one page per level and backend. The page's worker runs the same
// bodies as the Node scripts (bench/levels.ts). Records go to bench/results.json with runner "chromium" (the Node
// and PyTorch records stay), and the notes say which Chromium, adapter and cores, and the machine's load average.
//   npm run bench:browser [-- --levels a,b,c --backends webgpu,webgl,wasm --steps N --no-build --wait-load 1.0]
// Level d (not in the default --levels: the gemma-2-2b-shaped step, bench/families.ts) at reduced width by default,
// with 16-bit weights on WebGPU and float32 elsewhere: --levels d --backends webgpu,wasm [--query 'size=full'].
// Level c at 64 prompts may not fit a backend's memory: that is a failed record with the error, and the level
// runs again at --small-n prompts (ms per step compare per prompt, bench/record.ts's perPromptRatio).
import '../scripts/lib/clean-errors.ts';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Browser, chromium } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH, WEBGPU_ARGS } from '../scripts/lib/chromium.ts';
import { freePort, startVite, viteBuild } from '../scripts/lib/vite-server.ts';
import type { BackendName } from '../src/engine/protocol.ts';
import type { BenchOutcome } from './browser/protocol.ts';
import { GEMMA_DEFAULTS, type GemmaSize, gemmaCase } from './families.ts';
import { failedRecord, GPT2_DEFAULTS, gpt2Case, PROBE_DEFAULTS, probeCase } from './levels.ts';
import { type BenchLevel, type BenchRecord, printTable, OUT_OPTION, writeRecords } from './results.ts';

const { values: a } = parseArgs({
  options: {
    levels: { type: 'string', default: 'a,b,c' },
    backends: { type: 'string', default: 'webgpu,webgl,wasm' },
    /** Timed steps for every level (default: each level's own). */
    steps: { type: 'string' },
    /** Level c's smaller prompt count, run where 64 prompts fail. */
    'small-n': { type: 'string', default: '16' },
    /** Extra query parameters for the bench page, e.g. "n=8&d=32&m=256&s=4" (level a's sizes). */
    query: { type: 'string', default: '' },
    'out-dir': { type: 'string', default: 'dist-bench-browser' },
    'no-build': { type: 'boolean', default: false },
    /** Before each page, wait for the 1-minute load average to fall below this (--wait-max seconds in all). */
    'wait-load': { type: 'string' },
    'wait-max': { type: 'string', default: '600' },
    /** Minutes one page (one level on one backend) may take. */
    timeout: { type: 'string', default: '30' },
    ...OUT_OPTION,
  },
});
const root = path.resolve(import.meta.dirname, '..');
const BENCH_CONFIG = 'bench/browser/vite.config.ts';
// Absolute: Vite resolves a relative --outDir against the bench config's root, bench/browser/.
const outDir = path.resolve(root, a['out-dir']!);
const levels = a.levels!.split(',') as BenchLevel[];
const backends = a.backends!.split(',') as BackendName[];

const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status ?? 1;
if (sh('bash', ['scripts/ensure-chromium.sh']) !== 0) process.exit(1);
if (!a['no-build'] || !existsSync(path.join(outDir, 'index.html')))
  viteBuild(['--config', BENCH_CONFIG, '--outDir', outDir, '--emptyOutDir']);

const load1 = () => loadavg()[0];

// One budget for all the waiting of a run, so a machine that never settles delays it by --wait-max at most.
const until = Date.now() + 1000 * Number(a['wait-max']);

/** Other work on the machine distorts every figure: wait for it to settle (bounded), and say what it was. */
async function settle(): Promise<number> {
  if (a['wait-load'] === undefined) return load1();
  const limit = Number(a['wait-load']);
  while (load1() >= limit && Date.now() < until) {
    console.error(`load average ${load1().toFixed(2)} ≥ ${limit}: waiting`);
    await new Promise((r) => setTimeout(r, 15_000));
  }
  return load1();
}

interface PageRun {
  level: BenchLevel;
  backend: BackendName;
  params: Record<string, string>;
}

/** What a whole page stands for when it returns no record of its own (the worker or the renderer died). */
function pageFailure(run: PageRun, error: string): BenchRecord {
  const q = run.params;
  const caseName =
    run.level === 'a'
      ? probeCase({
          ...PROBE_DEFAULTS,
          n: Number(q.n ?? PROBE_DEFAULTS.n),
          d: Number(q.d ?? PROBE_DEFAULTS.d),
          m: Number(q.m ?? PROBE_DEFAULTS.m),
          s: Number(q.s ?? PROBE_DEFAULTS.s),
        })
      : run.level === 'b'
        ? 'built-in scenarios'
        : run.level === 'd'
          ? gemmaCase((q.size || GEMMA_DEFAULTS.size) as GemmaSize, Number(q.n ?? GEMMA_DEFAULTS.n), Number(q.t ?? GEMMA_DEFAULTS.t))
          : gpt2Case(Number(q.n ?? GPT2_DEFAULTS.n), Number(q.t ?? GPT2_DEFAULTS.t));
  // A blob: address differs on every run and says nothing.
  const message = error.replace(/blob:\S+?(?=['"\s]|$)/g, 'blob:…');
  return failedRecord({ level: run.level, case: caseName, impl: 'unclamp', backend: run.backend, mode: '—' }, message);
}

async function runPage(browser: Browser, base: string, run: PageRun): Promise<BenchRecord[]> {
  const loadAtStart = await settle();
  // The page accepts levels a–c: level d goes as level c with run=d, which the worker reads first.
  const pageLevel: Record<string, string> = run.level === 'd' ? { level: 'c', run: 'd' } : { level: run.level };
  const query = new URLSearchParams({ ...pageLevel, backend: run.backend, ...run.params });
  const page = await browser.newPage();
  const crashed = new Promise<string>((resolve) => page.on('crash', () => resolve('the page crashed (renderer out of memory?)')));
  page.on('console', (m) => m.type() === 'error' && console.error(`  [page] ${m.text()}`));
  console.error(`\n${run.backend}, level ${run.level}: ${base}?${query}`);
  let last = '';
  const poll = setInterval(async () => {
    const status = await page
      .getByTestId('bench-status')
      .textContent()
      .catch(() => null);
    if (status && status !== last) {
      last = status;
      console.error(`  ${status}`);
    }
  }, 2000);
  try {
    await page.goto(`${base}?${query}`);
    const json = page.getByTestId('bench-json');
    const finished = json.filter({ hasText: /./ }).waitFor({ state: 'attached', timeout: Number(a.timeout) * 60_000 });
    const outcome = await Promise.race([
      finished.then(async () => JSON.parse((await json.textContent()) ?? '') as BenchOutcome),
      crashed.then((error) => ({ status: 'error', error, records: [], env: null }) as unknown as BenchOutcome),
    ]);
    const env = outcome.env;
    const notes = [
      `Chromium ${browser.version()} (headless)`,
      env ? `adapter: ${env.backend.adapter ?? env.backend.name}` : null,
      env ? `navigator.hardwareConcurrency ${env.hardwareConcurrency}` : null,
      env && !env.crossOriginIsolated ? 'not cross-origin isolated' : null,
      `1-min load average ${loadAtStart.toFixed(2)} at start`,
    ]
      .filter(Boolean)
      .join('; ');
    const records = outcome.records.map((r) => ({ ...r, runner: 'chromium' as const, notes }));
    if (outcome.status === 'error') records.push({ ...pageFailure(run, outcome.error ?? 'unknown error'), runner: 'chromium', notes });
    return records;
  } catch (e) {
    const notes = `Chromium ${browser.version()} (headless); 1-min load average ${loadAtStart.toFixed(2)} at start`;
    const message = /Timeout \d+ms exceeded/.test((e as Error).message) ? `did not finish within ${a.timeout} min` : (e as Error).message;
    return [{ ...pageFailure(run, message), runner: 'chromium', notes }];
  } finally {
    clearInterval(poll);
    await page.close().catch(() => {});
  }
}

const steps: Record<string, string> = a.steps ? { steps: a.steps } : {};
const extra = Object.fromEntries(new URLSearchParams(a.query));
const port = await freePort();
const { server } = await startVite(port, ['preview', '--config', BENCH_CONFIG, '--outDir', outDir]);
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...WEBGPU_ARGS] });
const all: BenchRecord[] = [];
try {
  const base = `http://127.0.0.1:${port}/`;
  for (const level of levels) {
    for (const backend of backends) {
      const records: BenchRecord[] = [];
      let params: Record<string, string> = { ...steps, ...extra };
      let got = await runPage(browser, base, { level, backend, params });
      records.push(...got);
      // TF.js's threaded wasm build starts its own workers from blob: scripts; where that fails (the failure is a
      // record of its own), the single-threaded SIMD build is still measured.
      if (backend === 'wasm' && got.every((r) => r.failed)) {
        params = { ...params, wasmThreads: '0' };
        got = await runPage(browser, base, { level, backend, params });
        records.push(...got);
      }
      // 64 prompts of GPT-2 small beside its weights may not fit this backend: the same step on fewer prompts.
      const failed = got.filter((r) => r.failed);
      const small = Number(a['small-n']);
      if (level === 'c' && failed.length && small < Number(params.n ?? GPT2_DEFAULTS.n)) {
        const variants = [...new Set(failed.filter((r) => r.impl.startsWith('unclamp ')).map((r) => r.impl.slice('unclamp '.length)))];
        const retry = { ...params, n: String(small), ...(variants.length ? { variants: variants.join(',') } : {}) };
        records.push(...(await runPage(browser, base, { level, backend, params: retry })));
      }
      // Written per backend, so an interrupted run keeps what it measured.
      writeRecords(level, records, a.out, 'chromium', [backend]);
      all.push(...records);
    }
  }
} finally {
  await browser.close();
  server.kill();
}

console.log(`\nChromium ${CHROMIUM_PATH}\n`);
printTable(
  ['level', 'case', 'impl', 'backend', 'mode', 'ms/step', 'steps/s', 'peak MB'],
  all.map((r) => [
    r.level,
    r.case,
    r.impl,
    r.backend,
    r.mode,
    r.failed ? `failed: ${r.failed.slice(0, 70)}` : r.msPerStep.toFixed(r.msPerStep < 10 ? 2 : 0),
    r.failed ? '—' : r.stepsPerSec.toFixed(2),
    String(r.peakMB || '—'),
  ]),
);
if (all[0]?.notes) console.log(`\n${all[0].notes}`);
