// How soon the default page can run, and whether the main thread stays free while it does. The timings depend on
// the machine (a busy 2-core runner is several times slower than a laptop): the time to a ready Run button is
// printed, not judged; a main-thread task over 100 ms during the run (twice the 50 ms goal) fails.
import { expect, type Page, test } from '@playwright/test';

interface LongTask {
  start: number;
  duration: number;
}

/** Collect every long task from before the page's first script (buffered entries included). */
async function observeLongTasks(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const tasks: { start: number; duration: number }[] = [];
    (globalThis as unknown as { __longTasks: typeof tasks }).__longTasks = tasks;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) tasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
}

const longTasks = (page: Page) => page.evaluate(() => (globalThis as unknown as { __longTasks: LongTask[] }).__longTasks);
const summarise = (tasks: LongTask[]) =>
  tasks.length ? `longest ${Math.max(...tasks.map((t) => t.duration)).toFixed(0)} ms (${tasks.length} over 50 ms)` : 'none over 50 ms';

test.describe('the default page', () => {
  test.beforeEach(({ browserName }, info) =>
    test.skip(browserName !== 'chromium' || info.project.name !== 'webgpu', 'the CI machine’s default browser (WebGPU project)'),
  );

  test('the Run button is ready within seconds of opening the page; the time is printed', async ({ page }) => {
    await observeLongTasks(page);
    await page.goto('/');
    const play = page.locator('[data-action="toggle-play"]');
    await expect(play).toBeEnabled({ timeout: 120_000 });
    // From the navigation's start, on the page's own clock.
    const readyMs = await page.evaluate(() => performance.now());
    const backend = await page.getByTestId('backend-name').textContent();
    console.log(
      `Run button ready ${(readyMs / 1000).toFixed(1)} s after the page opened (${backend}); load: ${summarise(await longTasks(page))}`,
    );
    test.info().annotations.push({ type: 'Run button ready', description: `${(readyMs / 1000).toFixed(1)} s on ${backend}` });
  });

  test('a run of the default scenario keeps every main-thread task under 100 ms', async ({ page }) => {
    await observeLongTasks(page);
    await page.goto('/');
    const play = page.locator('[data-action="toggle-play"]');
    await expect(play).toBeEnabled({ timeout: 120_000 });
    // A long task's duration includes the time the main thread waits for a core: on a busy 2-core machine (the
    // engine's worker, the GPU process and the test runner share it) a 40 ms task can read 150 ms. A task the page
    // itself makes that long shows up in every run; one the machine's load makes does not. So up to three runs, and
    // the test fails when every one of them had a task over 100 ms (each run's figure is printed).
    const longestByRun: number[] = [];
    for (let run = 1; run <= 3; run++) {
      const startedAt = await page.evaluate(() => performance.now());
      await play.click();
      // Polled rarely and cheaply: Playwright's own checks run on the page's main thread too, and an expect() that
      // retries snapshots the page's accessibility tree, itself a long task.
      await page.waitForFunction(
        () => /Recovered \d+ of \d+ valid flips/.test(document.querySelector('[data-testid="result-summary"]')?.textContent ?? ''),
        null,
        { polling: 1000, timeout: 180_000 },
      );
      const all = await longTasks(page);
      const during = all.filter((t) => t.start + t.duration >= startedAt);
      longestByRun.push(Math.max(0, ...during.map((t) => t.duration)));
      console.log(`run ${run}: main-thread tasks during the run: ${summarise(during)}`);
      test.info().annotations.push({ type: `longest main-thread task during run ${run}`, description: summarise(during) });
      if (longestByRun.at(-1)! <= 100) break;
      await page.locator('[data-action="reset"]').click();
      await page.waitForFunction(() => !document.querySelector('[data-testid="result-summary"]'), null, { polling: 500, timeout: 60_000 });
      await expect(play).toBeEnabled({ timeout: 60_000 });
    }
    expect(Math.min(...longestByRun), 'a main-thread task over 100 ms in every run').toBeLessThanOrEqual(100);
  });
});
