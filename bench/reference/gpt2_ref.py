#!/usr/bin/env python3
"""An independent GPT-2 forward in PyTorch (no transformers package), in float64, reading a Hugging Face GPT-2
folder (config.json + model.safetensors) with its own safetensors header parser. Used to cross-check Unclamp's
TF.js forward (src/model/gpt2.ts); its outputs are committed as fixtures, so CI never runs this.

  /usr/bin/python3 bench/reference/gpt2_ref.py MODEL_DIR IDS OUT.safetensors

IDS: a JSON file or JSON text holding one sequence [id, ...] or several [[id, ...], ...] (lengths may differ;
each runs alone, unpadded). OUT gets, per sequence s (float32):
  logits.{s}  [T, V]       the logits
  resid.{s}   [L + 1, T, d] the residual stream: blocks.i.hook_resid_pre for i < L, then blocks.{L-1}.hook_resid_post
For a single flat sequence "logits" [T, V] is written too (the key older fixtures used).
"""
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import torch

DTYPES = {"F32": "<f4", "F16": "<f2"}


def read_safetensors(path):
    raw = Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        if meta["dtype"] == "BF16":  # top half of a float32
            u16 = np.frombuffer(raw[base + a : base + b], dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            arr = np.frombuffer(raw[base + a : base + b], dtype=DTYPES[meta["dtype"]])
        out[name.removeprefix("transformer.")] = torch.from_numpy(arr.astype(np.float64).reshape(meta["shape"]))
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def forward(cfg, W, ids):
    """Logits [T, V] and the residual stream [L + 1, T, d] for one unpadded sequence."""
    d, H, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    T = len(ids)
    x = W["wte.weight"][ids] + W["wpe.weight"][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    resid = [x]
    for i in range(L):
        p = f"h.{i}."
        a = layer_norm(x, W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps)
        q, k, v = (a @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]).split(d, dim=-1)
        q, k, v = (t.view(T, H, d // H).transpose(0, 1) for t in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d // H)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        z = (att @ v).transpose(0, 1).reshape(T, d)
        x = x + z @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
        m = layer_norm(x, W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps)
        x = x + gelu_new(m @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"]) @ W[p + "mlp.c_proj.weight"] + W[p + "mlp.c_proj.bias"]
        resid.append(x)
    x = layer_norm(x, W["ln_f.weight"], W["ln_f.bias"], eps)
    return x @ W["wte.weight"].t(), torch.stack(resid)


if __name__ == "__main__":
    model_dir, ids_arg, out = sys.argv[1:4]
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    W = read_safetensors(Path(model_dir) / "model.safetensors")
    ids = json.loads(Path(ids_arg).read_text()) if Path(ids_arg).exists() else json.loads(ids_arg)
    flat = bool(ids) and isinstance(ids[0], int)
    seqs = [ids] if flat else ids
    result = {}
    with torch.no_grad():
        for s, seq in enumerate(seqs):
            logits, resid = forward(cfg, W, torch.tensor(seq))
            result[f"logits.{s}"] = logits
            result[f"resid.{s}"] = resid
            print(f"sequence {s}: {len(seq)} tokens, logits {list(logits.shape)}, max |logit| {logits.abs().max().item():.4f}")
    if flat:
        result["logits"] = result["logits.0"]
    write_safetensors(out, result)
    print(f"wrote {out} (torch {torch.__version__}, computed in float64, stored as float32)")
