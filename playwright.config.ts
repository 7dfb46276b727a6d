import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS as baseArgs, CHROMIUM_PATH as chromium, WEBGPU_ARGS } from './scripts/lib/chromium.ts';

// E2E_PORT lets two checkouts (or two people on one machine) run the suite at once.
const port = Number(process.env.E2E_PORT ?? 4173);
// E2E_DIST: the built app to serve (default dist/, what `vite build` writes).
const dist = process.env.E2E_DIST ?? 'dist';
// E2E_OUTPUT: where failures and screenshots go (e2e/helpers.ts reads it too).
const outputDir = process.env.E2E_OUTPUT ?? 'test-results';
// The fake Hub (scripts/fixtures/fake-hub-server.ts) for the real-model tests: its own port, next to the app's
// unless E2E_HUB_PORT says otherwise; the specs read its address from E2E_HUB_URL.
const hubPort = Number(process.env.E2E_HUB_PORT ?? port + 1);
process.env.E2E_HUB_URL = `http://127.0.0.1:${hubPort}`;

export default defineConfig({
  testDir: 'e2e',
  outputDir,
  timeout: 240_000,
  expect: { timeout: 60_000 },
  fullyParallel: false,
  workers: 1,
  retries: process.env.CI ? 1 : 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'off',
    screenshot: 'only-on-failure',
  },
  webServer: [
    {
      command: `npx vite preview --host 127.0.0.1 --port ${port} --strictPort --outDir ${dist}`,
      url: `http://127.0.0.1:${port}`,
      reuseExistingServer: !process.env.CI,
      timeout: 60_000,
    },
    {
      command: 'npx tsx scripts/fixtures/fake-hub-server.ts',
      env: { FAKE_HUB_PORT: String(hubPort) },
      url: `http://127.0.0.1:${hubPort}/_fake/log`,
      reuseExistingServer: !process.env.CI,
      timeout: 60_000,
    },
  ],
  projects: [
    {
      name: 'webgpu',
      use: { launchOptions: { executablePath: chromium, args: [...baseArgs, ...WEBGPU_ARGS] } },
    },
    {
      name: 'fallback',
      use: { launchOptions: { executablePath: chromium, args: baseArgs } },
    },
    {
      name: 'phone',
      use: {
        viewport: { width: 390, height: 844 },
        isMobile: true,
        hasTouch: true,
        launchOptions: { executablePath: chromium, args: baseArgs },
      },
    },
  ],
});
