// One benchmark record and the arithmetic on it, with no Node APIs: the Node scripts, the Chromium bench worker
// (bench/browser/bench.worker.ts) and the renderer share it. File I/O lives in bench/results.ts.

export type BenchLevel = 'a' | 'b' | 'c' | 'd';

/** What ran the measurement: the Node scripts (with their PyTorch references) or Chromium (bench/browser.bench.ts). */
export type BenchRunner = 'node' | 'chromium' | 'dawn';

export interface BenchRecord {
  /**
   * a: the linear-probe case; b: a built-in scenario end to end; c: a GPT-2-small-shaped IOI step; d: the model
   * families (a gemma-2-2b-shaped step, a pythia-70m-deduped-shaped one: bench/families.ts).
   */
  level: BenchLevel;
  case: string;
  /** What ran: "unclamp onward", "torch paper-pipeline", … (the same names in Node and Chromium, so they line up). */
  impl: string;
  backend: string;
  mode: string;
  msPerStep: number;
  stepsPerSec: number;
  gflopPerStep: number | null;
  gflops: number | null;
  /** Peak tensor memory (TF.js) or peak resident memory (PyTorch), MiB. */
  peakMB: number;
  /** Resident memory of the process, MiB; 0 where the host cannot tell (a browser worker). */
  rssMB: number;
  /** Anything else the level measures (e.g. the metrics read-out's ms). */
  extra?: Record<string, number | string>;
  /** Absent: Node. */
  runner?: BenchRunner;
  /** Set when the case could not run (e.g. out of memory): the error; the timings are then 0. */
  failed?: string;
  /** Where and under what it ran: browser version, adapter, cores, the machine's load average. */
  notes?: string;
}

export const runnerOf = (r: BenchRecord): BenchRunner => r.runner ?? 'node';

export const mib = (bytes: number) => Math.round(bytes / 2 ** 20);

/** The batch a record ran on, from its case ("…, 64×15" → 64 prompts); 1 when the case names none. */
export function promptsOf(r: BenchRecord): number {
  const m = /(\d+)×\d+/.exec(r.case);
  return m ? Number(m[1]) : 1;
}

/** (ms per step and prompt of a) ÷ (that of b): records of different batch sizes compare per prompt. */
export function perPromptRatio(a: BenchRecord, b: BenchRecord): number {
  return a.msPerStep / promptsOf(a) / (b.msPerStep / promptsOf(b));
}

/** A record's GFLOP/s as a share of its backend's matrix-product peak (extra.matmulPeakGflops): "83%", or "—". */
export function percentOfPeak(r: BenchRecord): string {
  const peak = Number(r.extra?.matmulPeakGflops);
  return r.gflops && peak > 0 ? `${Math.round((100 * r.gflops) / peak)}%` : '—';
}
