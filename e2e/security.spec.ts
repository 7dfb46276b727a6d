// Hostile content and the Content-Security-Policy: a label that is HTML stays text, and a whole run on the built
// app raises no CSP violation (the policy has no 'unsafe-eval').
import { expect, test } from '@playwright/test';
import { openPlayground, screenshot } from './helpers.ts';

test.beforeEach(({ browserName }, info) =>
  test.skip(browserName !== 'chromium' || info.project.name === 'phone', 'the desktop projects cover it'),
);

test('the built app runs a recovery under a CSP without unsafe-eval, with no violation', async ({ page }) => {
  const violations: string[] = [];
  const errors: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  const response = await page.goto('/#s=probe-example&n=20&lr=0.05&b=2');
  const csp = response?.headers()['content-security-policy'] ?? '';
  expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
  expect(csp).not.toContain("'unsafe-eval'");
  await openPlayground(page, '#s=probe-example&n=20&lr=0.05&b=2');
  await page.locator('[data-action="toggle-play"]').click();
  await expect(page.getByTestId('result-summary')).toContainText(/Recovered \d+ of \d+ valid flips/, { timeout: 120_000 });
  expect(violations).toEqual([]);
  expect(errors).toEqual([]);
});

test('a feature label that is HTML is shown as text and runs nothing', async ({ page }, info) => {
  test.skip(info.project.name !== 'fallback', 'the DOM does not depend on the backend: the fallback project');
  const dialogs: string[] = [];
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  await openPlayground(page);
  const hostile = '<img src=x onerror=alert(1)>';
  const labels = Object.fromEntries(Array.from({ length: 128 }, (_, i) => [String(i), hostile]));
  await page.locator('input[type="file"][accept=".json,application/json"]').setInputFiles({
    name: 'labels.json',
    mimeType: 'application/json',
    buffer: Buffer.from(JSON.stringify(labels)),
  });
  await expect(page.getByText(hostile).first()).toBeVisible();
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  await page.waitForTimeout(300);
  expect(dialogs).toEqual([]);
  await screenshot(page, 'hostile-label', info.project.name);
});
