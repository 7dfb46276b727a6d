// Each built-in scenario end to end on the built-in model (level b): loading, then one run with the scenario's
// defaults as `unclamp run --scenario ID` does it (optimiser, metrics, extras), and the optimiser step alone with
// B from the hook onward against B on the whole residual (RecoverySite's hookOnward off).
//   npm run bench:scenarios [-- --backend wasm --steps 20]
import '../scripts/lib/clean-errors.ts';
import { parseArgs } from 'node:util';
import { tf } from '../src/core/tf.ts';
import { initNodeBackend, type NodeBackend } from '../src/engine/node-backend.ts';
import { RecoveryRun } from '../src/core/recovery.ts';
import { BUILTIN_SCENARIO_IDS, effectiveRun } from '../src/scenarios/catalog.ts';
import { loadScenario } from '../src/scenarios/load.ts';
import { createSite, defaultDefence, runOptions, runScenario } from '../src/scenarios/run.ts';
import { readPublic } from '../src/cli/fs.ts';
import { type BenchRecord, mib, printTable, writeRecords } from './results.ts';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    steps: { type: 'string', default: '20' },
  },
});
const STEPS = Number(values.steps);
const got = await initNodeBackend(values.backend as NodeBackend);
if (got.reason) console.error(got.reason);

const records: BenchRecord[] = [];
const rows: string[][] = [];
for (const id of BUILTIN_SCENARIO_IDS) {
  const l0 = performance.now();
  const sc = await loadScenario({ kind: 'builtin', scenario: id }, readPublic);
  const loadMs = performance.now() - l0;
  const steps = effectiveRun(id).steps;
  let peak = tf.memory().numBytes;
  const sample = () => {
    peak = Math.max(peak, tf.memory().numBytes);
  };
  const r0 = performance.now();
  await runScenario(sc, {}, { onMetrics: sample, afterStep: sample });
  const runMs = performance.now() - r0;
  const base = { level: 'b' as const, case: `built-in ${id}`, backend: tf.getBackend(), gflopPerStep: null, gflops: null };
  records.push({
    ...base,
    impl: 'unclamp run (defaults, end to end)',
    mode: effectiveRun(id).mode,
    msPerStep: runMs / steps,
    stepsPerSec: (1000 * steps) / runMs,
    peakMB: mib(peak),
    rssMB: mib(process.memoryUsage().rss),
    extra: { loadMs, runMs, steps },
  });
  rows.push([
    id,
    'run, defaults',
    String(steps),
    (runMs / steps).toFixed(1),
    ((1000 * steps) / runMs).toFixed(1),
    loadMs.toFixed(0),
    runMs.toFixed(0),
  ]);
  // The optimiser step alone, mode none, B from the hook onward or on the whole residual.
  for (const hookOnward of [true, false]) {
    const site = await createSite(sc, defaultDefence(sc), { hookOnward });
    const run = await RecoveryRun.create(site, runOptions(id, { steps: STEPS + 1, mode: 'none' }));
    run.stepOnce();
    await run.deltaValues();
    peak = tf.memory().numBytes;
    const t0 = performance.now();
    for (let i = 0; i < STEPS; i++) {
      run.stepOnce();
      sample();
    }
    await run.deltaValues();
    const ms = (performance.now() - t0) / STEPS;
    const impl = hookOnward ? 'unclamp step, B from the hook onward' : 'unclamp step, B on the whole residual';
    const usable = hookOnward && sc.behaviour.onward ? '' : hookOnward ? ' (no onward form)' : '';
    records.push({
      ...base,
      impl,
      mode: 'none',
      msPerStep: ms,
      stepsPerSec: 1000 / ms,
      peakMB: mib(tf.memory().numBytes),
      rssMB: mib(process.memoryUsage().rss),
    });
    rows.push([
      id,
      `step, ${hookOnward ? 'onward' : 'whole residual'}${usable}`,
      String(STEPS),
      ms.toFixed(1),
      (1000 / ms).toFixed(1),
      '',
      '',
    ]);
    run.dispose();
    site.dispose();
  }
  sc.dispose();
}
console.log(`\nbuilt-in scenarios on ${tf.getBackend()} (Node ${process.version})\n`);
printTable(['scenario', 'what', 'steps', 'ms/step', 'steps/s', 'load ms', 'run ms'], rows);
writeRecords('b', records);
