// A recovery site: one hook point, one SAE, a defended set with its clamp, the defence at the hook (core/defence.ts:
// the paper's clamp unless told otherwise), any later layers' defences and a monitor, the samples' residuals there,
// the δ slots (token positions) and the scenario's behaviour B. The defended residual without δ is computed once;
// a step recomputes the defence only at the δ slots (it is position-wise), so B from the hook onward still starts
// at the first δ position. Under the paper's clamp δ is simply added to it and features are re-encoded only to
// measure (and, in jacobian mode, constrain) drift.
import { InputError } from './errors.ts';
import { medianOf } from './stats.ts';
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D } from './tf.ts';
import type { Sae } from './sae.ts';
import { DefendedSet } from './intervention.ts';
import type { ClampRule } from './clamp.ts';
import { clampedState, HookDefence, type HookDefenceParams, type LaterLayer } from './defence.ts';
import type { HookKind } from './defence-kinds.ts';
import type { Detector } from './detector.ts';

/**
 * The behaviour to recover: B per sample [N] from the residual at the hook [N, T, d]. A behaviour that runs a
 * causal model may also offer `onward`: the same B computed only from position `from` on (`from` ≤ deltaFrom,
 * the first δ position), for inputs equal to hDef before it, with what precedes cached once per site.
 */
export type Behaviour = ((hRec: Tensor3D) => Tensor1D) & {
  onward?: (hDef: Tensor3D, deltaFrom: number) => SuffixBehaviour;
  /**
   * The same B with defences at later layers' hooks (position-wise maps applied in the forward from the hook on).
   * Absent when B reads only the hook's residual (a probe): later layers cannot change it.
   */
  under?: (later: readonly LaterLayer[]) => { behaviour: Behaviour; dispose(): void };
};

/** The defence a site attacks, beyond its clamp: the operator at the hook, later layers, a monitor. */
export interface SiteDefence {
  /** Which defence this is, e.g. `no-error-term+detect` (defence-kinds.ts defenceKey). */
  id?: string;
  kind: HookKind;
  params?: HookDefenceParams;
  /** Defences at later layers' hooks (owned by the caller). */
  later?: readonly LaterLayer[];
  /** The monitor (owned by the caller): a flagged sample counts as defended. */
  detector?: Detector;
  /** Which tokens are real, [N·T] (the monitor reads every real position); all when omitted. */
  mask?: Float32Array;
  /** Frees `later` and `detector`: the site calls it when disposed (a site that fails to build leaves it to the caller). */
  release?: () => void;
}

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
  /** The defence at the hook and beyond; the paper's clamp alone when omitted. */
  defence?: SiteDefence;
}

/** What the clamp alone does, read back once at creation. */
export interface Baseline {
  bBase: Float32Array;
  bDef: Float32Array;
  /** Valid flip: B > 0 before the defence, and B ≤ 0 (or flagged by the monitor) under it. */
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
  /** With a monitor: each sample's score without δ, and whether it is flagged (a flagged sample counts as defended). */
  detectorScore?: Float32Array;
  flagged?: boolean[];
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
  readonly defence: HookDefence;
  /** The defended residual without δ, as the model reads it at the hook, [N, T, d]. */
  readonly hDef: Tensor3D;
  readonly select: Tensor3D; // [N, T, P] one-hot: where each slot writes
  readonly slotMask: Tensor3D; // [N, P, 1]
  /** hDef at the slots, [N, P, d]. */
  readonly hDefAtSlots: Tensor3D;
  readonly hBaseAtSlots: Tensor3D; // [N, P, d]
  /** The clamped state T(h) (+ any fixed perturbation) at the slots, [N, P, d]: where the paper's δ is added. */
  readonly hClampAtSlots: Tensor3D;
  readonly zDef: Tensor3D; // [N, P, s] re-encoded defended state
  /** B under the defence (with its later layers), and what made it. */
  readonly behaviour: Behaviour;
  private readonly tensors: Tensor[];
  /** B from the first position δ (or the readout) can change on: hDef and the slot selection from there. */
  private readonly onward?: { b: SuffixBehaviour; hDef: Tensor3D; select: Tensor3D };
  private readonly monitor: { detector: Detector; constant: Tensor1D; unusedSlots: Tensor2D } | null;
  private readonly owned: { dispose(): void }[];

