import { mkdirSync, writeFileSync } from 'node:fs';
import { expect, type Locator, type Page } from '@playwright/test';
import { FIXTURE_PROMPTS } from '../scripts/fixtures/hub-fixtures.ts';

/** Open the playground on a configuration (URL hash) and wait until the clamp has been applied. */
export async function openPlayground(page: Page, hash = '#s=probe-example&n=30&lr=0.05&b=2'): Promise<void> {
  await page.goto(`/${hash}`);
  await expect(page.getByTestId('backend-name')).not.toHaveText('…', { timeout: 60_000 });
  await expect(page.getByTestId('defence')).toContainText(/flips \d+ of \d+ samples/, { timeout: 90_000 });
}

/**
 * The text of every row of a table that draws only the rows in view (the samples table), one row a line: its scroll
 * box is scrolled through from top to bottom and the rows are read by their aria-rowindex.
 */
export const sampleRowsText = (table: Locator): Promise<string> =>
  table.evaluate(async (el) => {
    const box = el.parentElement!;
    const rows = new Map<number, string>();
    const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    for (let top = 0, i = 0; i < 1000; top += box.clientHeight / 2, i++) {
      box.scrollTop = top;
      await frame();
      for (const tr of el.querySelectorAll('tbody tr[aria-rowindex]'))
        rows.set(Number(tr.getAttribute('aria-rowindex')), tr.textContent ?? '');
      if (box.scrollTop + box.clientHeight >= box.scrollHeight - 1) break;
    }
    box.scrollTop = 0;
    return [...rows]
      .sort((a, b) => a[0] - b[0])
      .map(([, text]) => text)
      .join('\n');
  });

export async function screenshot(page: Page, name: string, project: string): Promise<void> {
  await page.screenshot({ path: `${process.env.E2E_OUTPUT ?? 'test-results'}/screens/${name}-${project}.png`, fullPage: true });
}

export const points = async (page: Page, id: string) => Number(await page.getByTestId(`chart-${id}`).getAttribute('data-points'));

/** A measured figure from an e2e test, for a generated document (scripts/faults.ts reads them back). */
export function recordFigure(name: string, figure: Record<string, unknown>): void {
  const dir = `${process.env.E2E_OUTPUT ?? 'test-results'}/figures`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/${name}.json`, JSON.stringify(figure, null, 2));
}

/** The step the run-status line shows. */
export const statusStep = async (page: Page) =>
  Number(/step (\d+)/.exec((await page.getByTestId('run-status').textContent()) ?? '')?.[1] ?? -1);

/**
 * In the model panel: a Hub model repository, an SAE as a Hub folder, and a prompt set chosen as a file (JSON lines);
 * the prompts default to the fake Hub's fixture set (scripts/fixtures/hub-fixtures.ts FIXTURE_PROMPTS).
 */
export async function chooseHubSources(
  page: Page,
  model: string,
  sae: string,
  prompts = FIXTURE_PROMPTS,
  file = 'names.jsonl',
): Promise<void> {
  await page.getByTestId('model-repo').fill(model);
  await page.getByRole('radio', { name: 'A Hub folder' }).check();
  await page.getByTestId('sae-ref').fill(sae);
  await page.getByRole('radio', { name: /My prompts/ }).check();
  await page.getByTestId('prompts-file').setInputFiles({ name: file, mimeType: 'application/jsonl', buffer: Buffer.from(prompts) });
}
