// The model families in the page's "Your model, SAE and prompts", against the fake Hub (scripts/fixtures/hub-fixtures.ts
// serveFamilyFixtures): a Gemma-2 checkpoint served as two BF16 shards behind an index, with its tokenizer files and a
// Gemma Scope SAE chosen by the closest-L0 rule, and a Pythia (GPT-NeoX) checkpoint with a SAELens SAE. Each loads, says
// what it loaded and runs. On the webgpu project Gemma-2's weights stay in 16 bits on the device (SwiftShader's WebGPU,
// the 16-bit kernels of src/engine/webgpu-matmul16.ts): the run must give the numbers the same page gives on wasm,
// where the weights are widened to float32.
import { type APIRequestContext, expect, type Page, test } from '@playwright/test';
import { FAMILY_PROMPTS, FAMILY_REPOS } from '../scripts/fixtures/hub-fixtures.ts';
import { chooseHubSources, screenshot } from './helpers.ts';

const HUB = process.env.E2E_HUB_URL!;
const control = async (request: APIRequestContext, q: string) => expect((await request.get(`${HUB}/_fake/${q}`)).ok()).toBe(true);

test.beforeEach(async ({ browserName, request }) => {
  test.skip(browserName !== 'chromium');
  await control(request, 'reset');
});

async function loadFamily(page: Page, query: string, model: string, sae: string): Promise<void> {
  // Six steps of the scenario's attack (the URL's n).
  await page.goto(`/${query}#s=prompts&n=6`);
  await expect(page.getByTestId('backend-name')).not.toHaveText('…', { timeout: 60_000 });
  await page.getByText('Hub settings').click();
  await page.getByTestId('hub-endpoint').fill(HUB);
  await page.getByTestId('hub-endpoint').blur();
  await chooseHubSources(page, model, sae, FAMILY_PROMPTS, 'family.jsonl');
  await page.getByTestId('model-load').click();
  await expect(page.getByTestId('defence')).toContainText(/flips \d+ of 3 samples/, { timeout: 180_000 });
}

/** Run the scenario's attack and read what the defence line and the summary say. */
async function runAndRead(page: Page): Promise<{ defence: string; summary: string }> {
  await page.locator('[data-action="toggle-play"]').click();
  await expect(page.getByTestId('run-status')).toContainText('done · step 6 / 6', { timeout: 180_000 });
  const summary = page.getByTestId('result-summary');
  await expect(summary).toContainText(/Recovered \d+ of \d+ valid flips|no valid flips/i);
  return { defence: (await page.getByTestId('defence').textContent()) ?? '', summary: (await summary.textContent()) ?? '' };
}

test('Gemma-2 (sharded BF16, tokenizer.json, chat-capable) with a Gemma Scope SAE by the closest-L0 rule loads and runs', async ({
  page,
}, info) => {
  // WebGPU (16-bit weights) against wasm (float32) in one test; the fallback project's backend is covered by the wasm half.
  test.skip(info.project.name !== 'webgpu', 'the webgpu project runs both backends');
  test.setTimeout(480_000);
  // WebGPU asked for: on SwiftShader the page would start on the faster wasm.
  await loadFamily(page, '?backend=webgpu', FAMILY_REPOS.gemma2, FAMILY_REPOS.gemmaSae);
  const rows = page.getByTestId('download');
  await expect(rows.filter({ hasText: 'model-00001-of-00002.safetensors' })).toContainText('done');
  await expect(rows.filter({ hasText: 'model-00002-of-00002.safetensors' })).toContainText('done');
  await expect(rows.filter({ hasText: 'average_l0_5/params.npz' })).toContainText('done');
  const info16 = page.getByTestId('scenario-info');
  await expect(info16).toContainText('d = 32');
  // The SAE reads blocks.1.hook_resid_post: the run keeps layer 2 on; WebGPU keeps the weights in 16 bits.
  await expect(info16).toContainText('Gemma-2, TransformerLens-processed weights; layer 2 kept');
  await expect(info16).toContainText('bfloat16 weights kept in 16 bits on the device');
  await expect(page.getByTestId('sae-check')).toContainText(/L0 [\d.]+, explained variance/);
  const here = await runAndRead(page);
  await screenshot(page, 'gemma2-run', info.project.name);
  // The same page on wasm (float32 weights): the same flips, and the same recovered count.
  await loadFamily(page, '?backend=wasm', FAMILY_REPOS.gemma2, FAMILY_REPOS.gemmaSae);
  await expect(page.getByTestId('scenario-info')).not.toContainText('16 bits');
  const wasm = await runAndRead(page);
  expect(here.defence).toBe(wasm.defence);
  const recovered = (t: string) => /Recovered \d+ of \d+ valid flips/.exec(t)?.[0] ?? t;
  expect(recovered(here.summary)).toBe(recovered(wasm.summary));
});

test('Pythia (GPT-NeoX: partial rotary, parallel residual, untied unembedding) with a SAELens SAE loads and runs', async ({
  page,
}, info) => {
  test.skip(info.project.name !== 'fallback', 'one backend is enough for a family whose weights are widened to float32');
  test.setTimeout(300_000);
  await loadFamily(page, '', FAMILY_REPOS.neox, FAMILY_REPOS.neoxSae);
  await expect(page.getByTestId('scenario-info')).toContainText('d = 64');
  await runAndRead(page);
  await screenshot(page, 'neox-run', info.project.name);
});
