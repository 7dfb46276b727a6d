// A checkpoint read lazily gives the values a whole-file parse gives: from memory and from a Blob, split into
// shards, tensor by tensor, row by row and in 16 bits; buffers of dtypes nobody reads do not stop it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blobSource, memorySource } from '../io/byte-source.ts';
import { writeSafetensors } from '../io/safetensors.ts';
import { Checkpoint, shardNames } from './checkpoint.ts';

const neox = path.resolve(import.meta.dirname, '__fixtures__/tiny-neox/model.safetensors');

describe('Checkpoint', () => {
  const bytes = new Uint8Array(readFileSync(neox));

  it('keeps a U8 mask buffer and a −inf F16 buffer unread, and refuses them only when read', async () => {
    const ckpt = new Checkpoint([{ name: 'model.safetensors', bytes }], 'tiny-neox');
    expect(ckpt.dtype('gpt_neox.layers.0.attention.bias')).toBe('U8');
    expect(() => ckpt.take('gpt_neox.layers.0.attention.bias', [1, 1, 64, 64])).toThrow(/dtype U8 is not read/);
    expect(() => ckpt.take('gpt_neox.layers.0.attention.masked_bias', [])).toThrow(/masked_bias has a non-finite value at 0/);
    await expect(ckpt.half('gpt_neox.layers.0.attention.masked_bias', [])).rejects.toThrow(/non-finite/);
    expect(() => ckpt.take('gpt_neox.embed_in.weight', [512, 32])).toThrow(/has shape \[512, 64\], config\.json implies \[512, 32\]/);
    expect(() => ckpt.take('nope', [1])).toThrow(/tiny-neox: missing nope/);
  });

  it('reads from a Blob what it reads from memory: whole tensors, rows, and the 16-bit values as stored', async () => {
    const mem = new Checkpoint([{ name: 'model.safetensors', bytes }], 'm');
    const blob = await Checkpoint.open([{ name: 'model.safetensors', source: blobSource(new Blob([bytes]), 'model.safetensors') }], 'b');
    const name = 'gpt_neox.embed_in.weight';
    const whole = mem.take(name, [512, 64]);
    expect(await blob.read(name, [512, 64])).toEqual(whole);
    const rows = [7, 0, 511, 7];
    const got = await blob.rows(name, [512, 64], rows);
    rows.forEach((r, k) => expect(got.subarray(k * 64, (k + 1) * 64)).toEqual(whole.subarray(r * 64, (r + 1) * 64)));
    await expect(blob.rows(name, [512, 64], [512])).rejects.toThrow(/row 512 is outside 0\.\.511/);
    const half = await blob.half(name, [512, 64]);
    expect(half.dtype).toBe('F16');
    // The stored bits, widened by the independent halfBits below, are the float32 values take() decoded.
    expect(Array.from(half.data, halfBits)).toEqual(Array.from(whole));
    expect(() => blob.take(name, [512, 64])).toThrow(/embed_in\.weight was not read \(prefetch it, or read\(\) it\)/);
    await blob.prefetch();
    expect(blob.take(name, [512, 64])).toEqual(whole);
    // take() hands the prefetched bytes over: the checkpoint holds them no longer.
    expect(() => blob.take(name, [512, 64])).toThrow(/was not read \(prefetch it, or read\(\) it\): it was taken already/);
    blob.release();
    expect(() => blob.take(name, [512, 64])).toThrow(/was not read/);
  });

  it('reads sharded checkpoints, and refuses a tensor in two shards', async () => {
    const a = writeSafetensors({ x: { shape: [2], data: [1, 2], dtype: 'BF16' } });
    const b = writeSafetensors({ y: { shape: [1], data: [3] } });
    const index = JSON.stringify({
      metadata: {},
      weight_map: { x: 'model-00001-of-00002.safetensors', y: 'model-00002-of-00002.safetensors' },
    });
    expect(shardNames(index)).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    const ckpt = await Checkpoint.open(
      [
        { name: 'model-00001-of-00002.safetensors', source: memorySource(a, 'a') },
        { name: 'model-00002-of-00002.safetensors', source: memorySource(b, 'b') },
      ],
      'sharded',
    );
    expect([...(await ckpt.read('x', [2]))]).toEqual([1, 2]);
    expect([...ckpt.take('y', [1])]).toEqual([3]);
    expect(
      () =>
        new Checkpoint(
          [
            { name: 'one.safetensors', bytes: a },
            { name: 'two.safetensors', bytes: a },
          ],
          'dup',
        ),
    ).toThrow(/two\.safetensors: tensor "x" is also in one\.safetensors/);
    expect(() => shardNames('{"weight_map": {"x": "../evil.safetensors"}}')).toThrow(/not a \.safetensors file in the folder/);
    expect(() => shardNames('{"weight_map": {}}')).toThrow(/weight_map is empty/);
    expect(() => shardNames('[')).toThrow(/not valid JSON/);
  });
});

/** IEEE half bits → number, written out here rather than borrowed from the code under test. */
function halfBits(h: number): number {
  const sign = h >> 15 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  return e === 0 ? sign * m * 2 ** -24 : sign * (1 + m / 1024) * 2 ** (e - 15);
}
