// Projections that keep the recovery perturbation away from what the defence reads.
//  - encoder: P = I − A (AᵀA + r·I)⁻¹ Aᵀ with A the defended encoder directions [d, s]. (AᵀA + rI)⁻¹ is
//    factorised once per defended set, in float64 on the CPU, and kept as B = (AᵀA + rI)⁻¹Aᵀ so that a
//    projection is two thin matmuls: g − (g·A)·B.
//  - jacobian: project off an orthonormal basis of the constraint map's Jacobian rows, built per step by
//    batched Gram–Schmidt.
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { tf, type Tensor, type Tensor2D, type Tensor3D } from './tf.ts';
import { matmulLast } from './sae.ts';

export class EncoderProjector {
  private constructor(
    readonly A: Tensor2D, // [d, s]
    private readonly B: Tensor2D, // [s, d]
    readonly ridge: number,
  ) {}

  /** Factorise once per defended set. Takes ownership of A. */
  static async create(A: Tensor2D, ridge = 1e-4): Promise<EncoderProjector> {
    const [d, s] = A.shape;
    const a = await A.data();
    const At = new Matrix(s, d);
    for (let i = 0; i < d; i++) for (let j = 0; j < s; j++) At.set(j, i, a[i * s + j]);
    const gram = At.mmul(At.transpose());
    for (let j = 0; j < s; j++) gram.set(j, j, gram.get(j, j) + ridge);
    const chol = new CholeskyDecomposition(gram);
    if (!chol.isPositiveDefinite()) throw new Error('encoder projection: AᵀA + ridge·I is not positive definite (ridge must be > 0)');
    const Bm = chol.solve(At); // (AᵀA + rI)⁻¹ Aᵀ, [s, d]
    const b = new Float32Array(s * d);
    for (let j = 0; j < s; j++) for (let i = 0; i < d; i++) b[j * d + i] = Bm.get(j, i);
    return new EncoderProjector(A, tf.tensor2d(b, [s, d]), ridge);
  }

  /** g ↦ P g along the last axis. */
  project(g: Tensor): Tensor {
    return tf.sub(g, matmulLast(matmulLast(g, this.A), this.B));
  }

  /** Aᵀg along the last axis: what the defended pre-activations see of g (C1 residual). */
  readout(g: Tensor): Tensor {
    return matmulLast(g, this.A);
  }

  dispose(): void {
    tf.dispose([this.A, this.B]);
  }
}

/**
 * Orthonormalise the rows of each batch element: V [B, R, D] → Q [B, R, D], with rows that are
 * (numerically) dependent on earlier ones set to zero. Classical Gram–Schmidt applied twice per row
 * ("twice is enough"), vectorised over the batch.
 */
export function orthonormalRows(V: Tensor3D, relTol = 1e-6): Tensor3D {
  return tf.tidy(() => {
    const [, R] = V.shape;
    let Q: Tensor3D | null = null;
    for (let r = 0; r < R; r++) {
      const v0 = tf.slice(V, [0, r, 0], [-1, 1, -1]) as Tensor3D;
      let v = v0;
      if (Q) {
        for (let pass = 0; pass < 2; pass++) {
          const coeff = tf.matMul(v, Q, false, true); // [B, 1, r]
          v = tf.sub(v, tf.matMul(coeff, Q)) as Tensor3D;
        }
      }
      const n0 = tf.norm(v0, 'euclidean', -1, true);
      const n = tf.norm(v, 'euclidean', -1, true);
      // Keep the row only if it carries a direction not already spanned (relative to its own length).
      const keep = tf.step(tf.sub(n, tf.add(tf.mul(n0, relTol), 1e-20)));
      const q = tf.mul(tf.div(v, tf.add(n, 1e-30)), keep) as Tensor3D;
      Q = Q ? (tf.concat([Q, q], 1) as Tensor3D) : q;
    }
    return Q ?? (tf.zeros(V.shape) as Tensor3D);
  });
}

/** g [B, D] ↦ g − Qᵀ(Q g) for orthonormal rows Q [B, R, D]. */
export function projectOffRows(g: Tensor2D, Q: Tensor3D): Tensor2D {
  return tf.tidy(() => {
    const g3 = tf.expandDims(g, 1) as Tensor3D; // [B, 1, D]
    const coeff = tf.matMul(g3, Q, false, true); // [B, 1, R]
    return tf.squeeze(tf.sub(g3, tf.matMul(coeff, Q)), [1]) as Tensor2D;
  });
}

/** Cosine between two tensors of equal shape (scalar tensor); 1 when either is zero. */
export function cosine(a: Tensor, b: Tensor): Tensor {
  return tf.tidy(() => {
    const na = tf.norm(a);
    const nb = tf.norm(b);
    const denom = tf.mul(na, nb);
    const zero = tf.lessEqual(denom, 1e-30);
    return tf.where(zero, tf.onesLike(denom), tf.div(tf.sum(tf.mul(a, b)), tf.maximum(denom, 1e-30)));
  });
}

/**
 * K⁻¹ for a batch of small symmetric positive definite matrices K [B, w, w], by Gauss–Jordan elimination without
 * pivoting (stable for SPD) on [K | I]: w rank-1 updates.
 */
