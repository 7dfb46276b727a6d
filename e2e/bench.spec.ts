// The bench page (?view=bench) in the browser, with tiny settings: its worker runs level a's body
// (bench/levels.ts) and the page hands back records with finite timings. The figures themselves are
// `npm run bench:browser`'s business; nothing here is timed.
import { expect, test } from '@playwright/test';
import type { BenchOutcome } from '../bench/browser/protocol.ts';

test('the bench page runs a level in its worker and hands back records with finite timings', async ({ page }, info) => {
  test.skip(info.project.name !== 'fallback', 'one backend is enough for the page; bench:browser measures them all');
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/?view=bench&level=a&backend=cpu&steps=2&n=4&d=16&m=64&s=2&modes=none,encoder');
  await expect(page.getByTestId('bench-status')).toHaveAttribute('data-status', /done|error/, { timeout: 60_000 });
  const outcome = JSON.parse((await page.getByTestId('bench-json').textContent()) ?? '') as BenchOutcome;
  expect(outcome.error).toBeNull();
  expect(outcome.status).toBe('done');
  expect(outcome.env?.backend.name).toBe('cpu');
  expect(outcome.records.map((r) => [r.level, r.backend, r.mode, r.runner])).toEqual([
    ['a', 'cpu', 'none', 'chromium'],
    ['a', 'cpu', 'encoder', 'chromium'],
  ]);
  for (const r of outcome.records) {
    expect(Number.isFinite(r.msPerStep) && r.msPerStep > 0, `${r.mode}: ${r.msPerStep} ms/step`).toBe(true);
    expect(r.failed).toBeUndefined();
  }
  await expect(page.getByTestId('bench-table').locator('tbody tr')).toHaveCount(2);
  // The page object the driver may read instead of the <pre>.
  expect(await page.evaluate(() => (window as Window & { __bench?: BenchOutcome }).__bench?.records.length)).toBe(2);
  expect(errors).toEqual([]);
});
