// The defence matrix's cost (docs/defences.md): `unclamp defences` on one built-in scenario, by default IOI over 5
// seeds with every defence and mode, timed, with its peak memory. Prints only; writes nothing.
//   npm run bench:defences [-- --scenario ioi --seeds 5 --modes none,encoder,jacobian --defences clamp,reclamp
//                             --budgets 0.25,0.5,1,2 --steps N --backend wasm --threads N]
import '../scripts/lib/clean-errors.ts';
import { parseArgs } from 'node:util';
import { tf } from '../src/core/tf.ts';
import { DEFENCE_IDS } from '../src/core/defence-kinds.ts';
import { PROJECTION_MODES } from '../src/core/options.ts';
import type { NodeBackend } from '../src/engine/node-backend.ts';
import { DEFAULT_BUDGET_MULTIPLES, DEFAULT_LAMBDA_DETECT } from '../src/scenarios/defence-matrix.ts';
import { matrixWork, planDefences, runPlan, runPlanInWorkers } from '../src/cli/defences.ts';
import { startBenchBackend, THREADS_OPTION } from './node-host.ts';
import { printTable } from './results.ts';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'ioi' },
    seeds: { type: 'string', default: '5' },
    modes: { type: 'string', default: PROJECTION_MODES.join(',') },
    defences: { type: 'string', default: DEFENCE_IDS.join(',') },
    budgets: { type: 'string', default: DEFAULT_BUDGET_MULTIPLES.join(',') },
    steps: { type: 'string' },
    backend: { type: 'string', default: 'wasm' },
    // Seeds at once in worker processes (each its own wasm instance and core); 1 runs in this process.
    jobs: { type: 'string', default: '2' },
    ...THREADS_OPTION,
  },
});

const plan = planDefences({
  scenario: values.scenario,
  seeds: values.seeds,
  modes: values.modes,
  defences: values.defences,
  budgets: values.budgets,
  lambdaDetect: DEFAULT_LAMBDA_DETECT,
  steps: values.steps === undefined ? undefined : Number(values.steps),
});
for (const n of plan.notes) console.error(n);
const got = await startBenchBackend(values.backend as NodeBackend, values.threads, { smallModel: true });

const peak = { rss: 0, heapUsed: 0, external: 0 };
const sample = () => {
  const m = process.memoryUsage();
  peak.rss = Math.max(peak.rss, m.rss);
  peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
  peak.external = Math.max(peak.external, m.external + m.arrayBuffers);
};
const timer = setInterval(sample, 100);
const work = matrixWork(plan);
const jobs = Math.min(Number(values.jobs), plan.seeds.length);
const started = performance.now();
let done = 0;
const matrix =
  jobs > 1
    ? await runPlanInWorkers(plan, jobs, { backend: values.backend as NodeBackend, threads: 1 }, (seed, s) =>
        console.error(`${((performance.now() - started) / 1000).toFixed(1)} s  seed ${seed} done (${s.toFixed(1)} s)`),
      )
    : await runPlan(plan, (what) => {
        sample();
        console.error(`${((performance.now() - started) / 1000).toFixed(1)} s  ${++done}/${work.messages}  ${what}`);
      });
const wallS = (performance.now() - started) / 1000;
clearInterval(timer);
sample();
const mib = (b: number) => (b / 2 ** 20).toFixed(0);
// The kernel's high-water mark catches a peak between two samples.
const maxRss = Math.max(peak.rss, process.resourceUsage().maxRSS * 1024);

console.log(
  `\ndefence matrix on ${plan.scenario}, ${tf.getBackend()}, ${jobs > 1 ? `${jobs} worker processes of 1 thread` : `${got.threads} thread(s)`} (Node ${process.version}): ` +
    `${plan.seeds.length} seed(s), modes ${plan.modes.join(', ')}, ${plan.defences.length} defence(s), budgets ${plan.budgets.join(', ')}` +
    `${plan.settings.steps ? `, ${plan.settings.steps} steps` : ''}\n`,
);
printTable(
  ['wall s', 'optimiser runs', 'ms per run', 'peak RSS MiB', 'peak JS heap MiB', 'peak buffers MiB', 'cells', 'valid flips (Σ cells)'],
  [
    [
      wallS.toFixed(1),
      String(work.runs),
      ((wallS * 1000) / work.runs).toFixed(0),
      // With workers the peaks are theirs, which this process cannot read.
      jobs > 1 ? 'in workers' : mib(maxRss),
      jobs > 1 ? 'in workers' : mib(peak.heapUsed),
      jobs > 1 ? 'in workers' : mib(peak.external),
      String(matrix.cells.length),
      String(matrix.cells.reduce((a, c) => a + c.validFlips, 0)),
    ],
  ],
);
console.log(
  '\nms per run: the wall time over the optimiser runs (each with its evaluation; the cost forwards and loads included; with workers, wall time of the whole, so per run it is shared between the cores).',
);
