// Every parser of untrusted input, fuzzed: each input ends in a valid parse or an InputError, never another
// exception, a hang or an allocation sized by the file's own unchecked claims. The generators live in
// fuzz-cases.ts (shared with `npm run fuzz`, which runs 10,000 cases per parser and writes docs/reliability.md).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { zipSync } from 'fflate';
import { InputError } from '../../src/core/errors.ts';
import { Gpt2BpeTokenizer } from '../../src/model/tokenizers/bpe.ts';
import { tokenisePromptSet } from '../../src/scenarios/prompts.ts';
import { configFromHash, configSchema } from '../../src/ui/config.ts';
import { craftSafetensors, describeError, FUZZ_TARGETS, npyBytes, npyF32, npyHeader, runCase, runParser } from './fuzz-cases.ts';
import { gemmaScopeSae, parseNpy, parseNpz } from '../../src/io/npz.ts';
import { parseFeatureLabels } from '../../src/io/labels.ts';
import { parseSafetensors } from '../../src/io/safetensors.ts';

describe('fuzzed parsers: a valid parse or an InputError', () => {
  it.each(FUZZ_TARGETS.map((t) => [t.name, t] as const))('%s', (_, t) => {
    fc.assert(
      fc.property(t.arbitrary(), (input) => {
        const r = runCase(t, input);
        if (r.outcome === 'other') {
          throw new Error(`${t.entry} ended in ${describeError(r.error)}\n  on ${t.show(input)}`);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('runParser classifies outcomes', () => {
    expect(runParser('labels', { text: '{"3": "x"}' }).outcome).toBe('ok');
    expect(runParser('labels', { text: 'nope' }).outcome).toBe('input-error');
    expect(runParser('labels', { text: '{"3": "x"}', dSae: 2 }).outcome).toBe('input-error');
    expect(runParser('url-config', '#s=ioi&n=40').outcome).toBe('ok');
    expect(() => runParser('nope', '')).toThrow(/no fuzz target "nope"/);
  });
});

/**
 * Run `f` with the typed-array and ArrayBuffer constructors watched: the largest single allocation and the total,
 * in bytes, what `f` threw, and how long it took.
 */
function largestAllocation(f: () => unknown): { largest: number; total: number; error: unknown; ms: number } {
  const names = ['ArrayBuffer', 'Uint8Array', 'Uint16Array', 'Uint32Array', 'Float32Array', 'Float64Array'] as const;
  const saved = names.map((n) => globalThis[n]);
  let largest = 0;
  let total = 0;
  names.forEach((n, i) => {
    const original = saved[i] as unknown as new (...args: unknown[]) => object;
    const bytesPer = n === 'ArrayBuffer' ? 1 : (saved[i] as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    (globalThis as Record<string, unknown>)[n] = new Proxy(original, {
      construct(target, args, newTarget) {
        if (typeof args[0] === 'number') {
          largest = Math.max(largest, args[0] * bytesPer);
          total += args[0] * bytesPer;
        }
        return Reflect.construct(target, args, newTarget);
      },
    });
  });
  const t0 = performance.now();
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  } finally {
    names.forEach((n, i) => {
      (globalThis as Record<string, unknown>)[n] = saved[i];
    });
  }
  return { largest, total, error, ms: performance.now() - t0 };
}

describe("a file's claims are checked against its length before anything is allocated", () => {
  it('a 40-byte-ish safetensors file claiming a [1000000000] float32 tensor is refused at once', () => {
    const header = '{"w":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,8]}}';
    const bytes = craftSafetensors(header, new Uint8Array(8));
    expect(bytes.length).toBeLessThan(96);
    const { largest, error, ms } = largestAllocation(() => parseSafetensors(bytes, 'huge.safetensors'));
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toBe('huge.safetensors: tensor "w": 8 bytes stored but shape [1000000000] of F32 needs 4000000000');
    expect(largest).toBeLessThan(1024);
    expect(ms).toBeLessThan(50);
  });

  it('the same claim with offsets that reach past the end is refused by its offsets', () => {
    const header = '{"w":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}';
    const { largest, error } = largestAllocation(() => parseSafetensors(craftSafetensors(header, new Uint8Array(8)), 'huge.safetensors'));
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(/data_offsets \[0, 4000000000\] out of range \(data section is 8 bytes\)/);
    expect(largest).toBeLessThan(1024);
  });

  it('tensors that share one data region are refused before any is decoded (no N-fold copies)', () => {
    const n = 2000;
    const header = Object.fromEntries(
      Array.from({ length: n }, (_, i) => [`t${i}`, { dtype: 'F16', shape: [8192], data_offsets: [0, 16384] }]),
    );
    const file = craftSafetensors(header, new Uint8Array(16384));
    const { total, error } = largestAllocation(() => parseSafetensors(file, 'x.safetensors'));
    expect((error as Error).message).toMatch(/tensors "t\d+" and "t\d+" overlap/);
    // The file is ~150 kB; decoding every entry before the overlap check would allocate n × 32 kB = 64 MB.
    expect(total).toBeLessThan(1_000_000);
  });

  it('an .npy header claiming a huge shape is refused at once, naming the size mismatch', () => {
    const bytes = npyBytes({ version: 1, header: npyHeader('<f4', '1000000000, 1000000000'), data: new Uint8Array(8) });
    const { largest, error, ms } = largestAllocation(() => parseNpy(bytes, 'W_enc.npy'));
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toBe(
      'W_enc.npy: 8 data bytes, but shape (1000000000, 1000000000) of <f4 needs 4000000000000000000 (truncated, or not this array)',
    );
    expect(largest).toBeLessThan(1024);
    expect(ms).toBeLessThan(50);
  });

  it('an .npy shape with negative, non-integer or overflowing dimensions is refused', () => {
    for (const shape of ['-1, -2', '-1, 2', '1.5,', '2L, 3L', '9007199254740993,', 'abc']) {
      const bytes = npyBytes({ version: 1, header: npyHeader('<f4', shape), data: new Uint8Array(8) });
      expect(() => parseNpy(bytes, 'a.npy'), shape).toThrow(/a\.npy: shape \(.*\) is not a tuple of non-negative integers/);
    }
  });

  it('an .npy whose header length runs past the end of the file is refused', () => {
    const bytes = npyBytes({ version: 1, header: npyHeader('<f4', '-1, 2'), data: new Uint8Array(0), headerLengthDelta: 8 });
    expect(() => parseNpy(bytes, 'a.npy')).toThrow(/a\.npy: header length \d+ runs past the end of the file/);
  });

  it('a zip entry claiming 4 GB uncompressed from 100 bytes is refused before inflating', () => {
    const zip = zipSync({ 'W_enc.npy': [npyF32([2, 2], new Float32Array(4)), { level: 6 }] });
    const view = new DataView(zip.buffer);
    for (let i = 0; i + 4 <= zip.length; i++) if (view.getUint32(i, true) === 0x02014b50) view.setUint32(i + 24, 0xfffffff0, true);
    const { largest, error } = largestAllocation(() => parseNpz(zip, 'params.npz'));
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(/params\.npz\/W_enc\.npy: claims 4294967280 bytes uncompressed from \d+ compressed/);
    expect(largest).toBeLessThan(1024 * 1024);
  });

  it('a 98-byte zip64 end record claiming 4 billion directory entries is refused at once (not walked)', () => {
    // zip64 end record (56 bytes), its locator (20), the classic end record (22); the directory "starts" at 0.
    const b = new Uint8Array(56 + 20 + 22);
    const v = new DataView(b.buffer);
    v.setUint32(0, 0x06064b50, true);
    v.setBigUint64(4, 44n, true);
    v.setBigUint64(24, 0xfffffffen, true);
    v.setBigUint64(32, 0xfffffffen, true);
    v.setUint32(56, 0x07064b50, true);
    v.setUint32(76, 0x06054b50, true);
    v.setUint16(76 + 8, 0xffff, true);
    v.setUint16(76 + 10, 0xffff, true);
    const t0 = performance.now();
    expect(() => parseNpz(b, 'params.npz')).toThrow(/params\.npz: the zip directory claims more entries than a 98-byte file can hold/);
    expect(performance.now() - t0).toBeLessThan(50);
  });

  it('a zip with two entries of one name is refused, not read as whichever came last', () => {
    const zip = zipSync({ 'W_enc.npy': npyF32([1, 1], new Float32Array(1)), 'W_dec.npy': npyF32([1, 1], new Float32Array(1)) });
    for (let i = 0; i + 9 <= zip.length; i++)
      if (new TextDecoder().decode(zip.subarray(i, i + 9)) === 'W_dec.npy') zip.set(new TextEncoder().encode('W_enc.npy'), i);
    expect(() => parseNpz(zip, 'params.npz')).toThrow(/params\.npz: W_enc\.npy appears twice/);
  });

  it('Gemma Scope arrays whose shapes disagree with W_enc are named', () => {
    const zip = zipSync({
      'W_enc.npy': npyF32([2, 3], new Float32Array(6)),
      'W_dec.npy': npyF32([2, 3], new Float32Array(6)),
      'b_enc.npy': npyF32([3], new Float32Array(3)),
      'b_dec.npy': npyF32([2], new Float32Array(2)),
      'threshold.npy': npyF32([3], new Float32Array(3)),
    });
    expect(() => gemmaScopeSae(zip, {}, 'params.npz')).toThrow(
      /params\.npz: W_dec has shape \(2, 3\), expected \(3, 2\) \(d_in=2, d_sae=3 from W_enc\)/,
    );
  });
});

describe('messages stay readable on hostile values', () => {
  const deep = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
  it('a deeply nested shape or index is an InputError, not a stack overflow', () => {
    const st = craftSafetensors(`{"a":{"dtype":"F32","shape":${deep},"data_offsets":[0,0]}}`);
    expect(() => parseSafetensors(st, 'x.safetensors')).toThrow(
      /x\.safetensors: tensor "a": shape must be an array of non-negative integers, got \[\[\[/,
    );
    expect(() => parseFeatureLabels(`[{"index":${deep},"description":"x"}]`)).toThrow(/entry 0 has no valid feature index \(got \[\[\[/);
  });
  it('dtype names are looked up as own keys (no "toString" dtype)', () => {
    const st = craftSafetensors('{"a":{"dtype":"toString","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4));
    expect(() => parseSafetensors(st, 'x.safetensors')).toThrow(
      /x\.safetensors: tensor "a": unknown dtype toString \(supported: F32, F16, BF16\)/,
    );
  });
  it('label indices beyond 2^53 are refused', () => {
    expect(() => parseFeatureLabels('{"99999999999999999999": "x"}')).toThrow(/key "99999999999999999999" has no valid feature index/);
  });
});

describe('no input is slow to refuse', () => {
  const tok = new Gpt2BpeTokenizer();
  const line = (prompt: string, target = ' Mary') => [{ prompt, target, contrast: ' John' }];
  it('a 50,000-character completion or run of a prompt is refused before BPE (quadratic in a run) sees it', () => {
    tok.encode('warm up');
    const t0 = performance.now();
    expect(() => tokenisePromptSet(line('Hi', 'x'.repeat(50_000)), tok, 1024, { source: 'p.jsonl' })).toThrow(
      /p\.jsonl, line 1: target is 50000 characters; a completion must be exactly one token \(at most 128 characters\)/,
    );
    expect(() => tokenisePromptSet(line(`Say ${'x'.repeat(50_000)}`), tok, 1024, { source: 'p.jsonl' })).toThrow(
      /p\.jsonl, line 1: the prompt has 50000 characters without a space; at most 4096 are allowed/,
    );
    expect(performance.now() - t0).toBeLessThan(100);
    // Long prompts with spaces are fine (and still refused when they do not fit the context).
    expect(() => tokenisePromptSet(line('the cat '.repeat(5000)), tok, 1024)).toThrow(
      /the prompt is \d+ tokens; the model's context is 1024/,
    );
  });
});

describe('URL state never throws and stays in bounds', () => {
  it('absurd clamp values and feature indices fall back', () => {
    const { config, problems } = configFromHash('#s=ioi&c=s1e300&f=1.99999999999');
    expect(config.clamp).toBeNull();
    expect(config.features).toBeNull();
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['clamp', 'features']);
    expect(configSchema.safeParse(config).success).toBe(true);
  });
});
