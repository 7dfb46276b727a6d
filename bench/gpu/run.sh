#!/usr/bin/env bash
# On a machine with an NVIDIA GPU, from the repository root with .dev/ made by bench/gpu/prepare.sh: level c (then
# a and b) on WebGPU through Dawn in Node, and the same step in PyTorch on CUDA on the same card. Records go to
# $OUT (default .dev/out): dawn.json (bench/results.json's format, runner 'dawn') and torch-cuda.json; the
# experiments beside them (dawn-*.json) are kept apart from the records.
set -uo pipefail
cd "$(dirname "$0")/../.."
source bench/gpu/env.sh
STEPS=${STEPS:-20}
bench() { timeout "${BENCH_S:-150}" "$NODE" .dev/bench/dawn.bench.mjs --steps "$STEPS" "$@"; }
bench --levels c --out "$OUT/dawn.json"
timeout 120 python3 bench/reference/gpt2_step_ref.py --device cuda --steps "$STEPS" >"$OUT/torch-cuda.json"
echo "torch cuda: $(cat "$OUT/torch-cuda.json")"
bench --levels a,b --out "$OUT/dawn.json"
# Level d: the gemma-2-2b step at full size (bfloat16 weights kept 16-bit; building the random model takes most of
# the time), with the card's own figure for the process's memory sampled beside TF.js's tensor bytes.
( while sleep 1; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null; done ) >"$OUT/level-d-gpu-memory.txt" &
SAMPLER=$!
BENCH_S=${BENCH_S_D:-480} bench --levels d --out "$OUT/dawn.json"
kill "$SAMPLER" 2>/dev/null
echo "level d: the card's memory in use, MiB, at most $(sort -n "$OUT/level-d-gpu-memory.txt" | tail -1) (sampled each second)"
# Experiments: the kernels' device time; TF.js's own uploads (src/engine/webgpu-uploads.ts off); TF.js submitting
# its queued dispatches every 100 instead of 15.
bench --levels c --modes none --profile --out "$OUT/dawn-profile.json"
bench --levels c --modes none --flags TF_UPLOADS=1 --out "$OUT/dawn-tf-uploads.json"
bench --levels c --modes none --flags WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=100 --out "$OUT/dawn-batch100.json"
