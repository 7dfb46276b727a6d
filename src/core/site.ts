// A recovery site: one hook point, one SAE, a defended set with its clamp, the samples' residuals there,
// the δ slots (token positions) and the scenario's behaviour B. Single-layer mode, as in the paper's
// core: the defended residual is computed once and δ is added to it; the clamp is not re-applied, and
// features are re-encoded only to measure (and, in jacobian mode, constrain) drift.
import { InputError } from './errors.ts';
import { medianOf } from './stats.ts';
import { tf, type Tensor, type Tensor1D, type Tensor3D } from './tf.ts';
import type { Sae } from './sae.ts';
import { DefendedSet, defendedState } from './intervention.ts';
import type { ClampRule } from './clamp.ts';

/**
 * The behaviour to recover: B per sample [N] from the residual at the hook [N, T, d]. A behaviour that runs a
 * causal model may also offer `onward`: the same B computed only from position `from` on (`from` ≤ deltaFrom,
 * the first δ position), for inputs equal to hDef before it, with what precedes cached once per site.
 */
export type Behaviour = ((hRec: Tensor3D) => Tensor1D) & {
  onward?: (hDef: Tensor3D, deltaFrom: number) => SuffixBehaviour;
};

export interface SuffixBehaviour {
  from: number;
  /** B from the residual at positions from.. [N, T − from, d]. */
  behaviour: (suffix: Tensor3D) => Tensor1D;
  dispose(): void;
}

export class SiteInputError extends InputError {
  override name = 'SiteInputError';
}

export interface SiteSpec {
  sae: Sae;
  features: readonly number[];
  clamp: ClampRule;
  /** Base residual at the hook, [N, T, d]. Not owned: the site keeps its own copy. */
  h: Tensor3D;
  /** δ slots per sample: token positions into T, the same count P for every sample; −1 = unused slot. */
  positions: readonly (readonly number[])[];
  behaviour: Behaviour;
  /**
   * A perturbation already found (e.g. the first stage of a two-stage attack), [N, T, d], added to the
   * defended residual and kept fixed while this site's δ is optimised.
   */
  fixed?: Tensor3D;
  /**
   * Why one shared δ cannot serve these positions, when it cannot (e.g. prompts with different numbers of δ
   * positions: a shared δ's k-th slot is each sample's k-th position); a run with a shared δ is then refused.
   */
  unshared?: string;
  /** Use the behaviour's `onward` form when it has one (default); false computes B on the whole residual every step. */
  hookOnward?: boolean;
}

/** What the clamp alone does, read back once at creation. */
export interface Baseline {
  bBase: Float32Array;
  bDef: Float32Array;
  valid: boolean[];
  /** ‖e(h)‖ and ‖e(h_def)‖ over each sample's slots. */
  residualBase: Float32Array;
  residualDef: Float32Array;
  /** ‖z_S(h_def)‖ over each sample's slots (the relative-drift denominator). */
  zDefNorm: Float32Array;
  /** ‖h_def‖ over each sample's slots (for the relative perturbation). */
  hDefNorm: Float32Array;
  /** The median of ‖h_def‖ at one δ position, over every used (sample, position): the scale of a relative budget. */
  slotNormMedian: number;
}

/**
 * Slots written at their tokens: select [N, T, P] (one-hot columns) · δ [N, P, d] → [N, T, d]. At one token with one
 * slot (a step from the hook onward at the last position, a probe on one vector per sample) that is a batch of N
 * products of 1 × 1 by 1 × d, which on wasm costs about 0.3 ms a call, forward and backward: there it is the
 * elementwise product it amounts to (tens of µs).
 */
function placeSlots(select: Tensor3D, delta: Tensor3D): Tensor3D {
  const [, t, p] = select.shape;
  return (t === 1 && p === 1 ? tf.mul(select, delta) : tf.matMul(select, delta)) as Tensor3D;
}

function rowNorms(x: Tensor): Tensor1D {
  return tf.sqrt(tf.sum(tf.square(tf.reshape(x, [x.shape[0], -1])), 1)) as Tensor1D;
}

export class RecoverySite {
  readonly n: number;
  readonly t: number;
  readonly p: number;
  readonly d: number;
  readonly set: DefendedSet;
  readonly hDef: Tensor3D; // [N, T, d]
  readonly select: Tensor3D; // [N, T, P] one-hot: where each slot writes
  readonly slotMask: Tensor3D; // [N, P, 1]
  readonly hDefAtSlots: Tensor3D; // [N, P, d]
  readonly hBaseAtSlots: Tensor3D; // [N, P, d]
  readonly zDef: Tensor3D; // [N, P, s] re-encoded defended state
  private readonly tensors: Tensor[];
  /** B from the first position δ (or the readout) can change on: hDef and the slot selection from there. */
  private readonly onward?: { b: SuffixBehaviour; hDef: Tensor3D; select: Tensor3D };

