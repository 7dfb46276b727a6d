// npm run faults -- [--write]
// The fault and reload tests in Chromium (e2e/reliability.spec.ts, WebGPU and fallback projects) with the figures
// each records: where the run stopped and continued, on which backend, how long until it stepped again, how much
// history it kept. --write puts the table in docs/reliability.md, section "Faults and reloads (Chromium)".
import './lib/clean-errors.ts';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeDocSection } from './lib/doc-section.ts';

const { values: a } = parseArgs({ options: { write: { type: 'boolean', default: false } } });
const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'test-results-faults');
const sh = (cmd: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } }).status ?? 1;

rmSync(out, { recursive: true, force: true });
if (sh('bash', ['scripts/ensure-chromium.sh']) !== 0 || sh('npx', ['vite', 'build']) !== 0) process.exit(1);
const status = sh('npx', ['playwright', 'test', 'e2e/reliability.spec.ts', '--project', 'webgpu', '--project', 'fallback'], {
  E2E_OUTPUT: out,
});

const figure = (name: string): Record<string, number | string> | null => {
  const file = path.join(out, 'figures', `${name}.json`);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
};
const d = figure('device-destroyed');
const c = figure('worker-crashed');
const r = figure('reload');
const q = figure('quota');
const na = 'not measured (the test failed)';
const entries = (f: Record<string, number | string>) =>
  f.historyEntries === f.expected ? `${f.historyEntries} entries, none missing` : `${f.historyEntries} of ${f.expected} entries`;
const rows = [
  d
    ? `| WebGPU device destroyed after step 12 (\`destroy-device@12\`) | lost at step ${d.lostAt}, continued from step ${d.from} | ${d.backends} | ${Number(d.secondsToContinue).toFixed(1)} s | ${entries(d)} |`
    : `| WebGPU device destroyed | ${na} | | | |`,
  c
    ? `| engine worker crashed after step 8 (\`worker-crash@8\`) | crashed at step ${c.lostAt}, continued from step ${c.from} | ${c.backends} (a new worker) | ${Number(c.secondsToContinue).toFixed(1)} s | ${entries(c)} |`
    : `| engine worker crashed | ${na} | | | |`,
  r
    ? `| page reloaded mid-run (150 steps), then reloaded again | step ≥ ${r.shownBeforeReload} shown before the reload, restored paused at step ${r.restoredAt} | same | on play | ${entries(r)} |`
    : `| page reloaded mid-run | ${na} | | | |`,
  q
    ? `| storage quota of ${q.quotaBytes} byte | ${q.alerts} messages (the run in progress, the finished run), nothing saved, the result exported | — | — | the whole run on the page |`
    : `| storage full | ${na} | | | |`,
];
process.stdout.write(`${rows.join('\n')}\n`);
if (a.write) {
  const section = `## Faults and reloads (Chromium)

Each fault is injected for real in the built app (\`?fault=KIND@STEP\`, \`e2e/reliability.spec.ts\`) on the probe
example (30 steps, or 150 for the reload): the WebGPU device (SwiftShader) is destroyed with \`GPUDevice.destroy()\`,
the engine worker dies of an uncaught error, the page is reloaded, the storage quota is set to one byte
(Chromium's \`Storage.overrideQuotaForOrigin\`). "Continued" is the step the run went on from (the last step it
had completed: snapshots go to the page after every step); "history" counts the recorded steps in the exported
result, each checked present from step 0 to the end; "time" runs from the notice to the first step after it.

| fault | where the run stopped and went on | backend | time to continue | history |
| --- | --- | --- | ---: | --- |
${rows.join('\n')}

${new Date().toISOString().slice(0, 10)}, Debian's Chromium, headless. Regenerate with \`npm run faults -- --write\`. The Node
test \`src/engine/faults.test.ts\` checks the numbers: a run stopped by a lost device and continued in a fresh
session ends with exactly the uninterrupted run's history, per-sample results and aggregate.
`;
  writeDocSection(path.join(root, 'docs/reliability.md'), 'Reliability', '## Faults and reloads (Chromium)', section);
  process.stdout.write('wrote docs/reliability.md\n');
}
process.exit(status);
