// `npm run dev`: Vite's dev server serves TF.js from its own pre-bundle, not from the build the other specs drive,
// and that pre-bundle once left the engine unable to start ("Cannot evaluate flag 'DEBUG'"). One run on the
// threaded wasm build there, from a cold pre-bundle, keeps it working.
import type { ChildProcess } from 'node:child_process';
import { expect, test } from '@playwright/test';
import { freePort, startVite } from '../scripts/lib/vite-server.ts';

test.describe('the dev server (npm run dev)', () => {
  let server: ChildProcess | undefined;
  let url = '';

  test.beforeEach(async ({ browserName }, info) => {
    test.skip(browserName !== 'chromium' || info.project.name !== 'fallback', 'one project is enough for the dev server');
    // --force: pre-bundle TF.js afresh, as a fresh clone's first `npm run dev` does.
    ({ server, url } = await startVite(await freePort(), ['--force'], 120));
  });

  test.afterEach(() => {
    server?.kill();
  });

  test('starts the engine on wasm with two threads and finishes a run', async ({ page }) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Every failed request, by its address (the console's "Failed to load resource" does not say which); the
    // page has no favicon.
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(`${r.status()} ${r.url()}`);
    });
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
    });
    await page.goto(`${url}?backend=wasm&threads=2#s=probe-example&n=6&lr=0.05&b=2`);
    await expect(page.getByTestId('backend-badge')).toContainText('2 threads, SIMD', { timeout: 120_000 });
    await expect(page.getByTestId('defence')).toContainText(/flips \d+ of \d+ samples/, { timeout: 90_000 });
    await page.locator('[data-action="toggle-play"]').click();
    await expect(page.getByTestId('result-summary')).toContainText(/Recovered \d+ of \d+ valid flips/, { timeout: 120_000 });
    expect(errors).toEqual([]);
  });
});
