import { expect, test } from '@playwright/test';

test('the engine runs a recovery in a worker on the best backend, and says why when it is not WebGPU', async ({ page }, info) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  const backend = page.getByTestId('backend-name');
  await expect(backend).not.toHaveText('…', { timeout: 60_000 });
  if (info.project.name === 'webgpu') {
    await expect(backend).toHaveText('webgpu');
    await expect(page.getByTestId('backend')).toContainText(/swiftshader/i);
    await expect(page.getByTestId('backend-reason')).toHaveCount(0);
  } else {
    await expect(backend).not.toHaveText('webgpu');
    await expect(page.getByTestId('backend-reason')).toContainText(/WebGPU: no adapter/);
  }
  await expect(page.getByTestId('defence')).toContainText(/flips \d+ of 48/);
  await page.getByRole('button', { name: 'Run recovery' }).click();
  await expect(page.getByTestId('result')).toContainText(/Recovered \d+ of \d+ valid flips/, { timeout: 120_000 });
  await page.screenshot({ path: `test-results/screens/engine-${info.project.name}.png`, fullPage: true });
  expect(errors).toEqual([]);
});