  private constructor(
    readonly spec: SiteSpec,
    parts: {
      set: DefendedSet;
      defence: HookDefence;
      behaviour: Behaviour;
      hDef: Tensor3D;
      select: Tensor3D;
      slotMask: Tensor3D;
      hDefAtSlots: Tensor3D;
      hBaseAtSlots: Tensor3D;
      hClampAtSlots: Tensor3D;
      zDef: Tensor3D;
      monitor: RecoverySite['monitor'];
      owned: { dispose(): void }[];
    },
    readonly baseline: Baseline,
    readonly slotsPerSample: number[],
    deltaFrom: number,
  ) {
    [this.n, this.t, this.d] = spec.h.shape;
    this.p = parts.select.shape[2];
    this.set = parts.set;
    this.defence = parts.defence;
    this.behaviour = parts.behaviour;
    this.hDef = parts.hDef;
    this.select = parts.select;
    this.slotMask = parts.slotMask;
    this.hDefAtSlots = parts.hDefAtSlots;
    this.hBaseAtSlots = parts.hBaseAtSlots;
    this.hClampAtSlots = parts.hClampAtSlots;
    this.zDef = parts.zDef;
    this.monitor = parts.monitor;
    this.owned = parts.owned;
    this.tensors = [parts.hDef, parts.select, parts.slotMask, parts.hDefAtSlots, parts.hBaseAtSlots, parts.hClampAtSlots, parts.zDef];
    const { onward } = parts.behaviour;
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
    const kind = spec.defence?.kind ?? 'clamp';
    if (spec.fixed && kind !== 'clamp')
      throw new SiteInputError(`a fixed perturbation (a second stage) runs under the paper's clamp only, not ${kind}`);
    const mask = spec.defence?.mask;
    if (mask && mask.length !== n * t) throw new SiteInputError(`the token mask has ${mask.length} entries, expected ${n * t}`);
    const hData = await h.data();
    for (let i = 0; i < hData.length; i++) {
      if (!Number.isFinite(hData[i])) {
        throw new SiteInputError(
          `activations contain a non-finite value (${hData[i]}) at sample ${Math.floor(i / (t * d))}, token ${Math.floor(i / d) % t}`,
        );
      }
    }

    const set = new DefendedSet(sae, spec.features);
    const owned: { dispose(): void }[] = [set];
    const tensors: Tensor[] = [];
    try {
      const defence = await HookDefence.create(kind, set, spec.clamp, spec.defence?.params);
      owned.push(defence);
      const later = spec.defence?.later ?? [];
      let behaviour = spec.behaviour;
      if (later.length && spec.behaviour.under) {
        const under = spec.behaviour.under(later);
        owned.push(under);
        behaviour = under.behaviour;
      }
      const parts = tf.tidy(() => {
        const select = tf.tensor3d(sel, [n, t, p]);
        const slotMask = tf.tensor3d(slot, [n, p, 1]);
        let hClamp = clampedState(set, spec.clamp, h) as Tensor3D;
        if (spec.fixed) hClamp = tf.add(hClamp, spec.fixed) as Tensor3D;
        const hDef = defence.apply(h, hClamp, null) as Tensor3D;
        const atSlots = (x: Tensor3D) => tf.matMul(select, x, true, false) as Tensor3D; // [N, P, d]
        const hDefAtSlots = atSlots(hDef);
        const hBaseAtSlots = atSlots(h);
        const hClampAtSlots = atSlots(hClamp);
        const zDef = tf.mul(set.acts(hDefAtSlots), slotMask) as Tensor3D;
        return { select, slotMask, hDef, hDefAtSlots, hBaseAtSlots, hClampAtSlots, zDef };
      });
      tensors.push(...Object.values(parts));
      // B on the base and the defended residual, each in its own scope: a model's forward holds its intermediates
      // until the scope ends, and two at once can exhaust wasm's memory on a GPT-2-sized batch.
      const bBase = tf.tidy(() => spec.behaviour(h));
      const bDef = tf.tidy(() => behaviour(parts.hDef));
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
        if (!Number.isFinite(baseline.bBase[i]) || !Number.isFinite(baseline.bDef[i]))
          throw new SiteInputError(`behaviour is not finite for sample ${i} (base ${baseline.bBase[i]}, defended ${baseline.bDef[i]})`);
      }
      let monitor: RecoverySite['monitor'] = null;
      const detector = spec.defence?.detector;
      if (detector) {
        // The monitor reads every real position; those without δ score the same every step, so they are scored once.
        const inSlot = new Float32Array(n * t);
        positions.forEach((row, i) => {
          for (const pos of row) if (pos >= 0) inSlot[i * t + pos] = 1;
        });
        const rest = Float32Array.from(inSlot, (v, k) => (v || (mask && !mask[k]) ? 0 : 1));
        const constant = tf.tidy(() => {
          const sc = detector.positionScores(parts.hDef);
          const off = tf.mul(tf.sub(1, tf.tensor2d(rest, [n, t])), -1e30);
          return tf.max(tf.add(sc, off), 1) as Tensor1D;
        });
        const unusedSlots = tf.tensor2d(
          Float32Array.from(slot, (v) => (v ? 0 : -1e30)),
          [n, p],
        );
        monitor = { detector, constant, unusedSlots };
        tensors.push(constant, unusedSlots);
        const scoreT = tf.tidy(() => RecoverySite.monitorScores(monitor!, parts.hDefAtSlots));
        const score = (await scoreT.data()) as Float32Array;
        scoreT.dispose();
        baseline.detectorScore = Float32Array.from(score);
        baseline.flagged = Array.from(score, (v) => v > detector.threshold);
      }
      for (let i = 0; i < n; i++) baseline.valid.push(baseline.bBase[i] > 0 && (baseline.bDef[i] <= 0 || Boolean(baseline.flagged?.[i])));
      const deltaFrom = positions.reduce((m, row) => row.reduce((mm, pos) => (pos >= 0 ? Math.min(mm, pos) : mm), m), t);
      return new RecoverySite(spec, { set, defence, behaviour, ...parts, monitor, owned }, baseline, slotsPerSample, deltaFrom);
    } catch (e) {
      tf.dispose(tensors);
      for (const o of owned.reverse()) o.dispose();
      throw e;
    }
  }

  /** Each sample's monitor score for the residual the model reads at the slots [N, P, d]: [N]. */
  private static monitorScores(m: NonNullable<RecoverySite['monitor']>, outAtSlots: Tensor3D): Tensor1D {
    const slots = tf.add(m.detector.positionScores(outAtSlots), m.unusedSlots);
    return tf.maximum(m.constant, tf.max(slots, 1)) as Tensor1D;
  }

  /** What the model reads at the slots for δ [N, P, d] (already broadcast and masked): the defence applied there. */
  outAtSlots(delta: Tensor3D): Tensor3D {
    return this.defence.apply(this.hBaseAtSlots, this.hClampAtSlots, delta) as Tensor3D;
  }

  /** What δ changes in the residual at the slots, [N, P, d]: δ itself under the paper's clamp. */
  private change(delta: Tensor3D): Tensor3D {
    return this.defence.additive ? delta : (tf.sub(this.outAtSlots(delta), this.hDefAtSlots) as Tensor3D);
  }

  /** The residual the model reads at the hook for δ [N, P, d]: [N, T, d]. */
  hRec(delta: Tensor3D): Tensor3D {
    return tf.add(this.hDef, placeSlots(this.select, this.change(delta))) as Tensor3D;
  }

  /** B for δ [N, P, d]; from the hook onward when the behaviour allows it (the same value, less work). */
  behaviourAt(delta: Tensor3D): Tensor1D {
    const o = this.onward;
    if (o) return o.b.behaviour(tf.add(o.hDef, placeSlots(o.select, this.change(delta))) as Tensor3D);
    return this.behaviour(this.hRec(delta));
  }

  /** z_S at the slots for the perturbed residual, [N, P, s] (zero on unused slots). */
  defendedActs(delta: Tensor3D): Tensor3D {
    return tf.mul(this.set.acts(this.outAtSlots(delta)), this.slotMask) as Tensor3D;
  }

  /** Which defended features are live (their Jacobian rows non-zero) at the slots, [N, P, s]. */
  activeMask(delta: Tensor3D): Tensor3D {
    return tf.mul(this.set.activeMask(this.outAtSlots(delta)), this.slotMask) as Tensor3D;
  }

  /** The monitor's score per sample for δ, [N]; null without a monitor. */
  detectorScores(delta: Tensor3D): Tensor1D | null {
    return this.monitor ? RecoverySite.monitorScores(this.monitor, this.outAtSlots(delta)) : null;
  }

  get detector(): Detector | null {
    return this.monitor?.detector ?? null;
  }

  /** Is the Jacobian of z_S w.r.t. δ exactly diag(active)·Aᵀ (affine input transform, δ added after the clamp)? */
  get affineEncoder(): boolean {
    return this.sae.cfg.normalizeActivations === 'none' && this.defence.additive;
  }

  dispose(): void {
    tf.dispose(this.tensors);
    if (this.monitor) tf.dispose([this.monitor.constant, this.monitor.unusedSlots]);
    if (this.onward) {
      tf.dispose([this.onward.hDef, this.onward.select]);
      this.onward.b.dispose();
    }
    for (const o of [...this.owned].reverse()) o.dispose();
    this.spec.defence?.release?.();
  }
}
