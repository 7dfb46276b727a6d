// npm run soak -- [--steps 10000] [--cycles 50] [--write]
// A long run of the built-in IOI scenario on Node's wasm backend and repeated start/reset cycles in the engine
// session (scripts/test-support/soak.ts), with the tensor count, tensor memory and JS heap read at the start, middle and
// end. Exits 1 if the tensor count or tensor memory grows. --write puts the table in docs/reliability.md,
// section "Soak (Node)".
import './lib/clean-errors.ts';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initNodeBackend } from '../src/engine/node-backend.ts';
import { EngineSession } from '../src/engine/session.ts';
import type { EngineEvent } from '../src/engine/protocol.ts';
import { type MemoryReading, soakCycles, soakRun } from './test-support/soak.ts';
import { loadScenario } from '../src/scenarios/load.ts';
import { readPublic } from '../src/cli/fs.ts';
import { nodeSessionHost } from '../src/engine/node-host.ts';
import { printTable } from './lib/table.ts';
import { writeDocSection } from './lib/doc-section.ts';

const { values: a } = parseArgs({
  options: {
    steps: { type: 'string', default: '10000' },
    cycles: { type: 'string', default: '50' },
    write: { type: 'boolean', default: false },
  },
});
const steps = Number(a.steps);
const cycles = Number(a.cycles);
const { backend } = await initNodeBackend('wasm');

const t0 = performance.now();
const sc = await loadScenario({ kind: 'builtin', scenario: 'ioi' }, readPublic);
const run = await soakRun(sc, steps, 5);
sc.dispose();
const events: EngineEvent[] = [];
const session = new EngineSession(nodeSessionHost((e) => events.push(e)));
const info = await session.handle({ type: 'loadScenario', scenario: { kind: 'builtin', scenario: 'ioi' } });
await session.handle({ type: 'setDefence', features: info.defaults.features, clamp: info.defaults.clamp });
await soakCycles(session, events, 1); // kernels and buffers made once
const cyc = await soakCycles(session, events, cycles);
await session.dispose();
const seconds = (performance.now() - t0) / 1000;

const row = (what: string, r: MemoryReading) => [what, String(r.at), String(r.tensors), r.tensorMB.toFixed(2), r.heapMB.toFixed(1)];
// The first reading is at step 0, before the optimiser's state exists; flat means flat from the next one on.
const first = run[1];
const mid = cyc[Math.floor((cyc.length - 1) / 2)];
const rows = [
  row('run: before the first step', run[0]),
  row('run: a quarter in', first),
  row('run: middle', run[Math.floor(run.length / 2)]),
  row('run: end', run[run.length - 1]),
  row('cycles: before', cyc[0]),
  row(`cycles: after ${mid.at}`, mid),
  row(`cycles: after ${cycles}`, cyc[cyc.length - 1]),
];
const header = ['phase', 'step / cycle', 'tensors', 'tensor MB', 'JS heap MB'];
printTable(header, rows);
const flatRun = run.slice(1).every((r) => r.tensors === first.tensors && Math.abs(r.tensorMB - first.tensorMB) < 1e-9);
const flatCycles = cyc.every((r) => r.tensors === cyc[0].tensors);
process.stdout.write(`\n${backend}, ${seconds.toFixed(0)} s; tensors flat over the run: ${flatRun}, over the cycles: ${flatCycles}\n`);

if (a.write) {
  const table = [`| ${header.join(' | ')} |`, '| --- | ---: | ---: | ---: | ---: |', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  const section = `## Soak (Node)

${steps.toLocaleString('en')} recovery steps of the built-in IOI scenario (its defaults, ${steps.toLocaleString('en')} steps long), then ${cycles}
start/reset cycles in the engine session (each run takes at least 4 steps before the reset), on Node's ${backend}
backend. Tensor count and tensor memory must stay flat once the run has started (the optimiser's state and
the run's buffers are made at the first step); the JS heap is shown for information. The unit tests run the
short form (600 steps, 10 cycles, \`scripts/test-support/soak.test.ts\`).

${table}

${new Date().toISOString().slice(0, 10)}, Node ${process.version} on ${os.platform()}/${os.arch()} (${os.cpus().length} cores), ${seconds.toFixed(0)} s.
Regenerate with \`npm run soak -- --write\`. The Chromium soak is the next section.
`;
  writeDocSection(path.resolve(import.meta.dirname, '../docs/reliability.md'), 'Reliability', '## Soak (Node)', section);
  process.stdout.write('wrote docs/reliability.md\n');
}
process.exit(flatRun && flatCycles ? 0 : 1);
