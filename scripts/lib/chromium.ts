// How the project launches Debian's Chromium (the e2e suite, playwright.config.ts, and the Chromium benchmark,
// bench/browser.bench.ts): no browser download is possible on these machines.
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// Chromium must not try to reach Google's services: the network here is closed: only loopback is reachable, and Chromium's background requests would fail loudly.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** WebGPU in headless Chromium on Linux (SwiftShader where there is no GPU). */
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu'];
