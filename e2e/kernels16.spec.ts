// The 16-bit weight kernels on WebGPU (SwiftShader here): forward and input gradient, whole and split into chunks,
// against TF.js's float32 matMul on the same backend over the same (host-widened) weights; the device's widening
// of every bit pattern; embed16. The page (e2e/support/kernels16/) is test support served by Vite's dev server.
import type { ChildProcess } from 'node:child_process';
import { expect, test } from '@playwright/test';
import { freePort, startVite } from '../scripts/lib/vite-server.ts';
import type { CheckCase, CheckResult, WidenResult } from './support/kernels16/main.ts';

type Api = {
  start(): Promise<Record<string, unknown>>;
  check(c: CheckCase): Promise<CheckResult>;
  checkEmbed(dtype: string, maxChunkBytes?: number): Promise<{ chunks: number; equal: boolean }>;
  widenAll(dtype: string): Promise<WidenResult>;
};

// The tiled edges: an output past one 64-column tile and odd (131), a shared dimension off the 16-step (70, 37, 33)
// and odd on the packed side (37), more rows than one 32- or 64-row tile (40, 65), and products split over chunks.
const ROW_BYTES_131 = 4 * 66;
const ROW_BYTES_37 = 4 * 19;
const CASES: CheckCase[] = [
  { dtype: 'bfloat16', kind: 'linear', R: 5, rows: 70, cols: 131, bias: true },
  { dtype: 'bfloat16', kind: 'linear', R: 5, rows: 70, cols: 131, bias: true, maxChunkBytes: 30 * ROW_BYTES_131 },
  { dtype: 'float16', kind: 'linear', R: 40, rows: 33, cols: 64 },
  { dtype: 'float16', kind: 'linear', R: 65, rows: 129, cols: 67 },
  { dtype: 'bfloat16', kind: 'tied', R: 3, rows: 300, cols: 37 },
  { dtype: 'bfloat16', kind: 'tied', R: 3, rows: 300, cols: 37, maxChunkBytes: 128 * ROW_BYTES_37 },
  { dtype: 'float16', kind: 'tied', R: 9, rows: 100, cols: 37, bias: true, maxChunkBytes: 40 * ROW_BYTES_37 },
  // More chunks than one AddN may bind (8 storage buffers): dy · E sums them in groups.
  { dtype: 'bfloat16', kind: 'tied', R: 2, rows: 300, cols: 37, maxChunkBytes: 30 * ROW_BYTES_37 },
];

const fmt = (e: { maxAbs: number; maxRel: number; maxScaled: number }) =>
  `max abs ${e.maxAbs.toExponential(2)}, rel ${e.maxRel.toExponential(2)}, scaled ${e.maxScaled.toExponential(2)}`;

test.describe('16-bit weight kernels on WebGPU', () => {
  let server: ChildProcess | undefined;
  let url = '';

  test.beforeEach(async ({ browserName }, info) => {
    test.skip(browserName !== 'chromium' || info.project.name !== 'webgpu', 'WebGPU project only');
    ({ server, url } = await startVite(await freePort(), [], 120));
  });

  test.afterEach(() => {
    server?.kill();
  });

  test('products and input gradients match float32 matMul; widening is exact', async ({ page }) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Every failed request by its address (the console's "Failed to load resource" does not say which); the page
    // has no favicon.
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(`${r.status()} ${r.url()}`);
    });
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
    });
    await page.goto(`${url}e2e/support/kernels16/index.html`);
    await expect(page.locator('#status')).toHaveText('ready', { timeout: 180_000 });
    const env = await page.evaluate(() => (window as unknown as { kernels16: Api }).kernels16.start());
    console.log(`kernels16: ${JSON.stringify(env)}`);
    expect(env.backend).toBe('webgpu');
    expect(env.native16).toBe(true);

    for (const c of CASES) {
      const r = await page.evaluate((c) => (window as unknown as { kernels16: Api }).kernels16.check(c), c);
      console.log(`kernels16: ${r.name}: forward ${fmt(r.forward)}; gradient ${fmt(r.gradient)}`);
      if (c.maxChunkBytes) expect(r.chunks, r.name).toBeGreaterThan(1);
      // Each element within float32 rounding of its sum of |terms| (a wrong tile or index is off by O(1)).
      expect(r.forward.maxScaled, r.name).toBeLessThan(1e-5);
      expect(r.gradient.maxScaled, r.name).toBeLessThan(1e-5);
      expect(r.leaked, r.name).toBe(0);
    }

    for (const dtype of ['bfloat16', 'float16']) {
      const w = await page.evaluate((d) => (window as unknown as { kernels16: Api }).kernels16.widenAll(d), dtype);
      console.log(
        `kernels16: widening ${dtype}: ${w.finite - w.finiteMismatches.length} of ${w.finite} finite patterns exact; ` +
          `±inf → ${w.infinities.join(', ')}; NaN patterns → NaN: ${w.nanOut} of ${w.nanPatterns}`,
      );
      expect(w.finiteMismatches).toEqual([]);
      if (dtype === 'bfloat16') {
        // A bitcast: inf and NaN pass through as well.
        expect(w.infinities).toEqual(['Infinity → Infinity', '-Infinity → -Infinity']);
        expect(w.nanOut).toBe(w.nanPatterns);
      }
      for (const maxChunkBytes of [undefined, 64 * 4 * 19]) {
        const e = await page.evaluate(
          ([d, m]) => (window as unknown as { kernels16: Api }).kernels16.checkEmbed(d as string, m as number | undefined),
          [dtype, maxChunkBytes] as const,
        );
        expect(e.equal, `embed16 ${dtype}, ${e.chunks} chunks`).toBe(true);
      }
    }
    expect(errors).toEqual([]);
  });
});