  private constructor(
    readonly spec: SiteSpec,
    parts: {
      set: DefendedSet;
      hDef: Tensor3D;
      select: Tensor3D;
      slotMask: Tensor3D;
      hDefAtSlots: Tensor3D;
      hBaseAtSlots: Tensor3D;
      zDef: Tensor3D;
    },
    readonly baseline: Baseline,
    readonly slotsPerSample: number[],
    deltaFrom: number,
  ) {
    [this.n, this.t, this.d] = spec.h.shape;
    this.p = parts.select.shape[2];
    this.set = parts.set;
    this.hDef = parts.hDef;
    this.select = parts.select;
    this.slotMask = parts.slotMask;
    this.hDefAtSlots = parts.hDefAtSlots;
    this.hBaseAtSlots = parts.hBaseAtSlots;
    this.zDef = parts.zDef;
    this.tensors = [parts.hDef, parts.select, parts.slotMask, parts.hDefAtSlots, parts.hBaseAtSlots, parts.zDef];
    const { onward } = spec.behaviour;
    if (onward && spec.hookOnward !== false) {
      const b = onward(parts.hDef, deltaFrom);
      const rest = this.t - b.from;
      this.onward = {
        b,
        hDef: tf.slice(parts.hDef, [0, b.from, 0], [this.n, rest, this.d]),
        select: tf.slice(parts.select, [0, b.from, 0], [this.n, rest, this.p]),
      };
    }
  }

  get sae(): Sae {
    return this.spec.sae;
  }

