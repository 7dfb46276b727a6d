import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseSafetensors, writeSafetensors } from './safetensors.ts';

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
