// What a run survives in a real Chromium: the WebGPU device destroyed under it, the engine worker crashing, a
// reload mid-run, and a full storage quota. Faults are injected with `?fault=KIND@STEP` (src/engine/protocol.ts).
import { readFileSync } from 'node:fs';
import { expect, type Page, test } from '@playwright/test';
import { openPlayground, points, recordFigure, screenshot, statusStep } from './helpers.ts';

const onlyProject = (name: string) => () =>
  test.beforeEach(({ browserName }, info) => test.skip(browserName !== 'chromium' || info.project.name !== name, `${name} project only`));

/** Export the result (the `e` shortcut) and read the file back. */
async function exported(page: Page): Promise<{ history: { step: number }[]; aggregate: { recovered: number; validFlips: number } }> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('e')]);
  return JSON.parse(readFileSync((await download.path())!, 'utf8'));
}

/** Every recorded step once, in order, from step 0 to the last: no gap left by the interruption. Returns how many steps it must hold. */
function expectWholeHistory(history: { step: number }[], steps: number, every: number): number {
  const got = history.map((e) => e.step);
  expect(got[0]).toBe(0);
  expect(got.at(-1)).toBe(steps);
  expect([...got].sort((a, b) => a - b)).toEqual(got);
  expect(new Set(got).size).toBe(got.length);
  for (let s = 0; s <= steps; s += every) expect(got).toContain(s);
  return Math.floor(steps / every) + 1;
}

test.describe('a lost WebGPU device (WebGPU)', () => {
  onlyProject('webgpu')();

  test('destroying the real device mid-run moves the run to WebGL from its last completed step, history intact', async ({ page }, info) => {
    // WebGPU asked for: the default passes SwiftShader's adapter over for wasm. A lost device then moves on in that order.
    await page.goto('/?backend=webgpu&fault=destroy-device@12#s=probe-example&n=30&lr=0.05&b=2&delay=20');
    await expect(page.getByTestId('defence')).toContainText(/flips/, { timeout: 90_000 });
    await expect(page.getByTestId('backend-name')).toHaveText('webgpu');
    await page.locator('[data-action="toggle-play"]').click();
    const notice = page
      .getByRole('status')
      .filter({ hasText: /The webgpu device was lost at step \d+; continuing on webgl from step \d+/ });
    await expect(notice).toBeVisible({ timeout: 60_000 });
    const seen = Date.now();
    const [, lostAt, from] = /at step (\d+); .* from step (\d+)/.exec((await notice.textContent())!)!.map(Number);
    expect(from).toBeGreaterThanOrEqual(12);
    await expect(page.getByTestId('backend-name')).toHaveText('webgl', { timeout: 60_000 });
    await expect.poll(() => statusStep(page), { timeout: 60_000, intervals: [50] }).toBeGreaterThan(from);
    const secondsToContinue = (Date.now() - seen) / 1000;
    await expect(page.getByTestId('result-summary')).toContainText(/Recovered \d+ of \d+/, { timeout: 120_000 });
    const { history } = await exported(page);
    const expected = expectWholeHistory(history, 30, 1);
    recordFigure('device-destroyed', {
      expected,
      fault: 'destroy-device@12',
      lostAt,
      from,
      backends: 'webgpu → webgl',
      secondsToContinue,
      historyEntries: history.length,
    });
    await screenshot(page, 'device-destroyed', info.project.name);
  });
});