  static async create(spec: SiteSpec): Promise<RecoverySite> {
    const { sae, h, positions } = spec;
    if (h.rank !== 3) throw new SiteInputError(`activations must be [N, T, d], got shape [${h.shape.join(', ')}]`);
    const [n, t, d] = h.shape;
    if (n === 0 || t === 0) throw new SiteInputError(`activations are empty (shape [${h.shape.join(', ')}])`);
    if (d !== sae.dIn) throw new SiteInputError(`activations have d=${d} but the SAE expects d_in=${sae.dIn}`);
    if (positions.length !== n) throw new SiteInputError(`positions list ${positions.length} samples, activations ${n}`);
    const p = positions[0]?.length ?? 0;
    const slotsPerSample: number[] = [];
    const sel = new Float32Array(n * t * p);
    const slot = new Float32Array(n * p);
    positions.forEach((row, i) => {
      if (row.length !== p) throw new SiteInputError(`sample ${i} has ${row.length} δ positions, sample 0 has ${p}`);
      let used = 0;
      const seen = new Set<number>();
      row.forEach((pos, k) => {
        if (pos === -1) return;
        if (!Number.isInteger(pos) || pos < 0 || pos >= t)
          throw new SiteInputError(`sample ${i}: δ position ${pos} is outside 0..${t - 1}`);
        if (seen.has(pos)) throw new SiteInputError(`sample ${i}: δ position ${pos} is listed twice`);
        seen.add(pos);
        sel[(i * t + pos) * p + k] = 1;
        slot[i * p + k] = 1;
        used++;
      });
      if (!used) throw new SiteInputError(`sample ${i} has no δ position`);
      slotsPerSample.push(used);
    });
    if (spec.fixed && (spec.fixed.rank !== 3 || spec.fixed.shape.some((v, i) => v !== h.shape[i]))) {
      throw new SiteInputError(`the fixed perturbation has shape [${spec.fixed.shape.join(', ')}], expected [${h.shape.join(', ')}]`);
    }
    const hData = await h.data();
    for (let i = 0; i < hData.length; i++) {
      if (!Number.isFinite(hData[i])) {
        throw new SiteInputError(
          `activations contain a non-finite value (${hData[i]}) at sample ${Math.floor(i / (t * d))}, token ${Math.floor(i / d) % t}`,
        );
      }
    }

    const set = new DefendedSet(sae, spec.features);
    const parts = tf.tidy(() => {
      const select = tf.tensor3d(sel, [n, t, p]);
      const slotMask = tf.tensor3d(slot, [n, p, 1]);
      let hDef = defendedState(set, spec.clamp, h).hDef as Tensor3D;
      if (spec.fixed) hDef = tf.add(hDef, spec.fixed) as Tensor3D;
      const atSlots = (x: Tensor3D) => tf.matMul(select, x, true, false) as Tensor3D; // [N, P, d]
      const hDefAtSlots = atSlots(hDef);
      const hBaseAtSlots = atSlots(h);
      const zDef = tf.mul(set.acts(hDefAtSlots), slotMask) as Tensor3D;
      return { select, slotMask, hDef, hDefAtSlots, hBaseAtSlots, zDef };
    });
    // B on the base and the defended residual, each in its own scope: a model's forward holds its intermediates
    // until the scope ends, and two at once can exhaust wasm's memory on a GPT-2-sized batch.
    const bBase = tf.tidy(() => spec.behaviour(h));
    const bDef = tf.tidy(() => spec.behaviour(parts.hDef));
    let readings: Tensor;
    try {
      readings = tf.tidy(() => {
        if (bBase.rank !== 1 || bBase.shape[0] !== n)
          throw new SiteInputError(`behaviour must return [${n}] scores, got [${bBase.shape.join(', ')}]`);
        const err = (x: Tensor3D) => rowNorms(tf.mul(sae.error(x), parts.slotMask));
        return tf.stack([
          bBase,
          bDef,
          err(parts.hBaseAtSlots),
          err(parts.hDefAtSlots),
          rowNorms(parts.zDef),
          rowNorms(tf.mul(parts.hDefAtSlots, parts.slotMask)),
        ]);
      });
    } catch (e) {
      tf.dispose(Object.values(parts));
      set.dispose();
      throw e;
    } finally {
      tf.dispose([bBase, bDef]);
    }
    const slotNormsT = tf.tidy(() => tf.reshape(tf.sqrt(tf.sum(tf.square(parts.hDefAtSlots), 2)), [n * p]));
    const slotNorms = await slotNormsT.data();
    slotNormsT.dispose();
    const r = await readings.data();
    readings.dispose();
    const row = (k: number) => Float32Array.from(r.subarray(k * n, (k + 1) * n));
    const baseline: Baseline = {
      bBase: row(0),
      bDef: row(1),
      valid: [],
      residualBase: row(2),
      residualDef: row(3),
      zDefNorm: row(4),
      hDefNorm: row(5),
      slotNormMedian: medianOf(Array.from(slotNorms).filter((_, k) => slot[k] === 1)) ?? 0,
    };
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(baseline.bBase[i]) || !Number.isFinite(baseline.bDef[i])) {
        tf.dispose(Object.values(parts));
        set.dispose();
        throw new SiteInputError(`behaviour is not finite for sample ${i} (base ${baseline.bBase[i]}, defended ${baseline.bDef[i]})`);
      }
      baseline.valid.push(baseline.bBase[i] > 0 && baseline.bDef[i] <= 0);
    }
    const deltaFrom = positions.reduce((m, row) => row.reduce((mm, pos) => (pos >= 0 ? Math.min(mm, pos) : mm), m), t);
    return new RecoverySite(spec, { set, ...parts }, baseline, slotsPerSample, deltaFrom);
  }

  /** δ [N, P, d] (already broadcast and masked) written into the defended residual: [N, T, d]. */
  hRec(delta: Tensor3D): Tensor3D {
    return tf.add(this.hDef, placeSlots(this.select, delta)) as Tensor3D;
  }

  /** B for δ [N, P, d]; from the hook onward when the behaviour allows it (the same value, less work). */
  behaviourAt(delta: Tensor3D): Tensor1D {
    const o = this.onward;
    if (o) return o.b.behaviour(tf.add(o.hDef, placeSlots(o.select, delta)) as Tensor3D);
    return this.spec.behaviour(this.hRec(delta));
  }

  /** z_S at the slots for the perturbed residual, [N, P, s] (zero on unused slots). */
  defendedActs(delta: Tensor3D): Tensor3D {
    return tf.mul(this.set.acts(tf.add(this.hDefAtSlots, delta)), this.slotMask) as Tensor3D;
  }

  /** Which defended features are live (their Jacobian rows non-zero) at the slots, [N, P, s]. */
  activeMask(delta: Tensor3D): Tensor3D {
    return tf.mul(this.set.activeMask(tf.add(this.hDefAtSlots, delta)), this.slotMask) as Tensor3D;
  }

  /** Is the Jacobian of z_S w.r.t. δ exactly diag(active)·Aᵀ (affine input transform)? */
  get affineEncoder(): boolean {
    return this.sae.cfg.normalizeActivations === 'none';
  }

  dispose(): void {
    tf.dispose(this.tensors);
    if (this.onward) {
      tf.dispose([this.onward.hDef, this.onward.select]);
      this.onward.b.dispose();
    }
    this.set.dispose();
  }
}
