#!/usr/bin/env python3
"""Level d's pythia-70m-deduped-shaped recovery step (bench/families.ts), written independently in PyTorch (float32).

Reads what bench/families.bench.ts wrote into --dir: config.json and model.safetensors (a GPTNeoXForCausalLM in the
Hugging Face layout, float16), case.safetensors (prompt ids, the read-out's two tokens per prompt, a ReLU SAE with
b_dec subtracted from its input, the defended features, a probe δ). Its own GPT-NeoX forward: LayerNorm, the fused
query_key_value laid out [head][q | k | v][head_size], rotary embedding (rotate-half) on the first
rotary_pct · head_size dims of each query and key head, scores / √head_size, causal softmax, the exact (erf) GELU,
the parallel residual x + attn(ln1(x)) + mlp(ln2(x)), the final LayerNorm and embed_out. The step: the defended
features zero-clamped at blocks.L.hook_resid_post (the SAE's error term kept), δ shared at the last position,
B = logit[a] − logit[b] there, Adam (lr 0.1) on −mean B with ‖δ‖ ≤ 20; modes none and encoder (the gradient
projected off W_enc[:, S]). Two shapes of it:
  torch onward      from the hook, the earlier positions' keys and values (after rotary) cached once, two columns read
  torch from-hook   every position from the hook every step (the same B)
  --check      prints what the step computes (B at the clamp, the loss and its gradient at the probe δ, δ after
               --check-steps steps of each mode) instead of timing it, for bench/families.bench.ts to compare
Prints JSON; refuses to run on the reference BLAS (see blas_check.py).
  /usr/bin/python3 bench/reference/neox_step_ref.py --dir /tmp/unclamp-level-d --steps 20 --threads 2
"""
import argparse
import json
import math
import resource
import struct
import sys
import time

import numpy as np
import torch
from blas_check import blas_threads, matmul_peak_gflops, require_openblas, set_threads

p = argparse.ArgumentParser()
p.add_argument("--dir", required=True)
p.add_argument("--hook-layer", type=int, default=3, help="the SAE's hook is blocks.L.hook_resid_post")
p.add_argument("--steps", type=int, default=20)
p.add_argument("--modes", default="none,encoder")
p.add_argument("--shapes", default="onward,from-hook")
p.add_argument("--threads", type=int, help="OpenBLAS's threads (default: its own, one per core)")
p.add_argument("--check", action="store_true", help="print the objective instead of timing")
p.add_argument("--check-steps", type=int, default=3)
a = p.parse_args()
if a.threads:
    set_threads(a.threads)
print(require_openblas(), file=sys.stderr)
backend = f"torch-cpu (OpenBLAS, {blas_threads()} threads)"
torch.set_grad_enabled(True)


def read_safetensors(path):
    """{name: float32 tensor} from a safetensors file (F32, F16, BF16; other dtypes skipped)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        buf = raw[base + b : base + end]
        if e["dtype"] == "F32":
            arr = np.frombuffer(buf, dtype="<f4")
        elif e["dtype"] == "F16":
            arr = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif e["dtype"] == "BF16":
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            continue
        out[name] = torch.from_numpy(arr.reshape(e["shape"]).copy())
    return out


cfg = json.load(open(f"{a.dir}/config.json"))
W = read_safetensors(f"{a.dir}/model.safetensors")
C = read_safetensors(f"{a.dir}/case.safetensors")
assert cfg.get("use_parallel_residual", True), "this reference implements the parallel residual only"
D, H, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
HS = D // H
RD = int(HS * cfg.get("rotary_pct", 0.25))
BASE = cfg.get("rotary_emb_base", 10000)
EPS = cfg.get("layer_norm_eps", 1e-5)
HOOK = a.hook_layer
ids = C["ids"].long()
N, T = ids.shape
read = C["readout"].long()  # [N, 2]: B = logit[read[:, 0]] − logit[read[:, 1]]
W_enc, W_dec, b_enc, b_dec = C["W_enc"], C["W_dec"], C["b_enc"], C["b_dec"]
feats = C["features"].long()
A = W_enc[:, feats].contiguous()  # [D, S]
S = A.shape[1]
P_enc = torch.linalg.solve(A.t() @ A + 1e-4 * torch.eye(S), A.t())  # (AᵀA + rI)⁻¹Aᵀ


def layer(i):
    g = lambda n: W[f"gpt_neox.layers.{i}.{n}"]  # noqa: E731
    return dict(
        ln1=(g("input_layernorm.weight"), g("input_layernorm.bias")),
        ln2=(g("post_attention_layernorm.weight"), g("post_attention_layernorm.bias")),
        W_qkv=g("attention.query_key_value.weight").t().contiguous(),
        b_qkv=g("attention.query_key_value.bias"),
        W_O=g("attention.dense.weight").t().contiguous(),
        b_O=g("attention.dense.bias"),
        W_in=g("mlp.dense_h_to_4h.weight").t().contiguous(),
        b_in=g("mlp.dense_h_to_4h.bias"),
        W_out=g("mlp.dense_4h_to_h.weight").t().contiguous(),
        b_out=g("mlp.dense_4h_to_h.bias"),
    )


blocks = [layer(i) for i in range(L)]
lnf = (W["gpt_neox.final_layer_norm.weight"], W["gpt_neox.final_layer_norm.bias"])
W_read = W["embed_out.weight"][read]  # [N, 2, D]
inv_freq = 1.0 / (BASE ** (torch.arange(0, RD, 2).float() / RD))


def ln(x, wb):
    return torch.nn.functional.layer_norm(x, (D,), wb[0], wb[1], EPS)


def rotary(x, offset):
    """Rotate-half rotary on the first RD dims of x [n, H, t, HS], positions offset.. ."""
    t = x.shape[2]
    freqs = torch.outer(torch.arange(offset, offset + t).float(), inv_freq)
    emb = torch.cat([freqs, freqs], -1)
    cos, sin = emb.cos(), emb.sin()
    xr, xp = x[..., :RD], x[..., RD:]
    x1, x2 = xr[..., : RD // 2], xr[..., RD // 2 :]
    return torch.cat([xr * cos + torch.cat([-x2, x1], -1) * sin, xp], -1)


def attention(w, x, past=None):
    """x [n, tq, D]; past (k, v) [n, H, tp, HS] of earlier positions (k after rotary). Returns out, this call's (k, v)."""
    n, tq, _ = x.shape
    qkv = (x @ w["W_qkv"] + w["b_qkv"]).view(n, tq, H, 3 * HS)
    q, k, v = (u.transpose(1, 2) for u in qkv.split(HS, -1))
    offset = 0 if past is None else past[0].shape[2]
    q, k = rotary(q, offset), rotary(k, offset)
    kv = (k, v)
    if past is not None:
        k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
    tk = k.shape[2]
    mask = torch.ones(tq, tk).tril(tk - tq).bool()
    att = (q @ k.transpose(-1, -2) / math.sqrt(HS)).masked_fill(~mask, float("-inf")).softmax(-1)
    return (att @ v).transpose(1, 2).reshape(n, tq, D) @ w["W_O"] + w["b_O"], kv


