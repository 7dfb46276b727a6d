import { expect, type Page } from '@playwright/test';

/** Open the playground on a configuration (URL hash) and wait until the clamp has been applied. */
export async function openPlayground(page: Page, hash = '#s=probe-example&n=30&lr=0.05&b=2'): Promise<void> {
  await page.goto(`/${hash}`);
  await expect(page.getByTestId('backend-name')).not.toHaveText('…', { timeout: 60_000 });
  await expect(page.getByTestId('defence')).toContainText(/flips \d+ of \d+ samples/, { timeout: 90_000 });
}

export async function screenshot(page: Page, name: string, project: string): Promise<void> {
  await page.screenshot({ path: `${process.env.E2E_OUTPUT ?? 'test-results'}/screens/${name}-${project}.png`, fullPage: true });
}

export const points = async (page: Page, id: string) => Number(await page.getByTestId(`chart-${id}`).getAttribute('data-points'));
