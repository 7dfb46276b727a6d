// Real models in the playground against the fake Hub (scripts/fixtures/fake-hub-server.ts, started by
// playwright.config.ts; nothing here touches the real Hub): download with progress, a reload served from the
// browser's storage (the origin-private file system; e2e/large-model.spec.ts does it at GPT-2 small's size), a reload
// with the Hub gone, resume after a dropped connection, each failure said clearly, the token in
// a header only, clearing the cache, and the paper's IOI preset in one click (the fake Hub serves a tiny stand-in at
// the paper's paths).
import { type APIRequestContext, expect, type Page, test } from '@playwright/test';
import { FIXTURE_REPOS } from '../scripts/fixtures/hub-fixtures.ts';
import { chooseHubSources, screenshot } from './helpers.ts';

const HUB = process.env.E2E_HUB_URL!;
const WEIGHTS = `/${FIXTURE_REPOS.model}/resolve/main/model.safetensors`;

interface Logged {
  path: string;
  method: string;
  range?: string;
  auth?: string;
}
const hubLog = async (request: APIRequestContext) => (await (await request.get(`${HUB}/_fake/log`)).json()) as Logged[];
const control = async (request: APIRequestContext, q: string) => expect((await request.get(`${HUB}/_fake/${q}`)).ok()).toBe(true);

test.beforeEach(async ({ browserName, request }, info) => {
  const webgpu = info.title.includes('WebGPU');
  test.skip(
    browserName !== 'chromium' || info.project.name !== (webgpu ? 'webgpu' : 'fallback'),
    'downloads do not depend on the backend (fallback project); the buffer limit is WebGPU’s',
  );
  await control(request, 'reset');
});

/** Open the "Your model, SAE and prompts" scenario with the fake Hub as the endpoint; `query`, e.g. `?backend=webgpu`. */
async function openModels(page: Page, scenario = 'prompts', query = ''): Promise<void> {
  await page.goto(`/${query}#s=${scenario}`);
  await expect(page.getByTestId('backend-name')).not.toHaveText('…', { timeout: 60_000 });
  await expect(page.getByTestId('model-panel')).toBeVisible();
  await page.getByText('Hub settings').click();
  await page.getByTestId('hub-endpoint').fill(HUB);
  await page.getByTestId('hub-endpoint').blur();
}

const loaded = (page: Page) => expect(page.getByTestId('defence')).toContainText(/flips \d+ of 4 samples/, { timeout: 90_000 });
const alert = (page: Page) => page.getByRole('alert');

test('downloads a model, an SAE and prompts with progress; a reload comes from the cache, with the Hub gone too', async ({
  page,
  request,
}, info) => {
  // Every request the page and its worker make: only this app and the configured endpoint may be asked.
  const origins = new Set<string>();
  page.on('request', (r) => {
    if (/^https?:/.test(r.url())) origins.add(new URL(r.url()).origin);
  });
  await openModels(page);
  await chooseHubSources(page, FIXTURE_REPOS.model, FIXTURE_REPOS.sae);
  // Every progress text shown while a file was downloading.
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { __seen: string[] }).__seen = seen;
    new MutationObserver(() =>
      document.querySelectorAll('[data-testid="download"][data-state="downloading"]').forEach((e) => seen.push(e.textContent ?? '')),
    ).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await page.getByTestId('model-load').click();
  await loaded(page);
  const seen = await page.evaluate(() => (window as unknown as { __seen: string[] }).__seen);
  expect(seen.some((t) => /model\.safetensors.*\d+\.\d kB of 808\.9 kB · [\d.]+ [kM]B\/s · .* left/.test(t))).toBe(true);
  const rows = page.getByTestId('download');
  await expect(rows).toHaveCount(4);
  await expect(rows.filter({ hasText: 'model.safetensors' })).toContainText('808.9 kB of 808.9 kB · done');
  await expect(page.getByTestId('sae-check')).toContainText(/L0 [\d.]+, explained variance -?[\d.]+, next-token loss/);
  await expect(page.getByTestId('hub-cache')).toContainText('4 files, 810.1 kB');
  await screenshot(page, 'models-loaded', info.project.name);
  const first = await hubLog(request);
  // config.json, the tokenizer files and the weights index (absent for this GPT-2: 404), the weights, cfg.json, the
  // SAE weights, sparsity.safetensors (absent): one request each.
  expect(first.map((l) => l.path.split('/').pop()).sort()).toEqual([
    'cfg.json',
    'config.json',
    'model.safetensors',
    'model.safetensors.index.json',
    'sae_weights.safetensors',
    'sparsity.safetensors',
    'tokenizer.json',
    'tokenizer_config.json',
  ]);

  await page.reload();
  await loaded(page);
  await expect(rows.filter({ hasText: 'model.safetensors' })).toContainText("808.9 kB · from this browser's cache");
  expect(await hubLog(request)).toHaveLength(first.length);

  // The Hub stops answering (loopback stays up, so the browser's offline switch would not cut it).
  await control(request, 'offline?on=1');
  await page.reload();
  await loaded(page);
  expect(await hubLog(request)).toHaveLength(first.length);
  expect([...origins].sort()).toEqual([new URL(page.url()).origin, new URL(HUB).origin].sort());
});