def block(w, x, past=None):
    out, kv = attention(w, ln(x, w["ln1"]), past)
    m = torch.nn.functional.gelu(ln(x, w["ln2"]) @ w["W_in"] + w["b_in"]) @ w["W_out"] + w["b_out"]
    return x + out + m, kv


def readout(x):
    """B [N] from the final residual at the last position x [N, 1, D]."""
    logit2 = (ln(x, lnf) @ W_read.transpose(1, 2))[:, 0]  # [N, 2]
    return logit2[:, 0] - logit2[:, 1]


def project(g):
    return g - (g @ P_enc.t()) @ A.t()


with torch.no_grad():
    x = W["gpt_neox.embed_in.weight"][ids]
    for w in blocks[: HOOK + 1]:
        x, _ = block(w, x)
    z_s = torch.relu((x - b_dec) @ A + b_enc[feats])
    h_def = x - z_s @ W_dec[feats]
    past, xp = [], h_def[:, : T - 1]
    for w in blocks[HOOK + 1 :]:
        xp, kv = block(w, xp)
        past.append(kv)
    last = h_def[:, T - 1 :]


def onward_b(delta):
    x = last + delta
    for w, kv in zip(blocks[HOOK + 1 :], past):
        x, _ = block(w, x, kv)
    return readout(x)


def from_hook_b(delta):
    x = torch.cat([h_def[:, : T - 1], last + delta], 1)
    for w in blocks[HOOK + 1 :]:
        x, _ = block(w, x)
    return readout(x[:, T - 1 :])


SHAPES = {"onward": onward_b, "from-hook": from_hook_b}


def optimiser(mode, b_fn):
    delta = torch.zeros(D, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=0.1)

    def step():
        opt.zero_grad()
        loss = -b_fn(delta).mean()
        loss.backward()
        if mode == "encoder":
            delta.grad = project(delta.grad)
        opt.step()
        with torch.no_grad():
            n = delta.norm()
            delta.mul_(min(1.0, 20 / (float(n) + 1e-12)))

    return delta, step


def peak_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


if a.check:
    with torch.no_grad():
        b_def = onward_b(torch.zeros(D))
    probe = C["probe_delta"].clone().requires_grad_(True)
    loss = -onward_b(probe).mean()
    loss.backward()
    out = dict(bDef=b_def.tolist(), loss=float(loss), grad=probe.grad.tolist(), delta={})
    for mode in a.modes.split(","):
        delta, step = optimiser(mode, onward_b)
        for _ in range(a.check_steps):
            step()
        out["delta"][mode] = delta.detach().tolist()
    print(json.dumps(out))
    sys.exit(0)

records = []
for mode in a.modes.split(","):
    for shape in a.shapes.split(","):
        delta, step = optimiser(mode, SHAPES[shape])
        step()  # warm-up
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        ms = (time.perf_counter() - t0) / a.steps * 1000
        records.append(
            dict(
                level="d",
                case=f"pythia-70m-deduped-shaped step at blocks.{HOOK}.hook_resid_post, {N}×{T}",
                impl=f"torch {shape}",
                backend=backend,
                mode=mode,
                msPerStep=ms,
                stepsPerSec=1000 / ms,
                gflopPerStep=None,
                gflops=None,
                peakMB=peak_mb(),
                rssMB=peak_mb(),
            )
        )
peak = matmul_peak_gflops()
for r in records:
    r["extra"] = {"matmulPeakGflops": peak}
print(json.dumps(records))
