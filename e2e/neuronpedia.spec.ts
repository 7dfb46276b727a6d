// Feature labels from Neuronpedia in the defence panel, against a fake Neuronpedia this spec starts on 127.0.0.1
// (scripts/fixtures/fake-neuronpedia.ts) and the fake Hub playwright.config.ts starts (the paper's IOI preset is served
// there at the paper's paths, so its SAE is gpt2-small-res-jb layer 4, which the page names gpt2-small/4-res-jb).
// Nothing is asked before the button; progress, cancel and a refused key are shown; the labels feed the table and its
// search; a reload asks the browser's cache, not the server; the key goes in the x-api-key header only.
import { expect, type Page, test } from '@playwright/test';
import { FakeNeuronpedia } from '../scripts/fixtures/fake-neuronpedia.ts';
import { FIXTURE_REPOS } from '../scripts/fixtures/hub-fixtures.ts';
import { chooseHubSources, screenshot } from './helpers.ts';

const HUB = process.env.E2E_HUB_URL!;
const KEY = 'np-secret-key-456';
const np = new FakeNeuronpedia();

test.beforeAll(async () => {
  await np.start();
  for (let i = 0; i < 64; i++) np.put('gpt2-small', '4-res-jb', i, [`fake neuronpedia label ${i}`]);
  // Six of the fixture SAE's eight features: the other two are not on this "Neuronpedia".
  for (let i = 0; i < 6; i++) np.put('tiny-gpt2', '1-res-test', i, [`typed source label ${i}`]);
});
test.afterAll(() => np.stop());

test.beforeEach(async ({ browserName, request }, info) => {
  test.skip(browserName !== 'chromium' || info.project.name !== 'fallback', 'labels do not depend on the backend (fallback project)');
  expect((await request.get(`${HUB}/_fake/reset`)).ok()).toBe(true);
  np.reset();
});

const alert = (page: Page) => page.getByRole('alert');

async function openModelScenario(page: Page, scenario: string): Promise<void> {
  await page.goto(`/#s=${scenario}`);
  await expect(page.getByTestId('backend-name')).not.toHaveText('…', { timeout: 60_000 });
  await page.getByText('Hub settings').click();
  await page.getByTestId('hub-endpoint').fill(HUB);
  await page.getByTestId('hub-endpoint').blur();
}

async function setNeuronpedia(page: Page, key?: string): Promise<void> {
  const details = page.getByTestId('neuronpedia').locator('details');
  if (!(await details.getAttribute('open'))) await details.locator('summary').click();
  await page.getByTestId('np-endpoint').fill(np.url);
  await page.getByTestId('np-endpoint').blur();
  if (key) await page.getByTestId('np-key').fill(key);
}

const labelled = (page: Page) => page.getByTestId('feature-table').locator('td.label-cell', { hasText: 'fake neuronpedia label' });