test('a dropped connection resumes from the byte it reached', async ({ page, request }) => {
  await control(request, `mode?path=${encodeURIComponent(WEIGHTS)}&mode=drop-once`);
  await openModels(page);
  await chooseHubSources(page, FIXTURE_REPOS.model, FIXTURE_REPOS.sae);
  await page.getByTestId('model-load').click();
  await loaded(page);
  const ranges = (await hubLog(request)).filter((l) => l.path === WEIGHTS).map((l) => l.range);
  expect(ranges).toHaveLength(2);
  expect(ranges[1]).toMatch(/^bytes=(\d+)-808887$/);
  expect(Number(/=(\d+)-/.exec(ranges[1]!)![1])).toBeGreaterThan(0);
});

test('a missing file, a gated repository and a truncated download each say what went wrong; the token goes in a header only', async ({
  page,
  request,
}) => {
  await openModels(page);
  await chooseHubSources(page, 'test/no-such-model', FIXTURE_REPOS.sae);
  await page.getByTestId('model-load').click();
  await expect(alert(page)).toContainText(
    'hf:test/no-such-model@main/config.json was not found on the Hub (check the repository id, the folder and the revision)',
  );
  await page.getByRole('button', { name: 'Dismiss' }).click();

  await page.getByTestId('model-repo').fill(FIXTURE_REPOS.gatedModel);
  await page.getByTestId('model-load').click();
  await expect(alert(page)).toContainText(
    'hf:gated/tiny-gpt2@main/config.json needs an access token (a gated or private repository): enter a Hub access token in the settings',
  );
  await page.getByRole('button', { name: 'Dismiss' }).click();
  // With a token (and the pre-6.0 SAE cfg this time) it loads; the token is in no URL and in no saved setting.
  await page.getByTestId('hub-token').fill('secret-token-123');
  await page.getByTestId('sae-ref').fill(FIXTURE_REPOS.saePre6);
  await page.getByTestId('model-load').click();
  await loaded(page);
  const gated = (await hubLog(request)).filter((l) => l.path.startsWith('/gated/'));
  expect(gated.at(-1)?.auth).toBe('Bearer secret-token-123');
  expect((await hubLog(request)).every((l) => !l.path.includes('secret'))).toBe(true);
  expect(page.url()).not.toContain('secret');
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }));
  expect(stored).not.toContain('secret');

  await control(request, `mode?path=${encodeURIComponent(WEIGHTS)}&mode=truncate`);
  await page.getByTestId('model-repo').fill(FIXTURE_REPOS.model);
  await page.getByTestId('model-load').click();
  await expect(alert(page)).toContainText(
    /hf:test\/tiny-gpt2@main\/model\.safetensors: download failed after 5 tries: the connection dropped at \d+ of 808888 bytes/,
    { timeout: 60_000 },
  );
  await expect(page.getByTestId('download').filter({ hasText: 'model.safetensors' })).toHaveAttribute('data-state', 'failed');
});

test('leaving the scenario during a download cancels it: the chosen scenario stays loaded', async ({ page, request }) => {
  await control(request, 'throttle?chunk=8192&delay=50');
  await openModels(page);
  await chooseHubSources(page, FIXTURE_REPOS.model, FIXTURE_REPOS.sae);
  await page.getByTestId('model-load').click();
  await expect(page.getByTestId('download').filter({ hasText: 'model.safetensors' })).toHaveAttribute('data-state', 'downloading');
  await page.getByTestId('scenario-select').selectOption('ioi');
  await expect(page.getByTestId('defence')).toContainText(/flips \d+ of 64 samples/, { timeout: 90_000 });
  // The cancelled download never loads over it, and nothing of it was cached.
  await page.waitForTimeout(3000);
  await expect(page.getByTestId('scenario-select')).toHaveValue('ioi');
  await expect(page.getByTestId('scenario-info')).not.toContainText('blocks.1.hook_resid_pre');
  await page.getByTestId('scenario-select').selectOption('prompts');
  await expect(page.getByTestId('model-waiting')).toContainText('2 files to download');
});

