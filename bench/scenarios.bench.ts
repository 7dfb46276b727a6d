// Each built-in scenario end to end on the built-in model (level b): loading, then one run with the scenario's
// defaults as `unclamp run --scenario ID` does it (optimiser, metrics, extras), and the optimiser step alone with
// B from the hook onward against B on the whole residual (RecoverySite's hookOnward off). The measured body is
// bench/levels.ts's benchScenarios, which Chromium runs too (bench/browser.bench.ts).
//   npm run bench:scenarios [-- --backend wasm --steps 20]
import '../scripts/lib/clean-errors.ts';
import { parseArgs } from 'node:util';
import { tf } from '../src/core/tf.ts';
import type { NodeBackend } from '../src/engine/node-backend.ts';
import { benchScenarios, SCENARIO_DEFAULTS, SCENARIO_IMPLS } from './levels.ts';
import { labelThreads, nodeHost, startBenchBackend, THREADS_OPTION } from './node-host.ts';
import { OUT_OPTION, printTable, writeRecords } from './results.ts';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    steps: { type: 'string', default: String(SCENARIO_DEFAULTS.steps) },
    ...THREADS_OPTION,
    ...OUT_OPTION,
  },
});
const got = await startBenchBackend(values.backend as NodeBackend, values.threads, { smallModel: true });

const records = labelThreads(await benchScenarios(nodeHost, { ...SCENARIO_DEFAULTS, steps: Number(values.steps) }), got);
const what = {
  [SCENARIO_IMPLS.run]: 'run, defaults',
  [SCENARIO_IMPLS.onward]: 'step, onward',
  [SCENARIO_IMPLS.whole]: 'step, whole residual',
} as Record<string, string>;
const rows = records.map((r) => [
  r.case.replace(/^built-in /, ''),
  `${what[r.impl]}${r.extra?.onwardForm === 'no' ? ' (no onward form)' : ''}`,
  String(r.extra?.steps ?? ''),
  r.msPerStep.toFixed(1),
  r.stepsPerSec.toFixed(1),
  r.extra?.loadMs === undefined ? '' : Number(r.extra.loadMs).toFixed(0),
  r.extra?.runMs === undefined ? '' : Number(r.extra.runMs).toFixed(0),
]);
console.log(`\nbuilt-in scenarios on ${tf.getBackend()}, ${got.threads} thread(s) (Node ${process.version})\n`);
printTable(['scenario', 'what', 'steps', 'ms/step', 'steps/s', 'load ms', 'run ms'], rows);
writeRecords('b', records, values.out);
