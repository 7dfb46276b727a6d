// npm run soak:browser -- [--steps 2000] [--cycles 50] [--backend webgl|wasm] [--write]
// The Chromium soak (e2e/soak.spec.ts) at full length: builds the app, runs the spec in the fallback project
// with the step and cycle counts given, prints the readings, and with --write puts them in docs/reliability.md,
// section "Soak (Chromium)". Exits with the spec's status (it fails when tensors or tensor bytes grow).
import './lib/clean-errors.ts';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatBytes } from '../src/core/format.ts';
import { writeDocSection } from './lib/doc-section.ts';

const { values: a } = parseArgs({
  options: {
    steps: { type: 'string', default: '2000' },
    cycles: { type: 'string', default: '50' },
    backend: { type: 'string' },
    write: { type: 'boolean', default: false },
  },
});
const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'test-results-soak');
const sh = (cmd: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } }).status ?? 1;

if (sh('bash', ['scripts/ensure-chromium.sh']) !== 0 || sh('npx', ['vite', 'build']) !== 0) process.exit(1);
const status = sh('npx', ['playwright', 'test', 'e2e/soak.spec.ts', '--project', 'fallback'], {
  E2E_SOAK_STEPS: a.steps!,
  E2E_SOAK_CYCLES: a.cycles!,
  E2E_OUTPUT: out,
  ...(a.backend ? { E2E_SOAK_BACKEND: a.backend } : {}),
});

interface Summary {
  steps: number;
  cycles: number;
  backend: string;
  runSeconds: number;
  chromium: string;
  readings: { phase: string; at: number; tensors: number; bytes: number; pageHeapMB: number | null }[];
}
const s = JSON.parse(readFileSync(path.join(out, 'soak-chromium.json'), 'utf8')) as Summary;
if (a.write) {
  const rows = s.readings.map(
    (r) => `| ${r.phase} | ${r.at} | ${r.tensors} | ${r.bytes.toLocaleString('en')} (${formatBytes(r.bytes)}) | ${r.pageHeapMB ?? 'n/a'} |`,
  );
  const section = `## Soak (Chromium)

${s.steps.toLocaleString('en')} recovery steps of the built-in IOI scenario in the playground (Debian's Chromium, headless, the
${s.backend} backend), then ${s.cycles} start/reset cycles from the keyboard (each run takes at least 4 steps before the
reset), with what the engine worker holds read from the page's memory readout (\`data-tensors\`, \`data-bytes\`)
and the page's own JS heap. While the run goes and over the cycles, tensor count and bytes must not change
(\`e2e/soak.spec.ts\` fails otherwise); a finished run holds one tensor more until the next run or reset. CI runs
the short form (120 steps, 6 cycles) in \`npm test\`.

| phase | step / cycle | tensors | tensor bytes | page JS heap MB |
| --- | ---: | ---: | ---: | ---: |
${rows.join('\n')}

${new Date().toISOString().slice(0, 10)}, ${s.chromium}, ${s.steps.toLocaleString('en')} steps in ${s.runSeconds.toFixed(0)} s (${(s.steps / s.runSeconds).toFixed(1)} steps/s, snapshots after every step; 1-minute load average at the end ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores: the speed is not a benchmark).
Regenerate with \`npm run soak:browser -- --write\`.
`;
  writeDocSection(path.join(root, 'docs/reliability.md'), 'Reliability', '## Soak (Chromium)', section);
  process.stdout.write('wrote docs/reliability.md\n');
}
process.exit(status);
