#!/usr/bin/env bash
# Level c on the GPU under TF.js's profiler (set-up as in bench/gpu/run.sh): each step's kernels and their device
# time per kernel name, which tells the cost of issuing kernels from that of running them.
set -uo pipefail
cd "$(dirname "$0")/../.."
source bench/gpu/env.sh
timeout "${LEVEL_C_S:-240}" "$NODE" .dev/bench/dawn.bench.mjs --levels c --steps "${STEPS:-20}" --profile --out "$OUT/dawn-profile.json"
