// Issue 2's first page check: the engine runs in a worker on the best backend and says why when it is not WebGPU.
import { expect, test } from '@playwright/test';
import { openPlayground, screenshot } from './helpers.ts';

test('the engine runs a recovery in a worker on the best backend, and says why when it is not WebGPU', async ({ page }, info) => {
  test.skip(info.project.name === 'phone', 'covered by the phone layout test');
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await openPlayground(page);
  // COOP + COEP from the server: SharedArrayBuffer, so the wasm backend can use its threaded build.
  expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
  const backend = page.getByTestId('backend-name');
  if (info.project.name === 'webgpu') {
    await expect(backend).toHaveText('webgpu');
    await expect(page.getByTestId('backend-badge')).toContainText(/swiftshader/i);
    await expect(page.getByTestId('backend-reason')).toHaveCount(0);
  } else {
    await expect(backend).not.toHaveText('webgpu');
    await expect(page.getByTestId('backend-reason')).toContainText(/no adapter/);
  }
  await page.locator('[data-action="toggle-play"]').click();
  await expect(page.getByTestId('result-summary')).toContainText(/Recovered \d+ of \d+ valid flips/, { timeout: 120_000 });
  await screenshot(page, 'engine-done', info.project.name);
  expect(errors).toEqual([]);
});
