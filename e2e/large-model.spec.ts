// A model of GPT-2 small's real size in the page: the fake Hub (scripts/fixtures/fake-hub-server.ts) serves a random
// checkpoint of GPT-2 small's shapes (548 MB: hub-fixtures.ts gpt2SmallFixture) and a 16-feature SAE at
// blocks.4.hook_resid_pre, at full speed. The page downloads it into this browser's storage (the origin-private file
// system: src/io/file-store.ts), loads it, and after a reload loads it again from there: the Hub's request log must
// show no request for model.safetensors after the first load. Prints the download time and the two
// load times (and writes them to figures/large-model.json). One project (fallback, on ?backend=wasm): storage does
// not depend on the backend.
import { type APIRequestContext, expect, type Page, test } from '@playwright/test';
import { FIXTURE_REPOS } from '../scripts/fixtures/hub-fixtures.ts';
import { chooseHubSources, recordFigure, screenshot } from './helpers.ts';

const HUB = process.env.E2E_HUB_URL!;
const WEIGHTS = `/${FIXTURE_REPOS.smallModel}/resolve/main/model.safetensors`;

interface Logged {
  path: string;
  range?: string;
}
const hubLog = async (request: APIRequestContext) => (await (await request.get(`${HUB}/_fake/log`)).json()) as Logged[];
const control = async (request: APIRequestContext, q: string) => expect((await request.get(`${HUB}/_fake/${q}`)).ok()).toBe(true);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

test.beforeEach(({ browserName }, info) => {
  test.skip(browserName !== 'chromium' || info.project.name !== 'fallback', 'storage does not depend on the backend (fallback project)');
});

const loaded = (page: Page) => expect(page.getByTestId('defence')).toContainText(/flips \d+ of 4 samples/, { timeout: 300_000 });

test("GPT-2 small's 548 MB is downloaded once into the browser's storage, and a reload loads it from there", async ({
  page,
  request,
}, info) => {
  test.setTimeout(600_000);
  await control(request, 'reset');
  await control(request, 'throttle'); // full speed
  await page.goto('/?backend=wasm#s=prompts');
  await expect(page.getByTestId('backend-name')).toHaveText('wasm', { timeout: 60_000 });
  await page.getByText('Hub settings').click();
  await page.getByTestId('hub-endpoint').fill(HUB);
  await page.getByTestId('hub-endpoint').blur();
  await chooseHubSources(page, FIXTURE_REPOS.smallModel, FIXTURE_REPOS.smallSae);

  const weightsRow = page.getByTestId('download').filter({ hasText: 'model.safetensors' });
  const start = Date.now();
  await page.getByTestId('model-load').click();
  await expect(weightsRow).toHaveAttribute('data-state', 'done', { timeout: 300_000 });
  const downloaded = Date.now();
  await loaded(page);
  const firstLoad = Date.now();
  await expect(weightsRow).toContainText('548.1 MB of 548.1 MB · done');
  await expect(weightsRow).not.toContainText('not kept');
  await expect(page.getByTestId('scenario-info')).toContainText('d = 768');
  // config.json, model.safetensors, cfg.json, sae_weights.safetensors (sparsity.safetensors: absent).
  await expect(page.getByTestId('hub-cache')).toContainText(/4 files, 548\.\d MB/);
  const storage = page.getByTestId('hub-storage');
  await expect(storage).toContainText("Kept in this site's own files (the origin-private file system); persistent storage");
  const persisted = await storage.getAttribute('data-persisted');
  expect(['true', 'false']).toContain(persisted);
  const first = await hubLog(request);
  const weightRequests = first.filter((l) => l.path === WEIGHTS);
  // The first range tells the size; the rest comes in ranges, each asked once.
  expect(weightRequests.length).toBeGreaterThan(4);
  expect(weightRequests.every((l) => /^bytes=\d+-\d+$/.test(l.range ?? ''))).toBe(true);

  await page.reload();
  const reloaded = Date.now();
  await loaded(page);
  const secondLoad = Date.now();
  // The weights go to the worker as a Blob over the stored file: the worker reads the tensors it keeps from it.
  await expect(weightsRow).toContainText("548.1 MB · from this browser's cache");
  const after = await hubLog(request);
  expect(after.slice(first.length).filter((l) => l.path === WEIGHTS)).toEqual([]);
  expect(after.slice(first.length).map((l) => l.path)).toEqual([]);

  const figures = {
    fileMB: 548.1,
    download: (downloaded - start) / 1000,
    firstLoadAfterDownload: (firstLoad - downloaded) / 1000,
    reloadToLoaded: (secondLoad - reloaded) / 1000,
    persistentStorage: persisted === 'true',
  };
  recordFigure('large-model', figures);
  const line = `GPT-2 small (548.1 MB): download ${seconds(downloaded - start)} (${((548.1 / (downloaded - start)) * 1000).toFixed(0)} MB/s, ${weightRequests.length} ranges), load after it ${seconds(firstLoad - downloaded)}; after a reload: reload to loaded ${seconds(secondLoad - reloaded)}; persistent storage ${persisted === 'true' ? 'granted' : 'not granted'}`;
  info.annotations.push({ type: 'large-model', description: line });
  console.log(line);
  await screenshot(page, 'large-model-reloaded', info.project.name);
});
