// The playground in a real Chromium: run controls, live charts, responsiveness, URL state, persistence,
// export/import, phone layout and accessibility (faults and reloads mid-run: reliability.spec.ts).
import { readFileSync } from 'node:fs';
import { type BrowserContext, expect, type Page, test } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { openPlayground, points, sampleRowsText, screenshot } from './helpers.ts';

// The page's default backend (wasm where WebGPU is SwiftShader's): what is tested is the page, not the backend.
test.describe('run controls and live charts', () => {
  test.beforeEach(({ browserName }, info) =>
    test.skip(browserName !== 'chromium' || info.project.name !== 'webgpu', 'WebGPU project only'),
  );

  test('choose features, run, watch the charts grow; pause, step and reset behave; the longest main-thread task is measured (under 200 ms)', async ({
    page,
  }, info) => {
    await openPlayground(page, '#s=probe-example&n=40&lr=0.05&b=2&delay=150');
    // Choose features: top-3 by attribution, apply.
    await page.getByLabel('K', { exact: true }).fill('3');
    await page.getByRole('button', { name: 'Select top-K by attribution' }).click();
    await page.getByTestId('apply-defence').click();
    await expect(page.getByTestId('apply-defence')).toContainText('(3)');
    await expect(page.getByTestId('busy')).toHaveCount(0);
    await expect(page.getByTestId('apply-defence')).toBeDisabled(); // applied: nothing left to apply
    await expect(page.getByTestId('defence')).toContainText(/flips \d+ of 48/);
    await screenshot(page, 'ready', info.project.name);

    // Long tasks on the main thread while the run goes (PerformanceObserver 'longtask').
    await page.evaluate(() => {
      (window as unknown as { __long: number[] }).__long = [];
      new PerformanceObserver((list) =>
        list.getEntries().forEach((e) => (window as unknown as { __long: number[] }).__long.push(e.duration)),
      ).observe({ type: 'longtask', buffered: false });
    });
    await page.keyboard.press('Space');
    await expect(page.getByTestId('run-status')).toContainText('running');
    await expect.poll(() => points(page, 'rate'), { timeout: 60_000 }).toBeGreaterThan(3);
    const before = await Promise.all(['rate', 'drift', 'residual'].map((c) => points(page, c)));
    await expect.poll(() => points(page, 'rate'), { timeout: 60_000 }).toBeGreaterThan(before[0] + 2);
    // Each chart redraws on its own staggered beat: each is waited for.
    for (const [i, c] of ['rate', 'drift', 'residual'].entries())
      await expect.poll(() => points(page, c), { timeout: 10_000 }).toBeGreaterThan(before[i]);
    await screenshot(page, 'running', info.project.name);

    // Pause: the step stops moving.
    await page.keyboard.press('Space');
    await expect(page.getByTestId('run-status')).toContainText('paused');
    const stepText = async () => Number(/step (\d+)/.exec((await page.getByTestId('run-status').textContent()) ?? '')![1]);
    const pausedAt = await stepText();
    await page.waitForTimeout(1500);
    expect(await stepText()).toBe(pausedAt);
    // Step: exactly one more.
    await page.keyboard.press('ArrowRight');
    await expect.poll(stepText).toBe(pausedAt + 1);
    // Responsiveness is measured and printed (timings depend on the machine); only a task over 200 ms, a
    // visible freeze far above the 50 ms goal (58–88 ms measured on 2 cores under load), fails the test.
    const longTasks = await page.evaluate(() => (window as unknown as { __long: number[] }).__long);
    const longest = Math.max(0, ...longTasks);
    test.info().annotations.push({
      type: 'longest main-thread task during the run',
      description: `${longest.toFixed(0)} ms (${longTasks.length} tasks over 50 ms)`,
    });
    // The browser reports only tasks over 50 ms: none at all is the goal met.
    console.log(
      longTasks.length
        ? `longest main-thread task during the run: ${longest.toFixed(0)} ms (${longTasks.length} over 50 ms)`
        : 'longest main-thread task during the run: none over 50 ms',
    );
    expect(longest, 'a main-thread task over 200 ms freezes the page').toBeLessThan(200);
    // Reset: back to the start.
    await page.keyboard.press('r');
    await expect(page.getByTestId('run-status')).toContainText('ready · step 0');
    await expect.poll(() => points(page, 'rate')).toBe(0);
  });
});