test.describe('crashes, reloads and a full disk (fallback backend)', () => {
  onlyProject('fallback')();

  test('a crashed engine worker is restarted and the run continues from its last completed step', async ({ page }, info) => {
    await openPlayground(page, '?fault=worker-crash@8#s=probe-example&n=30&lr=0.05&b=2&delay=20');
    const backend = await page.getByTestId('backend-name').textContent();
    await page.locator('[data-action="toggle-play"]').click();
    const notice = page
      .getByRole('status')
      .filter({ hasText: /The engine worker crashed at step \d+ \(.*\); continuing on \w+ from step 8/ });
    await expect(notice).toBeVisible({ timeout: 60_000 });
    const seen = Date.now();
    await expect(notice).toContainText(`continuing on ${backend}`);
    const lostAt = Number(/at step (\d+)/.exec((await notice.textContent())!)![1]);
    await expect.poll(() => statusStep(page), { timeout: 60_000, intervals: [50] }).toBeGreaterThan(8);
    const secondsToContinue = (Date.now() - seen) / 1000;
    await expect(page.getByTestId('result-summary')).toContainText(/Recovered \d+ of \d+/, { timeout: 120_000 });
    const { history } = await exported(page);
    const expected = expectWholeHistory(history, 30, 1);
    recordFigure('worker-crashed', {
      expected,
      fault: 'worker-crash@8',
      lostAt,
      from: 8,
      backends: `${backend} → ${backend}`,
      secondsToContinue,
      historyEntries: history.length,
    });
    await screenshot(page, 'worker-crashed', info.project.name);
  });

  test('a reload mid-run brings the run back paused at its last step with its charts; play finishes it', async ({ page }, info) => {
    await openPlayground(page, '#s=probe-example&n=150&lr=0.05&b=2&delay=20');
    await page.locator('[data-action="toggle-play"]').click();
    const status = page.getByTestId('run-status');
    await expect
      .poll(async () => Number(/step (\d+)/.exec((await status.textContent()) ?? '')?.[1] ?? 0), { timeout: 60_000 })
      .toBeGreaterThan(40);
    const chartPoints = await points(page, 'rate');
    const before = await statusStep(page);
    await page.reload();
    const notice = page.getByRole('status').filter({ hasText: /Restored the run in progress at step \d+ of 150/ });
    await expect(notice).toBeVisible({ timeout: 90_000 });
    const at = Number(/at step (\d+)/.exec((await notice.textContent())!)![1]);
    // Saved at most 0.5 s apart (up to 25 steps at 20 ms a step) and on pagehide, whose write may not finish
    // before the page goes: the run comes back from mid-run, not from its start.
    expect(at).toBeGreaterThan(10);
    await expect(status).toContainText(`paused · step ${at} / 150`);
    // The charts come back up to the last saved step (saved every 0.5 s, and as the page goes away), so they may
    // show fewer or more points than were drawn just before the reload.
    expect(await points(page, 'rate')).toBeGreaterThan(0);
    await screenshot(page, 'reload-restored', info.project.name);
    // A second reload before playing still finds it.
    await page.reload();
    await expect(status).toContainText(`paused · step ${at} / 150`, { timeout: 90_000 });
    await page.locator('[data-action="toggle-play"]').click();
    await expect(page.getByTestId('result-summary')).toContainText(/Recovered \d+ of \d+/, { timeout: 120_000 });
    const { history } = await exported(page);
    const expected = expectWholeHistory(history, 150, 3);
    recordFigure('reload', {
      expected,
      shownBeforeReload: before,
      restoredAt: at,
      chartPointsBefore: chartPoints,
      historyEntries: history.length,
    });
    // Finished: a reload now brings back the finished run, not the one in progress.
    await page.reload();
    await expect(page.getByRole('status').filter({ hasText: 'Restored your last run' })).toBeVisible({ timeout: 90_000 });
  });

  test('a full storage quota says so, and the finished run stays on the page to export', async ({ page, context }) => {
    // 150 ms between steps: the run lasts past the first save of the run in progress (every 0.5 s) on any backend.
    await openPlayground(page, '#s=probe-example&n=6&lr=0.05&b=2&seed=12&delay=150');
    // A quota of one byte: every write that grows this origin's storage fails.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(page.url()).origin, quotaSize: 1 });
    await page.locator('[data-action="toggle-play"]').click();
    await expect(page.getByTestId('result-summary')).toContainText(/Recovered/, { timeout: 120_000 });
    const alerts = page.getByRole('alert');
    await expect(alerts.filter({ hasText: /The run in progress was not saved: this browser's storage for the page is full/ })).toHaveCount(
      1,
    );
    const finished = alerts.filter({ hasText: /The finished run was not saved: this browser's storage for the page is full/ });
    await expect(finished).toContainText('Everything saved before is kept');
    await expect(finished).toContainText('export it');
    expect((await exported(page)).history.at(-1)!.step).toBe(6);
    recordFigure('quota', { quotaBytes: 1, alerts: await alerts.count(), exportedSteps: 6 });
    await screenshot(page, 'quota-full', 'fallback');
  });
});