test("the paper's SAE: labels for the features on screen, with progress, cancel, a refused key, and the cache after a reload", async ({
  page,
}, info) => {
  test.setTimeout(420_000); // the paper's 64 prompts load twice (the reload), on a software GPU
  await openModelScenario(page, 'paper-ioi');
  await page.getByTestId('model-load').click();
  await expect(page.getByTestId('defence')).toContainText(/flips \d+ of 64 samples/, { timeout: 120_000 });
  expect(np.log).toHaveLength(0); // nothing before the button
  await expect(page.getByTestId('np-explain')).toContainText('(gpt2-small/4-res-jb, the loaded SAE)');
  await expect(page.getByTestId('np-explain')).toContainText(
    'Neuronpedia limits requests per hour and asks that labels in bulk come from its export files',
  );
  await expect(page.getByTestId('np-model')).toHaveCount(0);
  await setNeuronpedia(page, KEY);
  // The stand-in SAE has 8 features, all on screen.
  const button = page.getByTestId('np-fetch');
  await expect(button).toHaveText('Fetch labels from Neuronpedia (8)');

  // A cancel stops the requests in flight.
  np.modes.set('*', 'slow');
  np.slowMs = 10_000;
  await button.click();
  await expect(page.getByTestId('np-progress')).toHaveText('0 of 8');
  await page.getByTestId('np-cancel').click();
  await expect(page.getByRole('status').filter({ hasText: 'Neuronpedia: stopped; the 0 labels that came are kept.' })).toBeVisible();
  await expect(page.getByTestId('np-progress')).toHaveCount(0);

  // A refused key is said as the page's other errors are.
  np.modes.set('*', 'status-401');
  await button.click();
  await expect(alert(page)).toContainText('Neuronpedia refused the API key (status 401); check it at neuronpedia.org/account');
  await expect(alert(page)).not.toContainText(KEY);
  await alert(page).getByRole('button', { name: 'Dismiss' }).click();

  // Each answer waits a little, so the progress can be seen.
  np.reset();
  np.modes.set('*', 'slow');
  np.slowMs = 500;
  await button.click();
  await expect(page.getByTestId('np-progress')).toContainText(/^[1-7] of 8$/);
  await expect(page.getByRole('status').filter({ hasText: 'Neuronpedia (gpt2-small/4-res-jb): 8 labels for 8 features.' })).toBeVisible({
    timeout: 30_000,
  });
  await expect(page.getByTestId('np-progress')).toHaveCount(0);
  expect(np.maxInFlight).toBe(4);
  expect(np.log).toHaveLength(8);
  // The key went in the header, and nowhere else.
  expect(np.log.every((l) => l.key === KEY && !l.path.includes(KEY))).toBe(true);
  expect(page.url()).not.toContain(KEY);
  expect(await page.evaluate(() => JSON.stringify({ ...localStorage }))).not.toContain(KEY);
  // The table and its search use them.
  await expect(labelled(page)).toHaveCount(8);
  await page.getByTestId('feature-search').fill('label 3 neuronpedia');
  await expect(labelled(page)).toHaveCount(1);
  await expect(labelled(page)).toHaveText('fake neuronpedia label 3');
  await page.getByTestId('feature-search').fill('');
  await expect(button).toHaveText('Fetch labels from Neuronpedia (0)');
  await expect(button).toBeDisabled();
  await screenshot(page, 'neuronpedia-labels', info.project.name);

  // After a reload (labels and the key live in the tab) the same features come from this browser's cache.
  np.modes.clear();
  await page.reload();
  await expect(page.getByTestId('defence')).toContainText(/flips \d+ of 64 samples/, { timeout: 120_000 });
  await expect(labelled(page)).toHaveCount(0);
  await setNeuronpedia(page);
  await expect(page.getByTestId('np-key')).toHaveValue('');
  await button.click();
  await expect(page.getByRole('status').filter({ hasText: "8 labels for 8 features (8 from this browser's cache)" })).toBeVisible();
  await expect(labelled(page)).toHaveCount(8);
  expect(np.log).toHaveLength(8);
});

test('an SAE the page cannot name: the model id and source are typed; built-in scenarios do not offer it', async ({ page }) => {
  await openModelScenario(page, 'prompts');
  await chooseHubSources(page, FIXTURE_REPOS.model, FIXTURE_REPOS.sae);
  await page.getByTestId('model-load').click();
  await expect(page.getByTestId('defence')).toContainText(/flips \d+ of 4 samples/, { timeout: 90_000 });
  await setNeuronpedia(page);
  const button = page.getByTestId('np-fetch');
  await expect(button).toBeDisabled();
  await expect(page.getByTestId('np-explain')).toContainText("Give the SAE's Neuronpedia model id and source");
  await page.getByTestId('np-model').fill('tiny-gpt2');
  await page.getByTestId('np-source').fill('1-res-test');
  await expect(button).toBeEnabled();
  await button.click();
  // Features the source does not hold are counted, not an error.
  await expect(
    page.getByRole('status').filter({ hasText: 'Neuronpedia (tiny-gpt2/1-res-test): 6 labels for 8 features (2 not on Neuronpedia).' }),
  ).toBeVisible({ timeout: 30_000 });
  await page.getByTestId('feature-search').fill('typed source');
  await expect(page.getByTestId('feature-table').locator('td.label-cell', { hasText: 'typed source label' })).toHaveCount(6);
  expect(np.log.every((l) => l.key === undefined && !l.headers.includes('x-api-key'))).toBe(true);

  await page.getByTestId('scenario-select').selectOption('ioi');
  await expect(page.getByTestId('defence')).toContainText(/flips \d+ of 64 samples/, { timeout: 90_000 });
  await expect(page.getByTestId('neuronpedia')).toHaveCount(0);
});
