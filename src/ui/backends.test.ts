// The page's address parameters for the engine: which backend to try first, and the wasm backend's threads.
import { describe, expect, it } from 'vitest';
import { backendsFromSearch, wasmThreadsFromSearch } from './backends.ts';

describe('backend parameters', () => {
  it('?backend=NAME tries that backend, then the ones after it; anything else, the default (the fastest here)', () => {
    expect(backendsFromSearch('?backend=webgpu')).toEqual(['webgpu', 'webgl', 'wasm', 'cpu']);
    expect(backendsFromSearch('?backend=wasm')).toEqual(['wasm', 'cpu']);
    expect(backendsFromSearch('?backend=webgl&x=1')).toEqual(['webgl', 'wasm', 'cpu']);
    expect(backendsFromSearch('?backend=tpu')).toBeUndefined();
    expect(backendsFromSearch('')).toBeUndefined();
  });

  it('?threads=N takes a whole number in 1..8; anything else leaves TF.js its own count', () => {
    expect(wasmThreadsFromSearch('?threads=2')).toBe(2);
    expect(wasmThreadsFromSearch('?backend=wasm&threads=8')).toBe(8);
    for (const bad of ['?threads=0', '?threads=9', '?threads=1.5', '?threads=two', '?threads=', ''])
      expect(wasmThreadsFromSearch(bad)).toBeUndefined();
  });
});
