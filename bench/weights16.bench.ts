// The 16-bit weight products (src/model/weights16.ts, WebGPU kernels in src/engine/webgpu-matmul16.ts) against
// TF.js's float32 matMul on the same backend, in Chromium's WebGPU: x · W and y · Wᵀ at a gemma-2-2b MLP weight's
// shapes, at reduced width and at full width (and, asked for, the tied embedding: 8x256000x2304, dy · E and x · Eᵀ,
// whose float32 copy fits no binding). Prints ms per call and the weight's bytes; records nothing.
//   npx tsx bench/weights16.bench.ts [--shapes 40x576x2304,40x2304x9216] [--reps 5] [--warmup 2]
// Shapes are R x rows x cols for a stored W [rows, cols]: x [R, rows] · W and y [R, cols] · Wᵀ. Here Chromium's
// WebGPU is SwiftShader (on the CPU): the figures say nothing about a GPU's, only that the kernels run and what they
// cost there.
import '../scripts/lib/clean-errors.ts';
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from '@playwright/test';
import type { BenchCase, BenchResult } from '../e2e/support/kernels16/main.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH, WEBGPU_ARGS } from '../scripts/lib/chromium.ts';
import { freePort, startVite } from '../scripts/lib/vite-server.ts';

const { values: a } = parseArgs({
  options: {
    shapes: { type: 'string', default: '40x576x2304,40x2304x9216' },
    reps: { type: 'string', default: '5' },
    /** Untimed calls before the timed ones (0: the first call's pipeline compilation is timed too). */
    warmup: { type: 'string', default: '2' },
  },
});
const root = path.resolve(import.meta.dirname, '..');
if (spawnSync('bash', ['scripts/ensure-chromium.sh'], { cwd: root, stdio: 'inherit' }).status !== 0) process.exit(1);

const cases: BenchCase[] = a.shapes!.split(',').map((s) => {
  const [R, rows, cols] = s.split('x').map(Number);
  return { R, rows, cols, reps: Number(a.reps), warmup: Number(a.warmup) };
});

type Api = { start(): Promise<Record<string, unknown>>; bench(c: BenchCase): Promise<BenchResult> };

const { server, url } = await startVite(await freePort(), [], 180);
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...WEBGPU_ARGS] });
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(30 * 60_000);
  await page.goto(`${url}e2e/support/kernels16/index.html`);
  await page.locator('#status').getByText('ready').waitFor({ timeout: 180_000 });
  const env = await page.evaluate(() => (window as unknown as { kernels16: Api }).kernels16.start());
  console.log(`Chromium ${browser.version()}, ${JSON.stringify(env)}`);
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  for (const c of cases) {
    const r = await page.evaluate((c) => (window as unknown as { kernels16: Api }).kernels16.bench(c), c);
    const row = (what: string, ms16: number, ms32: number | undefined) =>
      `  ${what.padEnd(30)} 16-bit ${ms16.toFixed(2).padStart(9)} ms   float32 ${
        ms32 === undefined
          ? 'does not fit one binding'
          : `${ms32.toFixed(2).padStart(9)} ms   (16-bit ${(ms32 / ms16).toFixed(2)}× as fast)`
      }`;
    console.log(
      `W [${r.rows}, ${r.cols}], R = ${r.R}, ${r.reps} timed calls each after ${r.warmup} untimed (load average ${loadavg()[0].toFixed(1)}):`,
    );
    console.log(row(`x [${r.R}, ${r.rows}] · W`, r.ms16.forward, r.ms32?.forward));
    console.log(row(`y [${r.R}, ${r.cols}] · Wᵀ`, r.ms16.transposed, r.ms32?.transposed));
    console.log(`  weight memory: 16-bit ${mb(r.bytes16)} (${r.chunks} chunk${r.chunks > 1 ? 's' : ''}), float32 ${mb(r.bytes32)}`);
  }
} finally {
  await browser.close();
  server.kill();
}
