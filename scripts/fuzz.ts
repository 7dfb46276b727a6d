// npm run fuzz -- [--runs 10000] [--seed N] [--only NAME] [--write]
// Fuzzes every parser of untrusted input (generators: scripts/test-support/fuzz-cases.ts, shared with scripts/test-support/fuzz.test.ts):
// N cases per parser, counted as ok (a valid parse), input-error (an InputError) or other (anything else: a
// bug), with the slowest case. Exits 1 when any case ends in 'other' or takes over 1 s. --write puts the
// table in docs/reliability.md, section "Fuzzed parsers" (the rest of the file is kept).
import './lib/clean-errors.ts';
import { writeDocSection } from './lib/doc-section.ts';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { initNodeBackend } from '../src/engine/node-backend.ts';
import { describeError, FUZZ_TARGETS, runCase, type FuzzTarget } from './test-support/fuzz-cases.ts';

const { values: a } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    only: { type: 'string' },
    write: { type: 'boolean', default: false },
  },
});

const runs = Number(a.runs);
if (!(Number.isInteger(runs) && runs > 0)) throw new Error(`--runs must be a positive integer, got ${a.runs}`);
const seed = a.seed === undefined ? (Date.now() ^ (Math.random() * 2 ** 31)) | 0 : Number(a.seed);
if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${a.seed}`);
const targets = a.only ? FUZZ_TARGETS.filter((t) => t.name === a.only) : FUZZ_TARGETS;
if (!targets.length) throw new Error(`--only: no parser "${a.only}" (have: ${FUZZ_TARGETS.map((t) => t.name).join(', ')})`);

const SLOW_MS = 1000;
const WARMUP = 20;

interface Row {
  target: FuzzTarget;
  ok: number;
  inputError: number;
  other: number;
  slowestMs: number;
  slowest: string;
  failures: string[];
}

// loadSaeLens uploads the weights it accepts: the cpu backend, as in the unit tests.
await initNodeBackend('cpu');

function fuzz(t: FuzzTarget): Row {
  const row: Row = { target: t, ok: 0, inputError: 0, other: 0, slowestMs: 0, slowest: '', failures: [] };
  // A few untimed cases first, so the slowest case is not the JIT's or a lazy table's first call.
  fc.assert(
    fc.property(t.arbitrary(), (input) => {
      runCase(t, input);
    }),
    { numRuns: WARMUP, seed: seed + 1 },
  );
  let index = 0;
  fc.assert(
    fc.property(t.arbitrary(), (input) => {
      const r = runCase(t, input);
      if (r.outcome === 'ok') row.ok++;
      else if (r.outcome === 'input-error') row.inputError++;
      else {
        row.other++;
        if (row.failures.length < 3) row.failures.push(`case ${index}: ${describeError(r.error)}\n      on ${t.show(input).slice(0, 600)}`);
      }
      if (r.ms > row.slowestMs) {
        row.slowestMs = r.ms;
        row.slowest = t.show(input).slice(0, 160);
      }
      index++;
    }),
    { numRuns: runs, seed },
  );
  return row;
}

const rows: Row[] = [];
const t0 = performance.now();
for (const t of targets) {
  const start = performance.now();
  const row = fuzz(t);
  rows.push(row);
  process.stdout.write(
    `${t.name.padEnd(16)} ${row.ok} ok, ${row.inputError} input-error, ${row.other} other; slowest ${row.slowestMs.toFixed(1)} ms ` +
      `(${((performance.now() - start) / 1000).toFixed(1)} s)\n`,
  );
}
const totalS = (performance.now() - t0) / 1000;

const fmt = (n: number) => n.toLocaleString('en-US');
const table = [
  '| parser | entry point | cases | ok | input-error | other | slowest (ms) |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.target.name} | \`${r.target.entry}\` | ${fmt(runs)} | ${fmt(r.ok)} | ${fmt(r.inputError)} | ${fmt(r.other)} | ${r.slowestMs.toFixed(1)} |`,
  ),
].join('\n');

process.stdout.write(`\n${table}\n\nseed ${seed}, ${fmt(runs)} cases per parser, ${totalS.toFixed(0)} s, Node ${process.version}\n`);
for (const r of rows) {
  if (r.slowestMs > SLOW_MS) process.stdout.write(`\n${r.target.name}: slowest case ${r.slowestMs.toFixed(0)} ms on ${r.slowest}\n`);
  for (const f of r.failures) process.stdout.write(`\n${r.target.name}: ${f}\n`);
}

const failed = rows.some((r) => r.other > 0 || r.slowestMs > SLOW_MS);

if (a.write) {
  const file = path.resolve(import.meta.dirname, '../docs/reliability.md');
  const date = new Date().toISOString().slice(0, 10);
  const command = `npx tsx scripts/fuzz.ts --runs ${runs} --write`;
  const section = `## Fuzzed parsers

Every parser of untrusted input is fuzzed with hostile inputs: valid files built by our own writers, then
edited where it hurts (header JSON with huge, negative or nested shapes, wrong dtypes, offsets past the end,
duplicate keys, length fields that lie, zip directories that claim too much), byte- and text-level mutations
(bit flips, truncation, inserted and deleted bytes) and arbitrary bytes and strings. Each case must end in
**ok** (a valid parse: the parser's own invariants hold, e.g. a tensor's values fill its shape) or
**input-error** (an \`InputError\` whose message says what is wrong); **other** is anything else (a
TypeError, a stack overflow, an allocation sized by an unchecked claim, an invalid parse returned) and must be
0. URL state is stricter: it never throws, and the config it returns passes its schema, keeps every number
within bounds and survives its own URL form. **slowest** is the slowest single case after a ${WARMUP}-case
warm-up; the run fails above ${fmt(SLOW_MS)} ms. The generators live in \`scripts/test-support/fuzz-cases.ts\`; the unit
tests (\`scripts/test-support/fuzz.test.ts\`) run 1,000 cases per parser on every \`npm test\`.

${table}

${date}, Node ${process.version} on ${os.platform()}/${os.arch()} (${os.cpus().length} cores), seed ${seed}, ${totalS.toFixed(0)} s in all.
Regenerate with \`${command}\` (fresh cases; add \`--seed ${seed}\` to repeat these).
`;
  writeDocSection(file, 'Reliability', '## Fuzzed parsers', section);
  process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
}

process.exit(failed ? 1 : 0);
