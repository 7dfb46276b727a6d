// The benchmark levels on WebGPU through Dawn in Node: the `webgpu` npm package is Dawn (the WebGPU implementation
// inside Chromium) built as a Node addon, so TF.js's webgpu backend runs the same WGSL kernels on the same Dawn as
// in the page, without a browser. This is how level c gets measured on a GPU machine where Chromium cannot be
// installed (one with no package registry, where Chromium with its libraries is more than can be copied over);
// without a GPU it runs on SwiftShader through Chromium's Vulkan ICD, which only checks that it works. Records get runner 'dawn' and the adapter in their notes.
//   npm install --no-save webgpu@0.6.2      (not a dependency: 51 MB of prebuilt addons for every platform)
//   npm run bench:dawn [-- --levels a,b,c --steps 5 --n 64 --modes none --flags NAME=VALUE --profile --out FILE]
// Level d (--levels d, not in the default list): the gemma-2-2b-shaped step of bench/families.ts, at full size by
// default (--size reduced for SwiftShader), 24 × 40, bfloat16 weights kept 16-bit on the device (the 16-bit
// kernels of src/engine/webgpu-matmul16.ts); ms per step, peak tensor memory (between steps and within one), and
// the memory plan's figure beside them.
// With no GPU: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (Debian's chromium package).
import '../scripts/lib/clean-errors.ts';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { ProjectionMode } from '../src/core/options.ts';
import { benchGemmaStep, GEMMA_DEFAULTS, type GemmaSize, type StepVariant } from './families.ts';
import { benchGpt2Step, benchProbe, benchScenarios, GPT2_DEFAULTS, PROBE_DEFAULTS, SCENARIO_DEFAULTS } from './levels.ts';
import { nodeHost } from './node-host.ts';
import { type BenchLevel, type BenchRecord, OUT_OPTION, writeRecords } from './results.ts';

const { values } = parseArgs({
  options: {
    levels: { type: 'string', default: 'a,b,c' },
    steps: { type: 'string' },
    n: { type: 'string', default: String(GPT2_DEFAULTS.n) },
    // Level d: the gemma-2-2b-shaped step's size (full, reduced) and prompts.
    size: { type: 'string', default: 'full' },
    'd-n': { type: 'string', default: String(GEMMA_DEFAULTS.n) },
    'd-variants': { type: 'string', default: GEMMA_DEFAULTS.variants.join(',') },
    modes: { type: 'string' },
    // TF.js environment flags for an experiment, e.g. WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=64 (named in the notes).
    flags: { type: 'string' },
    // Level c: also one step under the profiler, with the kernels' device time (timestamp queries, which Dawn
    // gives only with its unsafe APIs allowed).
    profile: { type: 'boolean', default: false },
    ...OUT_OPTION,
  },
});

interface Dawn {
  create(flags: string[]): { requestAdapter(o?: object): Promise<GpuAdapter | null> };
  globals: Record<string, unknown>;
}
interface GpuAdapter {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
}

let dawn: Dawn;
let dawnVersion = '';
// A name in a variable: the package is optional, so the type checker must not look for it.
const DAWN_PACKAGE = 'webgpu';
try {
  dawn = (await import(DAWN_PACKAGE)) as Dawn;
  dawnVersion = (createRequire(import.meta.url)(`${DAWN_PACKAGE}/package.json`) as { version: string }).version;
} catch (e) {
  console.error(`The webgpu package (Dawn for Node) is not installed: npm install --no-save webgpu@0.6.2\n(${(e as Error).message})`);
  process.exit(2);
}
Object.assign(globalThis, dawn.globals);
const gpu = dawn.create(values.profile ? ['enable-dawn-features=allow_unsafe_apis'] : []);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
if (!adapter) {
  console.error('Dawn found no WebGPU adapter: no Vulkan driver (set VK_ICD_FILENAMES to a Vulkan ICD, e.g. SwiftShader).');
  process.exit(2);
}
// TF.js's webgpu backend registers itself when its module loads, and only if navigator.gpu exists then (Node 20
// has no navigator; Node 21+ has one without gpu): set it first, then load TF.js.
Object.defineProperty(globalThis, 'navigator', { value: { ...(globalThis.navigator ?? {}), gpu }, configurable: true });
await import('@tensorflow/tfjs');
await import('@tensorflow/tfjs-backend-webgpu');
const { tf } = await import('../src/core/tf.ts');
tf.env().set('PROD', true);
if (!(await tf.setBackend('webgpu'))) {
  console.error('the TF.js webgpu backend did not initialise on Dawn');
  process.exit(2);
}
await tf.ready();
// As the page does (src/engine/browser-backend.ts); --flags TF_UPLOADS=1 measures TF.js's own uploads instead.
const { patchWebGpuUploads } = await import('../src/engine/webgpu-uploads.ts');
// The 16-bit weight kernels (level d keeps gemma's matrices in bfloat16), as the page's worker registers them.
await import('../src/engine/webgpu-matmul16.ts');
const flags = (values.flags ?? '').split(',').filter(Boolean);
for (const f of flags) {
  const [name, value] = f.split('=');
  if (name !== 'TF_UPLOADS') tf.env().set(name, value === 'true' ? true : value === 'false' ? false : Number(value));
}
if (!flags.includes('TF_UPLOADS=1') && !patchWebGpuUploads(tf.backend())) console.error('uploads not patched: TF.js internals differ');

