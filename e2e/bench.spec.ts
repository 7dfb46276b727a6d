// The bench page (bench/browser/, a build of its own) in the browser, with tiny settings: its worker runs level a's
// body (bench/levels.ts) and the page hands back records with finite timings. The figures themselves are
// `npm run bench:browser`'s business; nothing here is timed. The app build the other specs serve has no bench page,
// so this spec builds the bench (a few seconds: one page and one worker) and serves it with `vite preview`, which
// sends the app's headers (COOP/COEP and the CSP), as bench:browser does.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import type { BenchOutcome } from '../bench/browser/protocol.ts';
import { freePort, startVite, viteBuild } from '../scripts/lib/vite-server.ts';

const CONFIG = 'bench/browser/vite.config.ts';
let server: ChildProcess | undefined;
let outDir = '';
let url = '';

test.beforeAll(async ({ browserName }, info) => {
  test.skip(
    browserName !== 'chromium' || info.project.name !== 'fallback',
    'one backend is enough for the page; bench:browser measures them all',
  );
  outDir = mkdtempSync(path.join(tmpdir(), 'unclamp-bench-e2e-'));
  viteBuild(['--config', CONFIG, '--outDir', outDir, '--logLevel', 'error']);
  ({ server, url } = await startVite(await freePort(), ['preview', '--config', CONFIG, '--outDir', outDir]));
});

test.afterAll(() => {
  server?.kill();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

test('the bench page runs a level in its worker and hands back records with finite timings', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${url}?level=a&backend=cpu&steps=2&n=4&d=16&m=64&s=2&modes=none,encoder`);
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
