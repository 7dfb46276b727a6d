import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { floatToBfloat16, floatToHalf, halfToFloat, parseSafetensors, writeSafetensors } from './safetensors.ts';

/** Build a file by hand: header object + raw data bytes. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0), headerText?: string): Uint8Array {
  const text = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

describe('safetensors round trip', () => {
  it('preserves names, shapes, values and metadata (property)', () => {
    const tensor = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 }).chain((shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return fc.record({ shape: fc.constant(shape), data: fc.float32Array({ minLength: n, maxLength: n, noNaN: true }) });
    });
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string({ minLength: 1, maxLength: 8 }).filter((s) => s !== '__metadata__'),
          tensor,
          { maxKeys: 5 },
        ),
        fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
        (tensors, metadata) => {
          const file = parseSafetensors(writeSafetensors(tensors, metadata));
          expect([...file.tensors.keys()].sort()).toEqual(Object.keys(tensors).sort());
          for (const [name, t] of Object.entries(tensors)) {
            const got = file.tensors.get(name)!;
            expect(got.shape).toEqual(t.shape);
            expect(Array.from(got.data)).toEqual(Array.from(t.data));
          }
          expect(file.metadata).toEqual(Object.keys(metadata).length ? metadata : {});
        },
      ),
      { numRuns: 60 },
    );
  });

  it('pads the header to 8 bytes like the reference writer', () => {
    const bytes = writeSafetensors({ a: { shape: [3], data: new Float32Array([1, 2, 3]) } });
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
  });

  it('reads F16 and BF16 as float32', () => {
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x7c00, 0x0001]).buffer); // 1, -2, inf, 2^-24
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc0a0]).buffer); // 1, -5
    const file = parseSafetensors(
      craft(
        { h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] }, b: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] } },
        new Uint8Array([...f16, ...bf16]),
      ),
    );
    expect(Array.from(file.tensors.get('h')!.data)).toEqual([1, -2, Infinity, 2 ** -24]);
    expect(Array.from(file.tensors.get('b')!.data)).toEqual([1, -5]);
  });

  it('reads aligned F32 data as a view of the bytes (no copy) and unaligned data as a copy, the same values', () => {
    const values = [1.5, -2, 3.25];
    const bytes = writeSafetensors({ a: { shape: [3], data: new Float32Array(values) } });
    const view = parseSafetensors(bytes).tensors.get('a')!.data;
    expect(Array.from(view)).toEqual(values);
    expect(view.buffer).toBe(bytes.buffer);
    // The same file one byte into a larger buffer: its data is no longer 4-byte aligned there.
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const copy = parseSafetensors(shifted.subarray(1)).tensors.get('a')!.data;
    expect(Array.from(copy)).toEqual(values);
    expect(copy.buffer).not.toBe(shifted.buffer);
    expect(copy.byteOffset).toBe(0);
  });
});

describe('writing F16 and BF16', () => {
  const bf16ToFloat = (b: number) => new Float32Array(new Uint32Array([b << 16]).buffer)[0];

  it('every finite half and bfloat16 value survives value → bits exactly', () => {
    const wrong: string[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const x = halfToFloat(h);
      if (!Number.isNaN(x) && floatToHalf(x) !== h) wrong.push(`F16 ${h.toString(16)}`);
      const b = bf16ToFloat(h);
      if (!Number.isNaN(b) && floatToBfloat16(b) !== h) wrong.push(`BF16 ${h.toString(16)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('rounds to nearest with ties to even, overflows to inf and keeps NaN', () => {
    // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): ties go to the even mantissa (1).
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00);
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(floatToHalf(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    expect(floatToHalf(65520)).toBe(0x7c00); // halfway past the largest half (65504) → inf
    expect(floatToHalf(65519)).toBe(0x7bff);
    expect(floatToHalf(-1e9)).toBe(0xfc00);
    expect(floatToHalf(2 ** -25)).toBe(0); // halfway to the smallest subnormal: ties to even (0)
    expect(floatToHalf(1.5 * 2 ** -25)).toBe(1);
    expect(floatToHalf(3 * 2 ** -25)).toBe(2); // 1.5 subnormal units: ties to even (2)
    expect(floatToHalf(-0)).toBe(0x8000);
    expect(Number.isNaN(halfToFloat(floatToHalf(NaN)))).toBe(true);
    expect(floatToBfloat16(1 + 2 ** -8)).toBe(0x3f80); // tie → even
    expect(floatToBfloat16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(floatToBfloat16(3.4e38)).toBe(0x7f80); // rounds past the largest bfloat16 → inf
    expect(Number.isNaN(bf16ToFloat(floatToBfloat16(NaN)))).toBe(true);
  });

  it('stores each tensor in its dtype and reads back the rounded values (property)', () => {
    fc.assert(
      fc.property(fc.float32Array({ minLength: 1, maxLength: 40, noNaN: true }), (data) => {
        const bytes = writeSafetensors({
          a: { shape: [data.length], data, dtype: 'BF16' },
          b: { shape: [data.length], data, dtype: 'F16' },
          c: { shape: [data.length], data },
        });
        const file = parseSafetensors(bytes);
        expect(file.tensors.get('a')!.dtype).toBe('BF16');
        expect(file.tensors.get('b')!.dtype).toBe('F16');
        expect(file.tensors.get('c')!.dtype).toBe('F32');
        expect(Array.from(file.tensors.get('a')!.data)).toEqual(Array.from(data, (x) => bf16ToFloat(floatToBfloat16(x))));
        expect(Array.from(file.tensors.get('b')!.data)).toEqual(Array.from(data, (x) => halfToFloat(floatToHalf(x))));
        expect(Array.from(file.tensors.get('c')!.data)).toEqual(Array.from(data));
        // Nearest: no other half is closer than the stored one.
        for (const x of data) {
          const h = floatToHalf(x);
          const got = halfToFloat(h);
          if (Number.isFinite(got) && Math.abs(x) < 65504) {
            for (const n of [h - 1, h + 1]) {
              if ((n & 0x7fff) < 0x7c00 && (n & 0x8000) === (h & 0x8000)) {
                expect(Math.abs(halfToFloat(n) - x)).toBeGreaterThanOrEqual(Math.abs(got - x));
              }
            }
          }
        }
      }),
      { numRuns: 80 },
    );
  });

  it('lays out mixed dtypes with byte-exact offsets', () => {
    const bytes = writeSafetensors({
      h: { shape: [2], data: [1, -2], dtype: 'F16' },
      f: { shape: [1], data: [0.5] },
      b: { shape: [1], data: [-5], dtype: 'BF16' },
    });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header.h).toEqual({ dtype: 'F16', shape: [2], data_offsets: [0, 4] });
    expect(header.f).toEqual({ dtype: 'F32', shape: [1], data_offsets: [4, 8] });
    expect(header.b).toEqual({ dtype: 'BF16', shape: [1], data_offsets: [8, 10] });
    expect(Array.from(bytes.subarray(8 + n))).toEqual([0x00, 0x3c, 0x00, 0xc0, 0, 0, 0, 0x3f, 0xa0, 0xc0]);
  });
});

describe('malformed safetensors get a message that says what is wrong', () => {
  const data8 = new Uint8Array(8);
  const cases: [string, Uint8Array, RegExp][] = [
    ['too short', new Uint8Array(5), /too short for the 8-byte header length/],
    [
      'header longer than the file',
      (() => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setBigUint64(0, 1000n, true);
        return b;
      })(),
      /header length 1000 is larger than the file/,
    ],
    [
      'header over 100 MB',
      (() => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setBigUint64(0, 200_000_000n, true);
        return b;
      })(),
      /exceeds the 100 MB limit/,
    ],
    ['header not JSON', craft(null, data8, '{"a": '), /header is not valid JSON/],
    ['header not an object', craft([1, 2]), /header must be a JSON object/],
    [
      'unsupported dtype',
      craft({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, data8),
      /tensor "a": unsupported dtype I64 \(supported: F32, F16, BF16\)/,
    ],
    ['unknown dtype', craft({ a: { dtype: 'Q4', shape: [1], data_offsets: [0, 8] } }, data8), /unknown dtype Q4/],
    [
      'bad shape',
      craft({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, data8),
      /shape must be an array of non-negative integers/,
    ],
    [
      'offsets out of range',
      craft({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, data8),
      /data_offsets \[0, 16\] out of range \(data section is 8 bytes\)/,
    ],
    [
      'size mismatch',
      craft({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data8),
      /8 bytes stored but shape \[3\] of F32 needs 12/,
    ],
    [
      'overlap',
      craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, data8),
      /tensors "a" and "b" overlap/,
    ],
    ['begin after end', craft({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, data8), /out of range/],
    ['metadata not strings', craft({ __metadata__: { a: 1 } }), /__metadata__\.a must be a string/],
    ['missing offsets', craft({ a: { dtype: 'F32', shape: [1] } }, data8), /data_offsets must be \[begin, end\]/],
  ];
  it.each(cases)('%s', (_, bytes, message) => {
    expect(() => parseSafetensors(bytes, 'x.safetensors')).toThrow(message);
    expect(() => parseSafetensors(bytes, 'x.safetensors')).toThrow(/^x\.safetensors: /);
  });
});