test.describe('fallback backend', () => {
  test.beforeEach(({ browserName }, info) =>
    test.skip(browserName !== 'chromium' || info.project.name !== 'fallback', 'fallback project only'),
  );

  test('falls back, says why, and still completes the run', async ({ page }, info) => {
    await openPlayground(page, '#s=probe-example&n=25&lr=0.05&b=2');
    await expect(page.getByTestId('backend-name')).not.toHaveText('webgpu');
    await expect(page.getByTestId('backend-reason')).toContainText(/not WebGPU: no adapter/);
    await page.locator('[data-action="toggle-play"]').click();
    await expect(page.getByTestId('result-summary')).toContainText(/Recovered \d+ of \d+ valid flips/, { timeout: 120_000 });
    await screenshot(page, 'fallback-done', info.project.name);
  });

  test('?backend=wasm runs the recovery on WebAssembly in the built page (single-threaded SIMD)', async ({ page }) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await openPlayground(page, '?backend=wasm#s=probe-example&n=8&lr=0.05&b=2');
    await expect(page.getByTestId('backend-name')).toHaveText('wasm');
    await expect(page.getByTestId('backend-badge')).toContainText('1 thread, SIMD');
    await page.locator('[data-action="toggle-play"]').click();
    await expect(page.getByTestId('result-summary')).toContainText(/Recovered \d+ of \d+ valid flips/, { timeout: 120_000 });
    expect(errors).toEqual([]);
  });

  test('?threads=2 runs it on the threaded wasm build, under the CSP, to the one-thread numbers', async ({ browser }, info) => {
    const errors: string[] = [];
    const contexts: BrowserContext[] = [];
    let page!: Page;
    const finish = async (threads: number) => {
      // A context of its own: the page would otherwise restore the first run, saved for this configuration.
      const context = await browser.newContext({ baseURL: info.project.use.baseURL });
      contexts.push(context);
      page = await context.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      await openPlayground(page, `?backend=wasm&threads=${threads}#s=probe-example&n=8&lr=0.05&b=2`);
      await expect(page.getByTestId('backend-badge')).toContainText(`${threads} thread${threads > 1 ? 's' : ''}, SIMD`);
      await expect(page.getByTestId('run-status')).toContainText('step 0');
      await page.locator('[data-action="toggle-play"]').click();
      await expect(page.getByTestId('run-status')).toContainText('done · step 8 / 8', { timeout: 120_000 });
      const summary = page.getByTestId('result-summary');
      await expect(summary).toContainText(/Recovered \d+ of \d+ valid flips/);
      // The table re-renders after the summary (a transition): read it once it shows the summary's count of
      // recovered flips and has stopped changing.
      const recovered = Number(/Recovered (\d+)/.exec((await summary.textContent()) ?? '')?.[1]);
      const table = page.getByTestId('samples-table');
      let last: string | null = null;
      await expect
        .poll(
          async () => {
            const text = await sampleRowsText(table);
            const settled = text === last && (text ?? '').split('✔').length - 1 === recovered;
            last = text;
            return settled;
          },
          { intervals: [500] },
        )
        .toBe(true);
      return [await summary.textContent(), last];
    };
    const one = await finish(1);
    const two = await finish(2);
    await screenshot(page, 'wasm-threads-done', info.project.name);
    for (const c of contexts) await c.close();
    expect(two).toEqual(one);
    expect(errors).toEqual([]);
  });

  test('the URL reproduces the configuration, across a reload', async ({ page }) => {
    await openPlayground(page, '#s=probe-example&f=1.4.7&c=s0&m=none&d=shared&n=17&lr=0.07&b=1.5&seed=3');
    const check = async () => {
      await expect(page.getByTestId('mode-select')).toHaveValue('none');
      await expect(page.getByLabel('Steps')).toHaveValue('17');
      await expect(page.getByLabel('Budget ρ')).toHaveValue('1.5');
      await expect(page.getByLabel('Seed')).toHaveValue('3');
      await expect(page.getByTestId('apply-defence')).toContainText('(3)');
    };
    await check();
    await page.getByTestId('mode-select').selectOption('jacobian');
    await expect(page).toHaveURL(/m=jacobian/);
    await page.reload();
    await expect(page.getByTestId('defence')).toContainText(/flips/, { timeout: 90_000 });
    await expect(page.getByTestId('mode-select')).toHaveValue('jacobian');
    // A broken link falls back field by field and says so.
    await page.goto('/#s=probe-example&n=-4&lr=abc&b=2');
    await expect(page.getByRole('alert')).toContainText(/not valid and were reset/);
    await expect(page.getByLabel('Budget ρ')).toHaveValue('2');
  });

  test('a reload restores the saved run; the JSON export re-imports to the same numbers', async ({ page }, info) => {
    await openPlayground(page, '#s=probe-example&n=15&lr=0.05&b=2&seed=5');
    await page.locator('[data-action="toggle-play"]').click();
    const summary = page.getByTestId('result-summary');
    await expect(summary).toContainText(/Recovered \d+ of \d+/, { timeout: 120_000 });
    const text = await summary.textContent();
    await page.reload();
    await expect(summary).toHaveText(text!, { timeout: 90_000 });
    await expect(page.getByRole('status').filter({ hasText: 'Restored your last run' })).toBeVisible();
    // Export, then import the file into a fresh page.
    const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('e')]);
    const file = await download.path();
    const exported = JSON.parse(readFileSync(file, 'utf8'));
    expect(exported.aggregate.samples).toBe(48);
    await page.goto('/#s=probe-example&n=3');
    await expect(page.getByTestId('defence')).toContainText(/flips/, { timeout: 90_000 });
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.locator('[data-action="import-json"]').first().click()]);
    await chooser.setFiles(file);
    await expect(summary).toHaveText(text!);
    await screenshot(page, 'imported', info.project.name);
  });
});

