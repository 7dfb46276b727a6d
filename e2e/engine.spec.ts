// Issue 2's first page check: the engine runs in a worker on the fastest backend here and says why it is not
// WebGPU. On these machines WebGPU, where there is any, is SwiftShader's (the GPU emulated on the CPU): the page
// starts on wasm, says so, and offers WebGPU one click away; `?backend=webgpu` still forces it.
import { expect, test } from '@playwright/test';
import { openPlayground, screenshot } from './helpers.ts';

test('the engine runs a recovery in a worker on the fastest backend, and says why it is not WebGPU', async ({ page }, info) => {
  test.skip(info.project.name === 'phone', 'covered by the phone layout test');
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await openPlayground(page);
  // COOP + COEP from the server: SharedArrayBuffer, so the wasm backend can use its threaded build.
  expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
  await expect(page.getByTestId('backend-name')).toHaveText('wasm');
  if (info.project.name === 'webgpu') {
    await expect(page.getByTestId('backend-reason')).toHaveText('— software WebGPU adapter (SwiftShader): wasm is faster here');
    await expect(page.locator('[data-action="use-webgpu"]')).toBeEnabled();
  } else {
    await expect(page.getByTestId('backend-reason')).toContainText(/not WebGPU: no adapter/);
    await expect(page.locator('[data-action="use-webgpu"]')).toHaveCount(0);
  }
  await page.locator('[data-action="toggle-play"]').click();
  await expect(page.getByTestId('result-summary')).toContainText(/Recovered \d+ of \d+ valid flips/, { timeout: 120_000 });
  await screenshot(page, 'engine-done', info.project.name);
  expect(errors).toEqual([]);
});

test.describe('WebGPU on a software adapter (WebGPU project)', () => {
  test.beforeEach(({ browserName }, info) =>
    test.skip(browserName !== 'chromium' || info.project.name !== 'webgpu', 'WebGPU project only'),
  );

  test('the badge’s button moves the page to WebGPU, which the address then keeps, and the run goes on there', async ({ page }) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await openPlayground(page, '#s=probe-example&n=6&lr=0.05&b=2');
    await expect(page.getByTestId('backend-name')).toHaveText('wasm');
    const flips = await page.getByTestId('defence').textContent();
    await page.locator('[data-action="use-webgpu"]').click();
    await expect(page.getByTestId('backend-name')).toHaveText('webgpu', { timeout: 60_000 });
    await expect(page.getByTestId('backend-badge')).toContainText('swiftshader (google)');
    await expect(page.getByTestId('backend-reason')).toHaveCount(0);
    await expect(page.locator('[data-action="use-webgpu"]')).toHaveCount(0);
    expect(new URL(page.url()).searchParams.get('backend')).toBe('webgpu');
    // The new engine holds the same scenario and defence: the run starts there without reloading anything.
    await expect(page.locator('[data-action="toggle-play"]')).toBeEnabled({ timeout: 60_000 });
    expect(await page.getByTestId('defence').textContent()).toBe(flips);
    await page.locator('[data-action="toggle-play"]').click();
    await expect(page.getByTestId('run-status')).toContainText('done · step 6 / 6', { timeout: 120_000 });
    // A reload keeps the choice.
    await page.reload();
    await expect(page.getByTestId('backend-name')).toHaveText('webgpu', { timeout: 60_000 });
    expect(errors).toEqual([]);
  });

  test('?backend=webgpu forces WebGPU on the software adapter', async ({ page }) => {
    await openPlayground(page, '?backend=webgpu#s=probe-example&n=6&lr=0.05&b=2');
    await expect(page.getByTestId('backend-name')).toHaveText('webgpu');
    await expect(page.getByTestId('backend-badge')).toContainText(/swiftshader/i);
  });
});
