// TF.js's threaded wasm build in Node (node-wasm-threads.ts), through the CLI as a user runs it: the same run on
// one and on two threads gives the same numbers, the process ends by itself, and a threaded start that fails
// falls back to one thread and says why. The rest of the suite runs on one thread (vite.config.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { availableParallelism } from 'node:os';
import { defaultWasmThreads, THREADS_ENV } from './node-backend.ts';

const root = path.resolve(import.meta.dirname, '../..');

function unclamp(args: string[], env: Record<string, string> = {}, nodeArgs: string[] = []) {
  const r = spawnSync(process.execPath, [...nodeArgs, path.join(root, 'bin/unclamp.js'), ...args], {
    encoding: 'utf8',
    cwd: root,
    timeout: 180_000,
    env: { ...process.env, [THREADS_ENV]: '', ...env },
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('wasm threads in Node', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'unclamp-threads-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = (threads: string, nodeArgs: string[] = []) => {
    const json = path.join(dir, `ioi-${threads}-${nodeArgs.length}.json`);
    const count = threads === 'default' ? [] : ['--threads', threads];
    const r = unclamp(['run', '--scenario', 'ioi', '--steps', '6', '--quiet', '--json', json, ...count], {}, nodeArgs);
    return { ...r, out: r.code === 0 ? JSON.parse(readFileSync(json, 'utf8')) : null };
  };

  it('a run on two threads gives the one-thread numbers, and the process ends by itself', () => {
    const one = run('1');
    const two = run('2');
    expect(one.stderr).toBe('');
    expect(two.stderr).toBe('');
    expect([one.code, two.code, two.signal]).toEqual([0, 0, null]);
    expect(one.out.config.threads).toBe(1);
    expect(two.out.config.threads).toBe(2);
    // XNNPACK splits a product's output between threads; each entry is summed in the same order either way.
    const { config: c1, ...rest1 } = one.out;
    const { config: c2, ...rest2 } = two.out;
    expect({ ...c2, threads: 1 }).toEqual(c1);
    expect(rest2).toEqual(rest1);
    expect(one.out.aggregate.validFlips).toBeGreaterThan(0);
  });

  it('a threaded start that fails falls back to one thread and says why', () => {
    // Another library's global Worker that cannot be replaced stops the threaded start before TF.js sees it.
    const pin = path.join(dir, 'pin-worker.mjs');
    writeFileSync(pin, "Object.defineProperty(globalThis, 'Worker', { value: null });\n");
    const r = run('2', ['--import', pathToFileURL(pin).href]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /using the wasm backend \(the threaded wasm build failed to start: Cannot redefine property: Worker; one thread\)/,
    );
    expect(r.out.config.threads).toBe(1);
  });

  it('defaults: the environment variable, else one thread on the built-in model and one per core (≤ 8) on others', () => {
    const saved = process.env[THREADS_ENV];
    try {
      delete process.env[THREADS_ENV];
      expect(defaultWasmThreads({ smallModel: true })).toBe(1);
      expect(defaultWasmThreads()).toBe(Math.min(8, availableParallelism()));
      process.env[THREADS_ENV] = '3';
      expect(defaultWasmThreads({ smallModel: true })).toBe(3);
      expect(defaultWasmThreads()).toBe(3);
    } finally {
      if (saved === undefined) delete process.env[THREADS_ENV];
      else process.env[THREADS_ENV] = saved;
    }
    const r = run('default');
    expect(r.code).toBe(0);
    expect(r.out.config.threads).toBe(1);
  });

  it('refuses a thread count out of range', () => {
    for (const bad of ['0', '9', '1.5', 'many']) {
      const r = unclamp(['run', '--scenario', 'ioi', '--steps', '1', '--threads', bad]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(`unclamp: --threads must be a whole number in 1..8, got "${bad}"`);
    }
    const r = unclamp(['run', '--scenario', 'ioi', '--steps', '1'], { [THREADS_ENV]: '12' });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`unclamp: ${THREADS_ENV} must be a whole number in 1..8, got "12"`);
  });
});