test('clearing the downloaded files empties the cache; the next visit asks before downloading again', async ({ page, request }) => {
  await openModels(page);
  await chooseHubSources(page, FIXTURE_REPOS.model, FIXTURE_REPOS.sae);
  await page.getByTestId('model-load').click();
  await loaded(page);
  await expect(page.getByTestId('hub-cache')).toContainText('4 files');
  await page.getByTestId('hub-clear').click();
  await expect(page.getByTestId('hub-cache')).toContainText('0 files, 0 B');
  const before = (await hubLog(request)).length;
  await page.reload();
  await expect(page.getByTestId('model-waiting')).toContainText('4 files to download');
  await expect(page.getByTestId('defence')).toHaveCount(0);
  expect(await hubLog(request)).toHaveLength(before);
});

test("the paper's IOI preset says what it needs without a network, then loads in one click and shows the paper's figures beside ours", async ({
  page,
  request,
}, info) => {
  await openModels(page, 'paper-ioi');
  await control(request, 'offline?on=1');
  await page.getByTestId('model-load').click();
  await expect(alert(page)).toContainText(`hf:openai-community/gpt2@main/config.json: cannot reach ${HUB}`, { timeout: 30_000 });
  await expect(page.getByText('Without a network: see “What this needs” above')).toBeVisible();
  await page.getByText('What this needs, and how to run it without a network').click();
  await expect(page.getByTestId('paper-needs')).toContainText(
    'choose “Local files” above and pick each folder (or drop its files), or point the Hub endpoint at a mirror',
  );
  await page.getByRole('button', { name: 'Dismiss' }).click();
  await control(request, 'offline?on=0');
  await page.getByTestId('model-load').click();
  await expect(page.getByTestId('defence')).toContainText(/flips \d+ of 64 samples/, { timeout: 120_000 });
  await expect(page.getByTestId('paper-figures')).toContainText('37 of 64');
  await screenshot(page, 'models-paper-ioi', info.project.name);
});

test('on WebGPU a model whose largest weight no GPU buffer holds is refused, naming the figure and the limit, before its weights download', async ({
  page,
  request,
}) => {
  // WebGPU asked for: on SwiftShader the page would start on the faster wasm, whose limit is its heap.
  await openModels(page, 'prompts', '?backend=webgpu');
  await expect(page.getByTestId('backend-name')).toHaveText('webgpu');
  await chooseHubSources(page, FIXTURE_REPOS.hugeModel, FIXTURE_REPOS.sae);
  await page.getByTestId('model-load').click();
  await expect(alert(page)).toContainText(
    /this run needs one GPU buffer of [\d.]+ GB for a block's W_in \(1048576 × 4194304 floats\); WebGPU here allows at most [\d.]+ [MG]B \(\d+ [MG]iB\) in one buffer/,
  );
  // The small files only (the model's config and tokenizer files, the SAE's cfg.json): no weights.
  expect((await hubLog(request)).map((l) => l.path.split('/resolve/main/')[1])).toEqual([
    'config.json',
    'tokenizer.json',
    'tokenizer_config.json',
    `${FIXTURE_REPOS.sae.split('/').slice(2).join('/')}/cfg.json`,
  ]);
});

test('on WebGPU a GPT-2-small-wide model loads: its 154 MB token embedding is over the default 128 MiB binding', async ({
  page,
  request,
}, info) => {
  test.setTimeout(480_000);
  await control(request, 'throttle'); // full speed: 185 MB
  // The binding limit is WebGPU's own: asked for by name, as the page's default on SwiftShader is wasm.
  await openModels(page, 'prompts', '?backend=webgpu');
  await expect(page.getByTestId('backend-name')).toHaveText('webgpu');
  await chooseHubSources(page, FIXTURE_REPOS.wideModel, FIXTURE_REPOS.wideSae);
  const started = Date.now();
  await page.getByTestId('model-load').click();
  await expect(page.getByTestId('defence')).toContainText(/flips \d+ of 4 samples/, { timeout: 420_000 });
  await expect(page.getByTestId('backend-name')).toHaveText('webgpu');
  await expect(page.getByTestId('scenario-info')).toContainText('d = 768');
  info.annotations.push({ type: 'load', description: `download + load + defence: ${((Date.now() - started) / 1000).toFixed(1)} s` });
  console.log(`wide model on WebGPU: download + load + defence in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await screenshot(page, 'models-wide-webgpu', info.project.name);
});
