// The playground's IOI scenario with its defaults gives the numbers `unclamp run --scenario ioi` gives: the
// page and the CLI read one table of defaults, load through one loader and run through one loop. Same
// seed (the default, 0), same configuration; the CLI runs on wasm. Each desktop project asks for its GPU backend (the
// page's default on SwiftShader is wasm, the CLI's own): the fallback project WebGL, all 100 of the scenario's steps;
// SwiftShader's WebGPU emulates a GPU on the CPU at several seconds a step, so the WebGPU project changes one setting
// (12 steps, on both sides) and checks that the change travels the same way.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { screenshot } from './helpers.ts';

test("IOI with the scenario's defaults: the playground and `unclamp run --scenario ioi` agree", async ({ page, browserName }, info) => {
  test.skip(browserName !== 'chromium' || info.project.name === 'phone', 'desktop projects');
  test.setTimeout(600_000);
  const short = info.project.name === 'webgpu';
  const dir = mkdtempSync(path.join(tmpdir(), 'unclamp-parity-'));
  const args = [
    'bin/unclamp.js',
    'run',
    '--scenario',
    'ioi',
    '--quiet',
    '--json',
    path.join(dir, 'node.json'),
    ...(short ? ['--steps', '12'] : []),
  ];
  const cli = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 300_000 });
  expect(cli.stderr).toBe('');
  expect(cli.status).toBe(0);
  const node = JSON.parse(readFileSync(path.join(dir, 'node.json'), 'utf8'));

  // Nothing but the scenario in the link (and, on WebGPU, the step count): the rest is the scenario's.
  await page.goto(short ? '/?backend=webgpu#s=ioi&n=12' : '/?backend=webgl#s=ioi');
  await expect(page.getByTestId('defence')).toContainText(/flips \d+ of \d+/, { timeout: 120_000 });
  await expect(page.getByTestId('settings-source')).toContainText(short ? '1 setting changed' : "Every setting is the IOI scenario's own");
  await expect(page.getByLabel('Steps')).toHaveValue(String(node.config.steps));
  await screenshot(page, 'ioi-ready', info.project.name);
  await page.locator('[data-action="toggle-play"]').click();
  await expect(page.getByTestId('result-summary')).toBeVisible({ timeout: 480_000 });
  await screenshot(page, 'ioi-done', info.project.name);
  const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('e')]);
  const browser = JSON.parse(readFileSync(await download.path(), 'utf8'));

  for (const key of [
    'mode',
    'optimizer',
    'delta',
    'steps',
    'lr',
    'budgetRel',
    'seed',
    'reproject',
    'features',
    'clamp',
    'featureRule',
    'sae',
  ]) {
    expect(browser.config[key], key).toEqual(node.config[key]);
  }
  // The absolute ρ comes from the residual's norms, computed on each backend: equal to float precision.
  expect(browser.config.budget).toBeCloseTo(node.config.budget, 4);
  expect(browser.aggregate.validFlips).toBe(node.aggregate.validFlips);
  expect(browser.aggregate.recovered).toBe(node.aggregate.recovered);
  expect(browser.aggregate.meanAbsDrift).toBeCloseTo(node.aggregate.meanAbsDrift, 2);
  const scale = Math.max(...node.samples.map((s: { recovered: number }) => Math.abs(s.recovered)));
  const diffs = node.samples.map((s: { recovered: number }, i: number) => Math.abs(s.recovered - browser.samples[i].recovered) / scale);
  expect(Math.max(...diffs)).toBeLessThan(1e-3);
});
