#!/usr/bin/env python3
"""The recovery loop of bench/recovery.bench.ts written independently in PyTorch (CPU), as the speed baseline.

Same case: N samples, one δ slot each, SAE d × m (standard ReLU, random), |S| defended features zero-clamped,
a linear probe behaviour, Adam (PyTorch defaults), budget clip. Modes: none, encoder (ridge projection of the
gradient), jacobian (exact rows diag(active)·W_enc[:,S]ᵀ, Gram–Schmidt twice, projection). Prints JSON rows.
  /usr/bin/python3 bench/reference/recovery_ref.py --n 64 --d 768 --m 24576 --s 64 --steps 20
"""
import argparse
import json
import resource
import time

import sys

import torch
from blas_check import blas_threads, matmul_peak_gflops, require_openblas, set_threads

p = argparse.ArgumentParser()
p.add_argument("--n", type=int, default=64)
p.add_argument("--d", type=int, default=768)
p.add_argument("--m", type=int, default=24576)
p.add_argument("--s", type=int, default=64)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--modes", default="none,encoder,jacobian")
p.add_argument("--threads", type=int, help="threads for torch and OpenBLAS (default: OpenBLAS's, one per core)")
a = p.parse_args()
if a.threads:
    set_threads(a.threads)
print(require_openblas(), file=sys.stderr)
torch.manual_seed(0)
N, D, M, S = a.n, a.d, a.m, a.s

W_dec = torch.randn(M, D) / D ** 0.5
W_enc = W_dec.t().contiguous()
b_enc = torch.full((M,), -0.05)
b_dec = torch.zeros(D)
feats = torch.arange(S) * 7
A = W_enc[:, feats]  # [D, S]
w = W_dec[feats].sum(0)
h = torch.randn(N, D)


def encode(x):
    return torch.relu((x - b_dec) @ W_enc + b_enc)


z = encode(h)
h_def = h - z[:, feats] @ W_dec[feats]
B_proj = torch.linalg.solve(A.t() @ A + 1e-4 * torch.eye(S), A.t())  # (AᵀA + rI)⁻¹Aᵀ


def behaviour(x):
    return x @ w


G = A.t() @ A
EYE = torch.eye(S)


rows = []
for mode in a.modes.split(","):
    delta = torch.zeros(N, D, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=0.1)

    def step():
        opt.zero_grad()
        loss = -behaviour(h_def + delta).mean()
        loss.backward()
        g = delta.grad
        if mode == "encoder":
            delta.grad = g - (g @ A) @ B_proj
        elif mode == "jacobian":
            with torch.no_grad():
                act = (((h_def + delta - b_dec) @ A + b_enc[feats]) > 0).float()  # [N, S]
                K = act[:, :, None] * act[:, None, :] * G + 1e-4 * EYE + EYE * (1 - act[:, :, None])
                x = torch.linalg.solve(K, act * (g @ A))
                delta.grad = g - x @ A.t()
        opt.step()
        with torch.no_grad():
            n = delta.norm(dim=-1, keepdim=True)
            delta.mul_(torch.clamp(20.0 / (n + 1e-12), max=1.0))

    step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    ms = (time.perf_counter() - t0) / a.steps * 1000
    # The read-out as Unclamp's does it: one full encode and decode of h_rec for ‖e(h_rec)‖, its defended
    # activations from that encode, and the defended activations of h_def computed once, before the run.
    with torch.no_grad():
        z_def_S = encode(h_def)[:, feats]
    t1 = time.perf_counter()
    with torch.no_grad():
        x = h_def + delta
        zz = encode(x)
        err = (x - (zz @ W_dec + b_dec)).norm(dim=-1)
        _ = (zz[:, feats] - z_def_S).norm(dim=-1)
    ms_metrics = (time.perf_counter() - t1) * 1000
    rows.append({
        "backend": f"torch-cpu (OpenBLAS, {blas_threads()} threads)",
        "mode": mode,
        "msPerStep": ms,
        "stepsPerSec": 1000 / ms,
        "gflopPerStep": 0,
        "gflopsAchieved": 0,
        "msMetrics": ms_metrics,
        "peakTfMB": 0,
        "rssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    })
peak = matmul_peak_gflops()
for r in rows:
    r["matmulPeakGflops"] = peak
print(json.dumps(rows))