function batchedInverseSpd(K: Tensor3D): Tensor3D {
  const [B, w] = K.shape;
  // The identities by a broadcast sum: broadcastTo is a Tile, which on wasm takes 0.3 ms for 8 × 8 × 64 values.
  let M = tf.concat([K, tf.add(tf.zerosLike(K), tf.eye(w))], 2) as Tensor3D; // [B, w, 2w]
  const eye = tf.eye(w);
  for (let k = 0; k < w; k++) {
    const row = tf.div(tf.slice(M, [0, k, 0], [B, 1, 2 * w]), tf.slice(M, [0, k, k], [B, 1, 1])); // [B, 1, 2w]
    const col = tf.sub(tf.slice(M, [0, 0, k], [B, w, 1]), tf.reshape(tf.slice(eye, [0, k], [w, 1]), [1, w, 1])); // [B, w, 1]
    // Outer product by broadcasting: cheaper than a batched matmul with an inner dimension of 1.
    M = tf.sub(M, tf.mul(col, row)) as Tensor3D;
  }
  return tf.slice(M, [0, 0, w], [B, w, w]) as Tensor3D;
}

/** Rows eliminated per block in batchedSolveSpd. */
const SOLVE_BLOCK = 8;

/**
 * Solve K x = b for a batch of small symmetric positive definite systems, K [B, s, s], b [B, s] → [B, s], by
 * block Gauss–Jordan on [K | b]: for each block of rows, invert its (Schur-complement) pivot block and clear the
 * block's columns from every other row with one batched matmul. The rank-1 updates then run on the small pivot
 * blocks, not on the whole [B, s, s + 1] system: a few times less memory traffic per step on wasm.
 */
export function batchedSolveSpd(K: Tensor3D, b: Tensor2D): Tensor2D {
  return tf.tidy(() => {
    const [B, s] = K.shape;
    let M = tf.concat([K, tf.expandDims(b, 2)], 2) as Tensor3D; // [B, s, s+1]
    for (let k0 = 0; k0 < s; k0 += SOLVE_BLOCK) {
      const w = Math.min(SOLVE_BLOCK, s - k0);
      const rows = tf.slice(M, [0, k0, 0], [B, w, s + 1]) as Tensor3D;
      const normalised = tf.matMul(batchedInverseSpd(tf.slice(M, [0, k0, k0], [B, w, w]) as Tensor3D), rows); // [B, w, s+1]
      // Every row i loses C_i · normalised, where C is the block's columns; the block's own rows keep their pivot
      // part (C − E, E the identity on the block rows), so they become the normalised rows.
      const E = tf.pad(tf.eye(w), [
        [k0, s - k0 - w],
        [0, 0],
      ]);
      const C = tf.sub(tf.slice(M, [0, 0, k0], [B, s, w]), tf.expandDims(E, 0));
      M = tf.sub(M, tf.matMul(C, normalised)) as Tensor3D;
    }
    return tf.reshape(tf.slice(M, [0, 0, s], [B, s, 1]), [B, s]) as Tensor2D;
  });
}

/** The columns A [d, s] of the masked projection, with what it reuses every step: Aᵀ [s, d] and G = AᵀA [s, s]. */
export interface MaskedColumns {
  A: Tensor2D;
  /** Kept on every backend (it is small) rather than a product with transposeB, slow on wasm (keepTransposes). */
  At: Tensor2D;
  G: Tensor2D;
}

/** A's projection parts; they own A from then on. */
export function maskedColumns(A: Tensor2D): MaskedColumns {
  return { A, ...tf.tidy(() => ({ At: tf.transpose(A) as Tensor2D, G: tf.matMul(A, A, true, false) as Tensor2D })) };
}

/**
 * Project each row g_b [B, d] off the span of the columns of A [d, s] selected by mask_b [B, s] (1 = live):
 *   g − A·x,  (D G D + r·I + (I − D)) x = D Aᵀ g,  G = AᵀA,  D = diag(mask).
 * Dead columns get a unit diagonal and a zero right-hand side, so their x is 0 and they play no part.
 * This is the exact Jacobian-row projection of a single layer, at the cost of s small eliminations.
 */
export function projectOffMaskedColumns(g: Tensor2D, { A, At, G }: MaskedColumns, mask: Tensor2D, ridge: number): Tensor2D {
  return tf.tidy(() => {
    const s = mask.shape[1];
    const m3 = tf.expandDims(mask, 2); // [B, s, 1]
    const eye = tf.reshape(tf.eye(s), [1, s, s]);
    const K = tf.add(
      tf.mul(tf.mul(m3, tf.transpose(m3, [0, 2, 1])), tf.expandDims(G, 0)),
      tf.add(tf.mul(eye, ridge), tf.mul(eye, tf.sub(1, m3))),
    ) as Tensor3D;
    const rhs = tf.mul(mask, tf.matMul(g, A)) as Tensor2D; // D Aᵀ g, [B, s]
    const x = batchedSolveSpd(K, rhs);
    return tf.sub(g, tf.matMul(x, At)) as Tensor2D;
  });
}