test.describe('phone and accessibility', () => {
  test.beforeEach(({ browserName }, info) => test.skip(browserName !== 'chromium' || info.project.name !== 'phone', 'phone project only'));

  test('renders without horizontal overflow, charts stacked, and passes an axe scan', async ({ page }, info) => {
    await openPlayground(page, '#s=probe-example&n=10&lr=0.05&b=2');
    await page.locator('[data-action="toggle-play"]').click();
    await expect(page.getByTestId('result-summary')).toBeVisible({ timeout: 120_000 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    const [a, b] = await Promise.all([page.getByTestId('chart-rate').boundingBox(), page.getByTestId('chart-drift').boundingBox()]);
    expect(b!.y).toBeGreaterThan(a!.y + a!.height - 1); // stacked, not side by side
    await screenshot(page, 'phone', info.project.name);
    const scan = await new AxeBuilder({ page }).analyze();
    const serious = scan.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
  });

  test('the guided tour walks through the page by keyboard', async ({ page }, info) => {
    await openPlayground(page, '#s=probe-example&n=10');
    await page.keyboard.press('?');
    const tour = page.getByTestId('tour');
    await expect(tour).toContainText('Pick an experiment');
    for (let i = 0; i < 4; i++) await tour.getByRole('button', { name: 'Next' }).click();
    await expect(tour).toContainText('Inspect');
    await screenshot(page, 'tour', info.project.name);
    await tour.getByRole('button', { name: 'Done' }).click();
    await expect(tour).toHaveCount(0);
  });
});
