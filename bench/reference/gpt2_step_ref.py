#!/usr/bin/env python3
"""The GPT-2-small-shaped recovery step of bench/gpt2-step.bench.ts, written independently in PyTorch (float32, CPU or CUDA).

Random weights of GPT-2 small's shapes, N prompts × T tokens, δ shared at the last position of
blocks.4.hook_resid_pre, 64 defended features of a 24,576-feature ReLU SAE zero-clamped there (error term kept),
B = a logit difference at the last position, Adam on δ with ‖δ‖ ≤ 20. Two shapes of the same step:
  torch onward           from the hook, the earlier positions' keys and values cached, the two read columns
  torch paper-pipeline   the whole model from the embeddings every step, the clamp applied at the hook, all
                         V logits (what the paper's code does)
Modes: none, encoder (the gradient projected off W_enc[:, S]). Prints JSON records; refuses to run on the
reference BLAS, which would flatter any ratio against it.
  /usr/bin/python3 bench/reference/gpt2_step_ref.py --n 64 --t 15 --steps 5
  python3 bench/reference/gpt2_step_ref.py --device cuda     (on a GPU machine, beside bench/dawn.bench.ts)
"""
import argparse
import json
import math
import resource
import sys
import time

import torch
from blas_check import blas_threads, matmul_peak_gflops, require_openblas, set_threads

p = argparse.ArgumentParser()
p.add_argument("--n", type=int, default=64)
p.add_argument("--t", type=int, default=15)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--modes", default="none,encoder")
p.add_argument("--threads", type=int, help="CPU: threads for torch and OpenBLAS (default: OpenBLAS's, one per core)")
p.add_argument("--device", default="cpu", help="cpu, or cuda on a machine with an NVIDIA GPU (the same card as WebGPU)")
a = p.parse_args()
dev = torch.device(a.device)
if dev.type == "cpu":
    if a.threads:
        set_threads(a.threads)
    print(require_openblas(), file=sys.stderr)
    backend = f"torch-cpu (OpenBLAS, {blas_threads()} threads)"
else:
    # float32 products as on the CPU and in WebGPU: no TF32 shortcut
    torch.backends.cuda.matmul.allow_tf32 = False
    backend = f"torch-cuda ({torch.cuda.get_device_name(dev)}, torch {torch.__version__}, fp32)"
    print(backend, file=sys.stderr)
    torch.set_default_device(dev)  # torch ≥ 2.0, as on a GPU machine; Debian's 1.13 stays on the CPU path

torch.manual_seed(0)
N, T, L, H, D, V, M, S, HOOK = a.n, a.t, 12, 12, 768, 50257, 24576, 64, 4
DH = D // H
proj = 0.02 / math.sqrt(2 * L)
W_E = torch.randn(V, D) * 0.02
W_pos = torch.randn(1024, D) * 0.01
blocks = [
    dict(W_attn=torch.randn(D, 3 * D) * 0.02, W_O=torch.randn(D, D) * proj, W_in=torch.randn(D, 4 * D) * 0.02, W_out=torch.randn(4 * D, D) * proj)
    for _ in range(L)
]
W_dec = torch.randn(M, D) / D ** 0.5
W_enc = W_dec.t().contiguous()
b_enc = torch.full((M,), -0.05)
feats = torch.arange(S) * 7
A = W_enc[:, feats]  # [D, S]
P_enc = torch.linalg.solve(A.t() @ A + 1e-4 * torch.eye(S), A.t())  # (AᵀA + rI)⁻¹Aᵀ
ids = torch.randint(0, V, (N, T))
io, s = torch.randint(0, V, (N,)), torch.randint(0, V, (N,))


def ln(x):
    return torch.nn.functional.layer_norm(x, (D,))


def gelu(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def attention(w, x, past=None):
    """x [N, Tq, D]; past (k, v) [N, H, Tp, DH] of earlier positions. Returns out and this call's (k, v)."""
    n, tq, _ = x.shape
    q, k, v = (x @ w["W_attn"]).split(D, -1)
    q, k, v = (u.view(n, tq, H, DH).transpose(1, 2) for u in (q, k, v))
    if past is not None:
        k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
    tk = k.shape[2]
    mask = torch.ones(tq, tk).tril(tk - tq).bool()
    att = (q @ k.transpose(-1, -2) / math.sqrt(DH)).masked_fill(~mask, -1e9).softmax(-1)
    return (att @ v).transpose(1, 2).reshape(n, tq, D) @ w["W_O"], (k, v)


def block(w, x, past=None):
    out, kv = attention(w, ln(x), past)
    x = x + out
    return x + gelu(ln(x) @ w["W_in"]) @ w["W_out"], kv


def clamp(h):
    """Zero the defended features at the hook, keeping the SAE's error term: h − z_S · W_dec[S]."""
    z_s = torch.relu(h @ A + b_enc[feats])
    return h - z_s @ W_dec[feats]


def embed():
    return W_E[ids] + W_pos[:T]


def project(g):
    return g - (g @ P_enc.t()) @ A.t()


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def peak_mb():
    if dev.type == "cuda":
        return round(torch.cuda.max_memory_allocated(dev) / 2**20)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def timed(shape, mode, loss_fn):
    delta = torch.zeros(D, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=0.1)

    def step():
        opt.zero_grad()
        loss = loss_fn(delta)
        loss.backward()
        if mode == "encoder":
            delta.grad = project(delta.grad)
        opt.step()
        with torch.no_grad():
            n = delta.norm()
            if n > 20:
                delta.mul_(20 / n)

    step()  # warm-up
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    ms = (time.perf_counter() - t0) / a.steps * 1000
    return dict(
        level="c",
        case=f"gpt2-small-shaped IOI step, {N}×{T}",
        impl=f"torch {shape}",
        backend=backend,
        mode=mode,
        msPerStep=ms,
        stepsPerSec=1000 / ms,
        gflopPerStep=None,
        gflops=None,
        peakMB=peak_mb(),
        rssMB=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    )


# From the hook onward: the residual at the hook and the prefix's keys and values, once.
with torch.no_grad():
    x = embed()
    for w in blocks[:HOOK]:
        x, _ = block(w, x)
    h_def = clamp(x)
    past, xp = [], h_def[:, : T - 1]
    for w in blocks[HOOK:]:
        xp, kv = block(w, xp)
        past.append(kv)
    last = h_def[:, T - 1 :]
W_read = torch.stack([W_E[io], W_E[s]], 1)  # [N, 2, D]


def onward_loss(delta):
    x = last + delta
    for w, kv in zip(blocks[HOOK:], past):
        x, _ = block(w, x, kv)
    logit2 = (ln(x) @ W_read.transpose(1, 2))[:, 0]  # [N, 2]
    return -(logit2[:, 0] - logit2[:, 1]).mean()


def paper_loss(delta):
    x = embed()
    for w in blocks[:HOOK]:
        x, _ = block(w, x)
    x = clamp(x)
    x = torch.cat([x[:, : T - 1], x[:, T - 1 :] + delta], 1)
    for w in blocks[HOOK:]:
        x, _ = block(w, x)
    logits = ln(x) @ W_E.t()  # [N, T, V]
    rows = torch.arange(N)
    return -(logits[rows, T - 1, io] - logits[rows, T - 1, s]).mean()


records = []
for mode in a.modes.split(","):
    records.append(timed("onward", mode, onward_loss))
    records.append(timed("paper-pipeline", mode, paper_loss))
peak = matmul_peak_gflops(dev)
for r in records:
    r.setdefault("extra", {})["matmulPeakGflops"] = peak
print(json.dumps(records))