/**
 * What one small kernel costs: a chain of 1,000 element-wise adds on 768 floats, which no GPU needs more than a
 * few microseconds for, so the figure is the fixed cost of a dispatch (TF.js's bookkeeping, the WebGPU calls).
 */
async function dispatchMicroseconds(): Promise<number> {
  const x = tf.ones([768]);
  const chain = () => {
    let y = x;
    for (let k = 0; k < 1000; k++) {
      const next = tf.add(y, 1e-3);
      if (y !== x) y.dispose();
      y = next;
    }
    return y;
  };
  const warm = chain();
  await warm.data();
  const t0 = performance.now();
  const timed = chain();
  await timed.data();
  const us = performance.now() - t0; // ms for 1,000 kernels = µs per kernel
  tf.dispose([x, warm, timed]);
  return us;
}
const dispatchUs = await dispatchMicroseconds();

const i = adapter.info ?? {};
const adapterName = [i.description || i.device, i.vendor && `(${i.vendor}${i.architecture ? `, ${i.architecture}` : ''})`]
  .filter(Boolean)
  .join(' ');
const notes = [
  `Node ${process.version} + Dawn (npm webgpu ${dawnVersion}); adapter: ${adapterName || 'unknown'}; ${os.cpus().length} CPU cores`,
  `one small kernel ${dispatchUs.toFixed(0)} µs (1,000 chained adds)`,
  `1-min load average ${os.loadavg()[0].toFixed(2)} at start`,
  ...(flags.length ? [`flags ${flags.join(', ')}`] : []),
].join('; ');
console.error(notes);

const num = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Number(v));
const modes = values.modes?.split(',') as ProjectionMode[] | undefined;
const levels = values.levels!.split(',') as BenchLevel[];
for (const level of levels) {
  let records: BenchRecord[];
  if (level === 'a')
    records = await benchProbe(nodeHost, {
      ...PROBE_DEFAULTS,
      steps: num(values.steps, PROBE_DEFAULTS.steps),
      modes: modes ?? PROBE_DEFAULTS.modes,
    });
  else if (level === 'b')
    records = await benchScenarios(nodeHost, { ...SCENARIO_DEFAULTS, steps: num(values.steps, SCENARIO_DEFAULTS.steps) });
  else if (level === 'd')
    records = await benchGemmaStep(nodeHost, {
      ...GEMMA_DEFAULTS,
      size: values.size as GemmaSize,
      n: num(values['d-n'], GEMMA_DEFAULTS.n),
      steps: num(values.steps, GEMMA_DEFAULTS.steps),
      modes: modes ?? GEMMA_DEFAULTS.modes,
      variants: values['d-variants']!.split(',') as StepVariant[],
      profile: values.profile,
    });
  else
    records = await benchGpt2Step(nodeHost, {
      ...GPT2_DEFAULTS,
      n: num(values.n, GPT2_DEFAULTS.n),
      steps: num(values.steps, GPT2_DEFAULTS.steps),
      modes: modes ?? GPT2_DEFAULTS.modes,
      profile: values.profile,
    });
  const tagged = records.map((r) => ({ ...r, runner: 'dawn' as const, notes }));
  for (const r of tagged)
    console.log(
      `${r.level} ${r.case} | ${r.impl} | ${r.mode}: ${r.failed ? `failed: ${r.failed}` : `${r.msPerStep.toFixed(2)} ms/step, peak ${r.peakMB} MB`}`,
    );
  writeRecords(level, tagged, values.out, 'dawn');
}
// The summary of what ran, for a caller that keeps only the output (a remote machine's captured log).
console.log(JSON.stringify({ notes, levels, file: values.out, results: JSON.parse(readFileSync(values.out!, 'utf8')).length }));
process.exit(0);
