// The same run on Node (the CLI, wasm backend) and in the browser worker (WebGPU or WebGL) gives the same
// numbers: same seed, same configuration, recovered scores equal to 1e-3 (relative to their scale).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { screenshot } from './helpers.ts';

test('IOI on the built-in model: browser worker and Node agree', async ({ page, browserName }, info) => {
  test.skip(browserName !== 'chromium' || info.project.name === 'phone', 'desktop projects');
  const dir = mkdtempSync(path.join(tmpdir(), 'unclamp-parity-'));
  const cli = spawnSync(process.execPath, ['bin/unclamp.js', 'run', '--scenario', 'ioi', '--steps', '12', '--lr', '0.1', '--budget', '20', '--mode', 'encoder', '--delta', 'shared', '--seed', '0', '--quiet', '--json', path.join(dir, 'node.json')], { encoding: 'utf8', timeout: 180_000 });
  expect(cli.stderr).not.toMatch(/error/i);
  expect(cli.status).toBe(0);
  const node = JSON.parse(readFileSync(path.join(dir, 'node.json'), 'utf8'));

  await page.goto('/#s=ioi&m=encoder&d=shared&p=default&n=12&lr=0.1&b=20&seed=0');
  await expect(page.getByTestId('defence')).toContainText(/flips \d+ of \d+/, { timeout: 120_000 });
  await screenshot(page, 'ioi-ready', info.project.name);
  await page.locator('[data-action="toggle-play"]').click();
  await expect(page.getByTestId('result-summary')).toBeVisible({ timeout: 180_000 });
  await screenshot(page, 'ioi-done', info.project.name);
  const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('e')]);
  const browser = JSON.parse(readFileSync(await download.path(), 'utf8'));

  expect(browser.config.features).toEqual(node.config.features);
  expect(browser.aggregate.validFlips).toBe(node.aggregate.validFlips);
  const scale = Math.max(...node.samples.map((s: { recovered: number }) => Math.abs(s.recovered)));
  const diffs = node.samples.map((s: { recovered: number }, i: number) => Math.abs(s.recovered - browser.samples[i].recovered) / scale);
  expect(Math.max(...diffs)).toBeLessThan(1e-3);
  expect(browser.aggregate.recovered).toBe(node.aggregate.recovered);
});
