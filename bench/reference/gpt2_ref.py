#!/usr/bin/env python3
"""An independent GPT-2 forward in PyTorch (no transformers package), reading a Hugging Face GPT-2 folder
(config.json + model.safetensors). Used to cross-check Unclamp's TF.js forward.

  /usr/bin/python3 bench/reference/gpt2_ref.py MODEL_DIR IDS_JSON OUT.safetensors
IDS_JSON: a JSON list of token ids (one sequence). Writes logits [T, V] (float32) under the key "logits".
"""
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import torch


def read_safetensors(path):
    raw = Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        assert meta["dtype"] == "F32", meta["dtype"]
        a, b = meta["data_offsets"]
        out[name.removeprefix("transformer.")] = torch.from_numpy(np.frombuffer(raw[base + a : base + b], dtype="<f4").reshape(meta["shape"]).copy()).double()
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.to(torch.float32).contiguous().numpy().tobytes()
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
    d, H, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    T = len(ids)
    x = W["wte.weight"][ids] + W["wpe.weight"][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
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
    x = layer_norm(x, W["ln_f.weight"], W["ln_f.bias"], eps)
    return x @ W["wte.weight"].t()


if __name__ == "__main__":
    model_dir, ids_json, out = sys.argv[1:4]
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    W = read_safetensors(Path(model_dir) / "model.safetensors")
    ids = json.loads(Path(ids_json).read_text()) if Path(ids_json).exists() else json.loads(ids_json)
    with torch.no_grad():
        logits = forward(cfg, W, torch.tensor(ids))
    write_safetensors(out, {"logits": logits})
    print(f"wrote {out}: logits {list(logits.shape)}, torch {torch.__version__} float64")
