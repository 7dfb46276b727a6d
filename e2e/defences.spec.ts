// The defence lab on the page: the defence choice in the defence panel (URL state, the run's result), and the
// Defences tab — a matrix opened from a file (heatmap, tooltip, ROC, budget curves, checks; a cell opens in the
// playground) and a tiny matrix run here, cancelled once and then run to the end. On the page's default backend
// (wasm where WebGPU is SwiftShader's).
import { expect, type Page, test } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { openPlayground, screenshot } from './helpers.ts';

const FIXTURE = 'e2e/fixtures/defence-matrix.json';

const only = (project: string) =>
  test.beforeEach(({ browserName }, info) =>
    test.skip(browserName !== 'chromium' || info.project.name !== project, `${project} project only`),
  );

const openTab = async (page: Page) => {
  await page.locator('[data-action="view-defences"]').click();
  await expect(page).toHaveURL(/\?view=defences/);
  await expect(page.getByTestId('matrix-controls')).toBeVisible();
};

test.describe('the defence choice and the Defences tab', () => {
  only('webgpu');

  test('choose a defence in the panel: it goes into the link, the run and its result (with the detection rate)', async ({ page }, info) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await openPlayground(page, '#s=ioi&n=5');
    // The paper's clamp by default, and the link says nothing about it.
    await expect(page.getByTestId('defence-hook')).toHaveValue('clamp');
    await expect(page).not.toHaveURL(/defence=/);
    await page.getByTestId('defence-hook').selectOption('no-error-term');
    await expect(page.getByTestId('defence-does')).toContainText('splice the clamped reconstruction only');
    await expect(page.getByTestId('apply-defence')).toContainText('Apply defence');
    await page.getByTestId('apply-defence').click();
    await expect(page.getByTestId('defence-applied')).toHaveText('No error term');
    await expect(page.getByTestId('defence')).toContainText(/flips \d+ of 64 samples/);
    await expect(page).toHaveURL(/defence=no-error-term(&|$)/);
    await page.locator('[data-action="toggle-play"]').click();
    await expect(page.getByTestId('run-status')).toContainText('done · step 5 / 5', { timeout: 120_000 });
    await expect(page.getByTestId('result-summary')).toContainText(/Recovered \d+ of \d+ valid flips/);
    await expect(page.getByTestId('result-defence')).toHaveText('No error term');
    await expect(page.getByTestId('result-detection')).toHaveCount(0);

    // Add the detector at 5% FPR: its calibration is shown, and the result carries its detection rate.
    await page.getByTestId('defence-detect').check();
    await page.getByTestId('detect-fpr').fill('0.05');
    await page.getByTestId('apply-defence').click();
    await expect(page.getByTestId('defence-applied')).toHaveText('No error term + Detector at 5% FPR', { timeout: 60_000 });
    await expect(page.getByTestId('defence-notes')).toContainText(/monitor threshold \d/);
    await expect(page).toHaveURL(/defence=no-error-term\+detect&fpr=0\.05/);
    await page.locator('[data-action="toggle-play"]').click();
    await expect(page.getByTestId('result-detection')).toContainText(/The detector flagged \d+(\.\d)?% of the valid flips/, {
      timeout: 120_000,
    });
    await expect(page.getByTestId('result-defence')).toHaveText('No error term + Detector at 5% FPR');
    await screenshot(page, 'defence-choice-done', info.project.name);

    // The link brings it back after a reload.
    await page.reload();
    await expect(page.getByTestId('defence-applied')).toHaveText('No error term + Detector at 5% FPR', { timeout: 90_000 });
    await expect(page.getByTestId('defence-hook')).toHaveValue('no-error-term');
    await expect(page.getByTestId('defence-detect')).toBeChecked();
    await expect(page.getByTestId('detect-fpr')).toHaveValue('0.05');

    // A link with a defence that cannot be: the usual error, and the paper's clamp.
    await page.goto('/#s=ioi&n=5&defence=no-error-term+clip-error');
    await expect(page.getByRole('alert')).toContainText(
      /not valid and were reset: defence: no-error-term and clip-error both act at the hook/,
    );
    await expect(page.getByTestId('defence')).toContainText(/The clamp alone flips/, { timeout: 90_000 });
    await expect(page.getByTestId('defence-hook')).toHaveValue('clamp');
    await expect(page).not.toHaveURL(/defence=/);
    expect(errors).toEqual([]);
  });

  test('the Defences tab draws a matrix file; a cell opens that run in the playground', async ({ page }, info) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await openPlayground(page, '#s=ioi&n=5');
    await openTab(page);
    await expect(page.getByTestId('matrix-none')).toBeVisible();
    await expect(page.locator('[data-action="save-matrix"]')).toBeDisabled();

    // A wrong file is refused in words.
    let [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.locator('[data-action="open-matrix"]').click()]);
    await chooser.setFiles({ name: 'wrong.json', mimeType: 'application/json', buffer: Buffer.from('{"cells": [], "defences": "x"}') });
    await expect(page.getByRole('alert')).toContainText(/wrong\.json: not a defence matrix/);
    await expect(page.getByTestId('matrix-none')).toBeVisible();

    [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.locator('[data-action="open-matrix"]').click()]);
    await chooser.setFiles(FIXTURE);
    await expect(page.getByTestId('matrix-results')).toBeVisible();
    await expect(page.getByTestId('matrix-summary')).toContainText('defence-matrix.json');
    // The heatmap: 2 defences × (1 mode × 2 attackers), each cell its rate.
    const cells = page.getByTestId('matrix-cell');
    await expect(cells).toHaveCount(4);
    const cell = (defence: string, attacker: string) =>
      page.locator(`[data-testid="matrix-cell"][data-defence="${defence}"][data-attacker="${attacker}"][data-mode="encoder"]`);
    await expect(cell('clamp', 'paper')).toHaveText('5%');
    await expect(cell('no-error-term+detect', 'adaptive')).toHaveText('14%');
    const bg = await cell('no-error-term+detect', 'adaptive').evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(bg).toMatch(/^rgb\(/);
    // Its tooltip: the interval, valid flips, drift, detection rate and the row's cost.
    await cell('no-error-term+detect', 'adaptive').hover();
    const tip = page.getByTestId('matrix-tooltip');
    await expect(tip).toContainText('recovery 13.9% [6.1, 28.7] (95% CI): 5 of 36 valid flips');
    await expect(tip).toContainText('mean relative drift 0.274');
    await expect(tip).toContainText('detection rate 2.8% of the valid flips');
    await expect(tip).toContainText(/without an attack it flips 36 of 64 samples; ΔCE \+2\.600 nats\/token, KL 2\.745/);
    // The ROC (paper and adaptive), the budget curves (one per defence) with their AUC, the checks.
    const roc = page.getByTestId('chart-roc');
    await expect(roc.locator('.recharts-line')).toHaveCount(2);
    await expect(roc.locator('.recharts-line path').first()).toHaveAttribute('d', /^M/);
    await expect(roc.locator('.recharts-legend-wrapper')).toContainText('no-error-term+detect · adaptive (AUC');
    const budget = page.getByTestId('chart-budget-curves');
    await expect(budget.locator('.recharts-line')).toHaveCount(2);
    await expect(budget.locator('.recharts-legend-wrapper')).toContainText('clamp (AUC 0.067)');
    await expect(page.getByTestId('matrix-check')).toHaveCount(6);
    await expect(page.locator('[data-testid="matrix-checks"] tr[data-defence="no-error-term+detect"]')).toContainText('random ⚠');
    await expect(page.locator('[data-testid="matrix-checks"] tr[data-defence="clamp"]')).toContainText('budget ✓');
    await screenshot(page, 'defences-matrix-file', info.project.name);

    // Save it: the same matrix comes back.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-action="save-matrix"]').click()]);
    expect(download.suggestedFilename()).toBe('unclamp-defences-ioi-seeds1.json');

    // A cell opens in the playground with its defence and mode (the user then presses Run).
    await cell('no-error-term+detect', 'adaptive').click();
    await expect(page.locator('#view-playground')).toHaveAttribute('aria-selected', 'true');
    await expect(page).not.toHaveURL(/view=defences/);
    await expect(page).toHaveURL(/defence=no-error-term\+detect/);
    await expect(page.getByTestId('defence-applied')).toHaveText('No error term + Detector at 1% FPR', { timeout: 90_000 });
    await expect(page.getByTestId('defence-hook')).toHaveValue('no-error-term');
    await expect(page.getByTestId('defence-detect')).toBeChecked();
    await expect(page.getByTestId('mode-select')).toHaveValue('encoder');
    await expect(page.getByLabel('Steps')).toHaveValue('5');
    await screenshot(page, 'defences-cell-opened', info.project.name);
    expect(errors).toEqual([]);
  });

  test('runs a tiny matrix here: progress, cancel, then the heatmap fills', async ({ page }, info) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await openPlayground(page, '#s=ioi&n=3');
    await openTab(page);
    await expect(page.getByTestId('matrix-scenario')).toContainText('IOI');
    // One seed, one mode, two defences.
    await expect(page.getByTestId('matrix-seeds')).toHaveValue('1');
    for (const m of ['none', 'jacobian']) await page.getByTestId(`matrix-mode-${m}`).uncheck();
    for (const d of ['clip-error', 'reclamp', 'multi-layer', 'ablate-span', 'detect'])
      await page.getByTestId(`matrix-defence-${d}`).uncheck();

    // Started and cancelled: it says so, and nothing is drawn.
    await page.locator('[data-action="run-matrix"]').click();
    await expect(page.getByTestId('matrix-progress')).toContainText(/stage \d+ of \d+/);
    await page.locator('[data-action="cancel-matrix"]').click();
    await expect(page.getByRole('status').filter({ hasText: 'The defence matrix was cancelled.' })).toBeVisible({ timeout: 60_000 });
    await expect(page.getByTestId('matrix-progress')).toHaveCount(0);
    await expect(page.getByTestId('matrix-none')).toBeVisible();

    // Run to the end.
    await page.locator('[data-action="run-matrix"]').click();
    await expect(page.getByTestId('matrix-progress')).toBeVisible();
    await expect(page.locator('[data-action="toggle-play"]')).toHaveCount(0);
    await expect(page.getByTestId('matrix-cell')).toHaveCount(4, { timeout: 120_000 });
    for (const c of await page.getByTestId('matrix-cell').all()) await expect(c).toHaveText(/^\d+%$/);
    await expect(page.getByTestId('matrix-summary')).toContainText('run in this tab');
    await expect(page.getByTestId('matrix-summary')).toContainText('{"steps":3}');
    await expect(page.getByTestId('chart-budget-curves').locator('.recharts-line')).toHaveCount(2);
    await expect(page.getByTestId('roc-empty')).toBeVisible();
    await screenshot(page, 'defences-matrix-run', info.project.name);
    // The playground is still usable afterwards.
    await page.locator('[data-action="view-playground"]').click();
    await expect(page.locator('[data-action="toggle-play"]')).toBeEnabled();
    expect(errors).toEqual([]);
  });
});

test.describe('the Defences tab on a phone', () => {
  only('phone');

  test('fits the screen and passes an axe scan, with a matrix drawn', async ({ page }, info) => {
    // The address opens the tab; the matrix can run once the scenario is loaded.
    await page.goto('/?view=defences#s=ioi&n=5');
    await expect(page.locator('#view-defences')).toHaveAttribute('aria-selected', 'true');
    await expect(page.locator('[data-action="run-matrix"]')).toBeEnabled({ timeout: 90_000 });
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.locator('[data-action="open-matrix"]').click()]);
    await chooser.setFiles(FIXTURE);
    await expect(page.getByTestId('matrix-cell')).toHaveCount(4);
    await expect(page.getByTestId('chart-roc').locator('.recharts-line')).toHaveCount(2);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'defences-phone', info.project.name);
    const scan = await new AxeBuilder({ page }).analyze();
    const serious = scan.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
  });
});
