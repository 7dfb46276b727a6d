import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseSafetensors } from '../io/safetensors.ts';

const root = path.resolve(import.meta.dirname, '../..');
const unclamp = (args: string[]) =>
  spawnSync(process.execPath, [path.join(root, 'bin/unclamp.js'), ...args], { encoding: 'utf8', cwd: root, timeout: 120_000 });

describe('unclamp logits', () => {
  it('writes tokens, ids and logits equal to the PyTorch reference (GPT-2 BPE from config + weights only)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'unclamp-logits-'));
    const fixture = path.join(root, 'src/model/__fixtures__/tiny-bpe');
    const r = unclamp(['logits', '--model', fixture, '--prompt', 'When Mary and John', '--json', path.join(dir, 'l.json')]);
    expect(r.status).toBe(0);
    const out = JSON.parse(readFileSync(path.join(dir, 'l.json'), 'utf8'));
    expect(out.tokens).toEqual(['When', ' Mary', ' and', ' John']);
    expect(out.ids).toEqual(JSON.parse(readFileSync(path.join(fixture, 'ids.json'), 'utf8'))[0]);
    const ref = parseSafetensors(readFileSync(path.join(fixture, 'reference_logits.safetensors'))).tensors.get('logits.0')!.data;
    const flat = (out.logits as number[][]).flat();
    expect(flat).toHaveLength(ref.length);
    let err = 0,
      scale = 0;
    flat.forEach((v, i) => {
      err = Math.max(err, Math.abs(v - ref[i]));
      scale = Math.max(scale, Math.abs(ref[i]));
    });
    expect(err / scale).toBeLessThan(1e-4);
    rmSync(dir, { recursive: true, force: true });
  });

  it('word-level model: tokens are vocabulary words, logits [T][V]', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'unclamp-logits-'));
    const r = unclamp([
      'logits',
      '--model',
      'src/model/__fixtures__/tiny-word',
      '--prompt',
      'Mary and John went to the store.',
      '--json',
      path.join(dir, 'l.json'),
      '--backend',
      'cpu',
    ]);
    expect(r.status).toBe(0);
    const out = JSON.parse(readFileSync(path.join(dir, 'l.json'), 'utf8'));
    expect(out.tokens).toEqual(['Mary', 'and', 'John', 'went', 'to', 'the', 'store', '.']);
    expect(out.ids).toEqual([11, 9, 12, 13, 14, 2, 15, 18]);
    expect(out.logits).toHaveLength(8);
    expect(out.logits[0]).toHaveLength(20);
    rmSync(dir, { recursive: true, force: true });
  });

  it('broken model folders: exit 2 with one line naming the file and the problem', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'unclamp-logits-'));
    const src = path.join(root, 'src/model/__fixtures__/tiny-word');
    const run = () => unclamp(['logits', '--model', dir, '--prompt', 'the cat', '--json', path.join(dir, 'l.json')]);
    const expectFailure = (message: RegExp) => {
      const r = run();
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    };
    copyFileSync(path.join(src, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    copyFileSync(path.join(src, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    expectFailure(/model config .*config\.json does not exist/);
    writeFileSync(path.join(dir, 'config.json'), '{"n_embd": 32,');
    expectFailure(/config\.json: not valid JSON/);
    writeFileSync(
      path.join(dir, 'config.json'),
      readFileSync(path.join(src, 'config.json'), 'utf8').replace('"n_embd": 32', '"n_embd": 64'),
    );
    expectFailure(/wte\.weight has shape \[20, 32\], config\.json implies \[20, 64\]/);
    writeFileSync(path.join(dir, 'model.safetensors'), new Uint8Array([1, 2, 3]));
    expectFailure(/model\.safetensors: file is 3 bytes/);
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    [['--model', '/nope', '--prompt', 'x', '--json', '/tmp/x.json'], /model directory \/nope does not exist/],
    [
      ['--model', 'src/model/__fixtures__/tiny-word', '--prompt', 'the zebra', '--json', '/tmp/x.json'],
      /not in the model's vocabulary: zebra/,
    ],
    [
      ['--model', 'src/model/__fixtures__/tiny-word', '--prompt', Array(20).fill('the').join(' '), '--json', '/tmp/x.json'],
      /context is 16/,
    ],
    [['--model', 'src/model/__fixtures__/tiny-word', '--prompt', '  ', '--json', '/tmp/x.json'], /--prompt is empty/],
  ])('bad input %#: exit 2, one line', (args, message) => {
    const r = unclamp(['logits', ...args]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
