// Placing δ and B's read-out in the prompt-set editor (?view=prompts): clicking a token toggles a δ position or
// makes it the read-out, the marks show on the tokens, a row's bad placement is named in the loader's words, and
// the exported JSONL carries `delta_positions` and `readout_position`.
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page, test } from '@playwright/test';
import { screenshot } from './helpers.ts';

/** No serious or critical accessibility violation on the page as it stands. */
async function accessible(page: Page) {
  const scan = await new AxeBuilder({ page }).analyze();
  const serious = scan.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

async function exported(page: Page): Promise<Record<string, unknown>[]> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('prompt-export').click()]);
  const chunks: Buffer[] = [];
  for await (const c of await download.createReadStream()) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

test.beforeEach(({ browserName }, info) =>
  test.skip(
    browserName !== 'chromium' || info.project.name === 'webgpu',
    'the editor does not depend on the backend: fallback and phone projects',
  ),
);

test('click tokens to place δ and the read-out; the marks, the problems and the exported JSONL follow', async ({ page }, info) => {
  await page.goto('/?view=prompts');
  await expect(page.getByText('Tokenised with the built-in model')).toBeVisible({ timeout: 30_000 });
  await page.getByText('Generate prompts from a template').click();
  await page.getByTestId('template-n').fill('3');
  await page.getByTestId('template-replace').click();
  const rows = page.getByTestId('prompt-row');
  await expect(page.getByTestId('prompt-summary')).toContainText('3 prompts, all fine');
  const tokens = rows.first().locator('.pe-tok');
  const n = await tokens.count();
  // By default δ and the read-out sit at the last token, and a click only names the token.
  await expect(tokens.nth(n - 1)).toHaveClass(/tok-delta/);
  await expect(tokens.nth(n - 1)).toHaveClass(/tok-readout/);
  await tokens.nth(3).click();
  await expect(rows.first().getByTestId('prompt-token-info')).toHaveText(/^position 3, token id \d+$/);
  await expect(tokens.nth(3)).not.toHaveClass(/tok-delta/);

  // δ mode: a click adds position 3 (the last token keeps its δ, written -1).
  await page.getByRole('radio', { name: 'adds or removes a δ position' }).check();
  await tokens.nth(3).click();
  await expect(tokens.nth(3)).toHaveClass(/tok-delta/);
  await expect(tokens.nth(3)).toHaveAttribute('aria-pressed', 'true');
  await expect(rows.first().getByTestId('prompt-token-info')).toContainText('δ is added here');
  await expect(page.getByTestId('prompt-jsonl')).toContainText('"delta_positions":[3,-1]');
  // Prompt 1 now has two δ positions and prompt 2 one: a shared δ cannot serve both, and the editor says so.
  await expect(page.getByTestId('prompt-alignment')).toContainText('prompt 1 has 2 (positions 3, -1) and prompt 2 has 1 (position -1)');
  // From the keyboard: the last token's δ is removed with Enter.
  await tokens.nth(n - 1).focus();
  await page.keyboard.press('Enter');
  await expect(tokens.nth(n - 1)).not.toHaveClass(/tok-delta/);
  await expect(tokens.nth(n - 1)).toHaveClass(/tok-readout/);
  await expect(page.getByTestId('prompt-alignment')).toHaveCount(0);

  // Read-out mode: before the δ position is a problem in the loader's words; after it is fine.
  await page.getByRole('radio', { name: "sets B's read-out" }).check();
  await tokens.nth(2).click();
  await expect(rows.first().getByTestId('prompt-problem')).toHaveText(
    'δ position 3 comes after the read-out position 2, and δ there cannot change B (attention only looks back): move "readout_position" to 3 or later, or drop that δ position',
  );
  await expect(page.getByTestId('prompt-summary')).toContainText('3 prompts, 1 with a problem');
  await tokens.nth(5).click();
  await expect(page.getByTestId('prompt-summary')).toContainText('3 prompts, all fine');
  await expect(tokens.nth(5)).toHaveClass(/tok-readout/);
  await expect(tokens.nth(5)).toHaveAttribute('aria-pressed', 'true');
  await expect(tokens.nth(n - 1)).not.toHaveClass(/tok-readout/);
  await screenshot(page, 'prompt-positions', info.project.name);
  await accessible(page);

  // The export carries the placed fields; untouched rows are written as before.
  const lines = await exported(page);
  expect(lines).toHaveLength(3);
  expect(lines[0]).toMatchObject({ delta_positions: [3], readout_position: 5 });
  expect(Object.keys(lines[0])).toEqual(['prompt', 'target', 'contrast', 'delta_positions', 'readout_position']);
  expect(Object.keys(lines[1])).toEqual(['prompt', 'target', 'contrast']);

  // An imported set's placements are checked once tokenised: a position past the prompt is named on its row.
  await page.getByTestId('prompt-import').setInputFiles({
    name: 'placed.jsonl',
    mimeType: 'application/jsonl',
    buffer: Buffer.from(
      '{"prompt": "Then , Mary and John went to the park . John gave a ring to", "target": "Mary", "contrast": "John", "delta_positions": [40]}\n',
    ),
  });
  await expect(rows).toHaveCount(1);
  await expect(rows.first().getByTestId('prompt-problem')).toHaveText(
    "δ position 40 is outside the prompt's 15 tokens (0..14, or -15..-1 from the end)",
  );
});
