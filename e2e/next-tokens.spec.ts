// The next-token view on the built-in IOI scenario (three columns; the recovered one follows the run), and the
// prompt-set editor on its page (?view=prompts): template, per-row problems, tokens, export and import.
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page, test } from '@playwright/test';
import { openPlayground, screenshot } from './helpers.ts';

/** No serious or critical accessibility violation on the page as it stands. */
async function accessible(page: Page) {
  const scan = await new AxeBuilder({ page }).analyze();
  const serious = scan.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

// The views are the page's, not the backend's: the fallback and phone projects run them (the WebGPU engine's own
// tests are engine, playground, parity and reliability).
test.beforeEach(({ browserName }, info) =>
  test.skip(browserName !== 'chromium' || info.project.name === 'webgpu', 'fallback and phone projects'),
);

test.describe('next tokens', () => {
  test('base, defended and recovered side by side; stepping the run moves the recovered column', async ({ page }, info) => {
    await openPlayground(page, '#s=ioi');
    await page.getByRole('tab', { name: 'Next tokens' }).click();
    const view = page.getByTestId('next-tokens');
    await expect(view).toBeVisible();
    for (const col of ['nt-base', 'nt-defended', 'nt-recovered']) {
      await expect(page.getByTestId(col).locator('tbody tr')).toHaveCount(10);
      await expect(page.getByTestId(col).locator('tbody tr').first()).toContainText(/\d+\.\d%/);
    }
    // The prompt picker starts on a valid flip: B positive for the base model, not for the defended one.
    await expect(page.getByTestId('next-tokens-prompt')).toContainText('(valid flip)');
    const readout = async (col: string) => Number(await page.getByTestId(`${col}-readout`).textContent());
    expect(await readout('nt-base')).toBeGreaterThan(0);
    expect(await readout('nt-defended')).toBeLessThanOrEqual(0);
    // B's target and contrast show wherever they rank, with their probability.
    await expect(page.getByTestId('nt-defended-terms').locator('.nt-target')).toHaveText(/^\S+ \d+\.\d% \(#\d+\)$/);
    await expect(page.getByTestId('nt-defended-terms').locator('.nt-contrast')).toHaveText(/^\S+ \d+\.\d% \(#\d+\)$/);
    await expect(page.getByTestId('nt-base-terms').locator('.nt-target')).toContainText('(#1)');
    await expect(page.getByTestId('nt-recovered')).toContainText('no run yet');
    expect(await readout('nt-recovered')).toBe(await readout('nt-defended'));
    await expect(page.getByTestId('next-tokens-prompt-tokens')).toContainText('→ ?');
    await screenshot(page, 'next-tokens-before', info.project.name);

    const before = await readout('nt-recovered');
    const step = page.locator('[data-action="step"]');
    for (let i = 1; i <= 5; i++) {
      await step.click();
      await expect(page.getByTestId('run-status')).toContainText(`step ${i} /`);
    }
    await expect(page.getByTestId('nt-recovered')).toContainText('step 5');
    await expect.poll(() => readout('nt-recovered')).not.toBe(before);
    expect(await readout('nt-recovered')).toBeGreaterThan(await readout('nt-defended'));
    await page.getByTestId('next-tokens').scrollIntoViewIfNeeded();
    await screenshot(page, 'next-tokens-after', info.project.name);
    await accessible(page);

    // Another prompt: the view follows the picker.
    const first = await page.getByTestId('next-tokens-prompt-tokens').textContent();
    const picker = page.getByTestId('next-tokens-prompt');
    await picker.selectOption((await picker.inputValue()) === '0' ? '1' : '0');
    await expect(page.getByTestId('next-tokens-prompt-tokens')).not.toHaveText(first ?? '');
  });
});

test.describe('prompt-set editor', () => {
  test('generate from a template, see each row’s problem and tokens, export and import JSONL', async ({ page }, info) => {
    await page.goto('/?view=prompts');
    await expect(page.getByText('Tokenised with the built-in model')).toBeVisible({ timeout: 30_000 });
    await page.getByText('Generate prompts from a template').click();
    await page.getByTestId('template-n').fill('6');
    await page.getByTestId('template-replace').click();
    const rows = page.getByTestId('prompt-row');
    await expect(rows).toHaveCount(6);
    await expect(page.getByTestId('prompt-summary')).toContainText('6 prompts, all fine');
    // The same seed gives the same set.
    const jsonl = await page.getByTestId('prompt-jsonl').textContent();
    await page.getByTestId('template-replace').click();
    expect(await page.getByTestId('prompt-jsonl').textContent()).toBe(jsonl);

    // A template error says what is wrong.
    await page.getByTestId('template-prompt').fill('Then, [B] and [A] went to the [ROOM]. [B] gave a [OBJECT] to');
    await page.getByTestId('template-replace').click();
    await expect(page.getByTestId('template-error')).toContainText('slot [ROOM] has no word list');

    // A completion of two words is flagged on its row, in the loader's words.
    await page.getByLabel('target 2', { exact: true }).fill('Mary John');
    await expect(rows.nth(1).getByTestId('prompt-problem')).toHaveText(
      'target "Mary John" is 2 tokens; a completion must be exactly one token (mind the leading space)',
    );
    await expect(page.getByTestId('prompt-summary')).toContainText('6 prompts, 1 with a problem');
    await page.getByTestId('prompt-add').click();
    await expect(rows.nth(6).getByTestId('prompt-problem')).toHaveText('"prompt" is empty');
    // Tokens: the last one is where δ and the read-out sit; clicking names the position and id.
    const tokens = rows.first().locator('.pe-tok');
    const n = await tokens.count();
    expect(n).toBeGreaterThan(10);
    await tokens.nth(n - 1).click();
    await expect(rows.first().getByTestId('prompt-token-info')).toContainText(`position ${n - 1}, token id`);
    await expect(rows.first().getByTestId('prompt-token-info')).toContainText("δ and B's read-out sit here");
    await screenshot(page, 'prompt-editor', info.project.name);
    await accessible(page);
    await page.getByRole('button', { name: 'remove prompt 7' }).click();
    await page.getByLabel('target 2', { exact: true }).fill('Mary');

    // Export: the file is the set as JSON lines.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('prompt-export').click()]);
    expect(download.suggestedFilename()).toBe('prompts.jsonl');
    const stream = await download.createReadStream();
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const lines = Buffer.concat(chunks)
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(6);
    expect(lines[1].target).toBe('Mary');
    expect(Object.keys(lines[0])).toEqual(['prompt', 'target', 'contrast']);

    // Import: a good file replaces the set and names it; a bad one is refused with its line.
    await page.getByTestId('prompt-import').setInputFiles({
      name: 'mine.jsonl',
      mimeType: 'application/jsonl',
      buffer: Buffer.from(
        '{"prompt": "Then , Mary and John went to the park . John gave a ring to", "target": "Mary", "contrast": "John"}\n',
      ),
    });
    await expect(rows).toHaveCount(1);
    await expect(page.getByTestId('prompt-set-name')).toHaveValue('mine.jsonl');
    await expect(page.getByTestId('prompt-summary')).toContainText('1 prompt, all fine');
    await page
      .getByTestId('prompt-import')
      .setInputFiles({ name: 'bad.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from('{oops\n') });
    await expect(page.getByTestId('prompt-import-error')).toContainText('bad.jsonl, line 1: not JSON');
    await expect(rows).toHaveCount(1);

    // GPT-2's BPE, loaded on demand: the template's completions get their leading space, and a prompt is BPE tokens.
    await page.getByTestId('prompt-tokenizer').selectOption('gpt2');
    await expect(page.getByText("Tokenised with GPT-2's byte-level BPE")).toBeVisible({ timeout: 30_000 });
    await page.getByText('Generate prompts from a template').click();
    await expect(page.getByTestId('template-target')).toHaveValue(' [A]');
    await page.getByTestId('template-n').fill('4');
    await page.getByTestId('template-replace').click();
    await expect(page.getByTestId('prompt-summary')).toContainText('4 prompts, all fine');
    await expect(rows.first().locator('.pe-tok').first()).toHaveText('Then');
    await page.getByLabel('target 1', { exact: true }).fill(' Mary Ann');
    await expect(rows.first().getByTestId('prompt-problem')).toContainText('target " Mary Ann" is 2 tokens');
  });
});

test.describe('prompt-set editor in the model panel', () => {
  test('"My prompts" edits the set the model scenario loads, and a chosen file shows in the editor', async ({ page }, info) => {
    await page.goto('/#s=prompts');
    await expect(page.getByTestId('model-panel')).toBeVisible({ timeout: 60_000 });
    await page.getByRole('radio', { name: /My prompts/ }).check();
    await page.getByText('Edit or generate the prompts').click();
    const editor = page.getByTestId('model-prompt-editor');
    await editor.getByText('Generate prompts from a template').click();
    // GPT-2's BPE: the completions' leading space, and each prompt checked once the tokenizer has arrived.
    await expect(editor.getByTestId('template-target')).toHaveValue(' [A]');
    await editor.getByTestId('template-n').fill('5');
    await editor.getByTestId('template-replace').click();
    await expect(editor.getByTestId('prompt-summary')).toContainText('5 prompts, all fine', { timeout: 30_000 });
    await expect(editor.getByTestId('prompt-row').first().locator('.pe-tok').first()).toBeVisible();
    // The model panel now holds the set (its file label names it).
    await expect(page.getByText('Prompt file (.jsonl) — prompts.jsonl')).toBeVisible();
    await screenshot(page, 'model-prompt-editor', info.project.name);
    await accessible(page);
    // A file chosen in the panel is what the editor shows.
    await page.getByTestId('prompts-file').setInputFiles({
      name: 'two.jsonl',
      mimeType: 'application/jsonl',
      buffer: Buffer.from(
        '{"prompt": "When Mary and John went to the store, John gave a drink to", "target": " Mary", "contrast": " John"}\n' +
          '{"prompt": "Friends call him Tom", "target": " and so", "contrast": "."}\n',
      ),
    });
    await expect(editor.getByTestId('prompt-row')).toHaveCount(2);
    await expect(editor.getByTestId('prompt-set-name')).toHaveValue('two.jsonl');
    await expect(editor.getByTestId('prompt-row').nth(1).getByTestId('prompt-problem')).toContainText('target " and so" is 2 tokens');
  });
});
