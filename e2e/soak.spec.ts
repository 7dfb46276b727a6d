// A long run and many start/reset cycles of the built-in IOI scenario in a real Chromium (fallback backend),
// with what the engine worker holds (tensors, tensor bytes, JS heap) read from the page's memory readout at
// the start, middle and end. Tensor count and bytes must stay flat. CI runs a short form; the full one
// (2,000 steps, 50 cycles) is `npm run soak:browser`, which also writes the figures to docs/reliability.md.
import { writeFileSync, mkdirSync } from 'node:fs';
import { expect, type Page, test } from '@playwright/test';
import { openPlayground } from './helpers.ts';

const STEPS = Number(process.env.E2E_SOAK_STEPS ?? 120);
const CYCLES = Number(process.env.E2E_SOAK_CYCLES ?? 6);
const OUT = process.env.E2E_OUTPUT ?? 'test-results';

interface Reading {
  phase: string;
  at: number;
  tensors: number;
  bytes: number;
  pageHeapMB: number | null;
}

const stepOf = async (page: Page) => Number(/step (\d+)/.exec((await page.getByTestId('run-status').textContent()) ?? '')?.[1] ?? -1);

/**
 * The engine's memory readout (it refreshes about once a second and on status changes; callers wait 1.2 s
 * first) and the page's own JS heap (Chromium reports no worker heap to the page).
 */
async function reading(page: Page, phase: string, at: number): Promise<Reading> {
  const el = page.getByTestId('engine-memory');
  const pageHeap = await page.evaluate(
    () => (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? null,
  );
  return {
    phase,
    at,
    tensors: Number(await el.getAttribute('data-tensors')),
    bytes: Number(await el.getAttribute('data-bytes')),
    pageHeapMB: pageHeap === null ? null : Number((pageHeap / 2 ** 20).toFixed(1)),
  };
}

test.describe('soak (fallback backend)', () => {
  test.beforeEach(({ browserName }, info) =>
    test.skip(browserName !== 'chromium' || info.project.name !== 'fallback', 'fallback project only'),
  );
  test.setTimeout(60 * 60_000);

  test(`${STEPS} steps, then ${CYCLES} start/reset cycles: the engine's tensors stay flat`, async ({ page }) => {
    // E2E_SOAK_BACKEND (e.g. wasm): the page's ?backend= choice; default WebGL, asked for by name (the page's own
    // default passes SwiftShader's WebGL over for wasm), whose textures are what a leak would pile up.
    const backendParam = `?backend=${process.env.E2E_SOAK_BACKEND ?? 'webgl'}`;
    await openPlayground(page, `${backendParam}#s=ioi&n=${STEPS}`);
    const readings: Reading[] = [];
    const t0 = Date.now();
    await page.keyboard.press('Space');
    // The first reading once the run has made its optimiser state (after the first recorded steps).
    await expect.poll(() => stepOf(page), { timeout: 120_000 }).toBeGreaterThan(Math.min(20, STEPS / 10));
    await page.waitForTimeout(1200);
    readings.push(await reading(page, 'run: start', await stepOf(page)));
    for (const [phase, share] of [
      ['run: middle', 0.5],
      ['run: near the end', 0.85],
    ] as const) {
      await expect.poll(() => stepOf(page), { timeout: 30 * 60_000, intervals: [500] }).toBeGreaterThanOrEqual(STEPS * share);
      await page.waitForTimeout(1200);
      readings.push(await reading(page, phase, await stepOf(page)));
    }
    await expect(page.getByTestId('result-summary')).toBeVisible({ timeout: 30 * 60_000 });
    await page.waitForTimeout(1200);
    // Shown, not compared: a finished run holds its result's tensors until the next run or reset frees them.
    readings.push(await reading(page, 'done', STEPS));
    const runSeconds = (Date.now() - t0) / 1000;

    // Cycles: start, let it take a few steps, reset.
    await page.keyboard.press('r');
    await expect(page.getByTestId('run-status')).toContainText('ready · step 0');
    const cycle = async () => {
      await page.keyboard.press('Space');
      await expect.poll(() => stepOf(page), { timeout: 60_000, intervals: [50] }).toBeGreaterThanOrEqual(4);
      await page.keyboard.press('r');
      await expect(page.getByTestId('run-status')).toContainText('ready · step 0');
    };
    await cycle(); // kernels and buffers made once
    await page.waitForTimeout(1200);
    readings.push(await reading(page, 'cycles: before', 0));
    for (let i = 1; i <= CYCLES; i++) {
      await cycle();
      if (i === Math.floor(CYCLES / 2) || i === CYCLES) {
        await page.waitForTimeout(1200);
        readings.push(await reading(page, `cycles: after ${i}`, i));
      }
    }
    const backend = await page.getByTestId('backend-name').textContent();
    const chromium = `Chromium ${page.context().browser()?.version()}`;
    const summary = { steps: STEPS, cycles: CYCLES, backend, runSeconds, chromium, readings };
    mkdirSync(OUT, { recursive: true });
    writeFileSync(`${OUT}/soak-chromium.json`, JSON.stringify(summary, null, 2));
    console.table(readings);
    console.log(`${backend}: ${STEPS} steps in ${runSeconds.toFixed(0)} s`);

    const run = readings.filter((r) => r.phase.startsWith('run:'));
    const cycles = readings.filter((r) => r.phase.startsWith('cycles'));
    expect(run.map((r) => [r.tensors, r.bytes])).toEqual(run.map(() => [run[0].tensors, run[0].bytes]));
    expect(cycles.map((r) => [r.tensors, r.bytes])).toEqual(cycles.map(() => [cycles[0].tensors, cycles[0].bytes]));
  });
});
