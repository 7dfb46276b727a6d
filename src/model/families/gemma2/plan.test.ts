// What a run keeps of a Gemma-2 model (LoadPlan) changes nothing it computes: the layers from the hook on, the residual
// at the hook computed layer by layer from the checkpoint, only the prompts' and read-out's token rows, 16-bit weights
// read by the 16-bit product — each against the whole model in float32, on the tiny-gemma2 fixture read lazily from a
// Blob. And what the run does not keep is refused with a message that says so.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { maxRelErr } from '../../../core/compare.ts';
import { tf, type Tensor, type Tensor2D, type Tensor3D } from '../../../core/tf.ts';
import { blobSource } from '../../../io/byte-source.ts';
import { Checkpoint } from '../../checkpoint.ts';
import { parseConfigJson } from '../../config.ts';
import type { LoadPlan, WeightProcessing } from '../../family.ts';
import { HookOnward } from '../../hook-onward.ts';
import { supports16, Weight16 } from '../../weights16.ts';
import { gemma2Family } from './index.ts';
import type { Gemma2 } from './model.ts';

const dir = path.resolve(import.meta.dirname, '../../__fixtures__/tiny-gemma2');
const bytes = readFileSync(path.join(dir, 'model.safetensors'));
const config = gemma2Family.parseConfig(parseConfigJson(readFileSync(path.join(dir, 'config.json'), 'utf8')), 'tiny-gemma2');
const { ids } = JSON.parse(readFileSync(path.join(dir, 'ids.json'), 'utf8')) as { ids: number[][] };
// The real rows' first ten tokens (the fourth prompt is shorter: its padding is token 0).
const batch = ids.slice(0, 3).map((r) => r.slice(0, 10));
const tokens = [...new Set(batch.flat())];

/** The fixture read lazily, as a file in the browser's storage or on disk is: from a Blob, tensor by tensor. */
async function load(plan: LoadPlan, processing: WeightProcessing = 'transformer-lens'): Promise<Gemma2> {
  const ckpt = await Checkpoint.open(
    [{ name: 'model.safetensors', source: blobSource(new Blob([bytes]), 'model.safetensors') }],
    'tiny-gemma2',
  );
  return (await gemma2Family.load(config, ckpt, processing, plan)) as Gemma2;
}

const whole = await load({});
afterAll(() => whole.dispose());

describe('a Gemma-2 run keeping the layers from its hook on and the tokens it reads', () => {
  it.each([
    ['blocks.1.hook_resid_pre', 1],
    ['blocks.1.hook_resid_mid', 1],
    ['blocks.1.hook_resid_post', 2],
  ] as const)(
    '%s: the residual streamed layer by layer, the onward residual and the read-out equal the whole model’s',
    async (hook, first) => {
      const part = await load({ firstLayer: first, tokens });
      try {
        expect(part.weights.blocks.map((b) => b !== null)).toEqual([0, 1, 2].map((i) => i >= first));
        expect(part.wholeVocabulary).toBe(false);
        const want = tf.tidy(() => whole.runToHook(batch, hook));
        const got = await part.streamToHook(batch, hook, 2);
        expect(maxRelErr(got.dataSync(), want.dataSync())).toBe(0);
        // The layers streamed through are freed again, and the read-out's columns come from the kept rows.
        expect(part.weights.blocks.map((b) => b !== null)).toEqual([0, 1, 2].map((i) => i >= first));
        const read = [batch[0][3], batch[1][5]];
        const [a, b] = [whole, part].map((m) => {
          const onward = HookOnward.create(m, hook, tf.slice(got, [0, 0, 0], [3, 4, 32]) as Tensor3D);
          const cols = m.logitColumns(read);
          const out = tf.tidy(() => {
            const x = onward.residual(tf.slice(got, [0, 4, 0], [3, 6, 32]) as Tensor3D);
            return cols.logits(tf.reshape(x, [18, 32]) as Tensor2D).dataSync();
          });
          onward.dispose();
          cols.dispose();
          return out;
        });
        expect(maxRelErr(b, a)).toBe(0);
        tf.dispose([got, want]);
      } finally {
        part.dispose();
      }
    },
  );

  it('says what it did not keep: an earlier layer, a token outside the run’s, the whole vocabulary', async () => {
    const part = await load({ firstLayer: 2, tokens });
    try {
      expect(() => tf.tidy(() => part.runToHook(batch, 'blocks.2.hook_resid_pre'))).toThrow(
        /layer 0 is not loaded: this run keeps layers 2–2 \(those after its hook\)/,
      );
      const outside = [...Array(config.vocabSize).keys()].find((t) => !tokens.includes(t)) as number;
      expect(() => part.logitColumns([outside])).toThrow(
        new RegExp(`token ${outside} is not among the ${tokens.length} tokens this run loaded`),
      );
      const h = await part.streamToHook(batch, 'blocks.2.hook_resid_pre');
      expect(() => tf.tidy(() => part.forwardFrom('blocks.2.hook_resid_pre', h))).toThrow(
        /whole vocabulary's logits need the whole unembedding/,
      );
      h.dispose();
    } finally {
      part.dispose();
    }
  });

  it('frees everything it made: a partial model, a stream through the missing layers, dispose', async () => {
    const before = tf.memory().numTensors;
    const part = await load({ firstLayer: 2, tokens });
    tf.dispose(await part.streamToHook(batch, 'blocks.2.hook_resid_pre'));
    part.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe.runIf(supports16())('a Gemma-2 run on 16-bit weights', () => {
  it('keeps the stored bfloat16 matrices and embedding in 16 bits, and computes what the float32 model computes', async () => {
    for (const processing of ['none', 'transformer-lens'] as const) {
      const m16 = await load({ weights16: true }, processing);
      const m32 = await load({}, processing);
      try {
        expect(m16.weights.blocks.every((b) => b?.W_qkv instanceof Weight16 && b.W_down instanceof Weight16)).toBe(true);
        // With 16-bit matrices nothing is folded: the norms' scales multiply at run time.
        expect(m16.weights.blocks[0]?.ln1).not.toBeNull();
        const [a, b] = [m32, m16].map((m) => tf.tidy(() => m.forward(batch).dataSync()));
        expect(maxRelErr(b, a)).toBeLessThan(1e-5);
        const hook = 'blocks.1.hook_resid_mid';
        const grads = [m32, m16].map((m) =>
          tf.tidy(() => {
            const h = m.runToHook(batch, hook);
            const f = (x: Tensor) => tf.sum(m.forwardFrom(hook, x as Tensor3D, { logitsAt: [9, 9, 9] }));
            return tf.grad(f)(h).dataSync();
          }),
        );
        expect(maxRelErr(grads[1], grads[0])).toBeLessThan(1e-4);
      } finally {
        m16.dispose();
        m32.dispose();
      }
    }
  });
});
