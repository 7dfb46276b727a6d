#!/usr/bin/env bash
# On a machine with an NVIDIA GPU, from the repository root with .dev/ made by bench/gpu/prepare.sh: level c (then
# a and b) on WebGPU through Dawn in Node, and the same step in PyTorch on CUDA on the same card. Records go to
# $OUT (default .dev/out): dawn.json (bench/results.json's format, runner 'dawn') and torch-cuda.json.
set -uo pipefail
cd "$(dirname "$0")/../.."
D=.dev
OUT=${OUT:-$D/out}
mkdir -p "$OUT"
unxz() { python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; }
NODE=$(command -v node || true)
if [ -z "$NODE" ] || ! "$NODE" -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)'; then
  unxz "$D/node.xz" /tmp/node && chmod +x /tmp/node && NODE=/tmp/node
fi
unxz "$D/dawn.node.xz" "$D/bench/node_modules/webgpu/dist/linux-x64/dawn.node"
unxz "$D/dawn.bench.mjs.xz" "$D/bench/dawn.bench.mjs"
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  for f in "$D"/gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$f" ]; then export VK_ICD_FILENAMES=$f VK_DRIVER_FILES=$f; break; fi
done
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
echo "node $("$NODE" -v); ICD ${VK_ICD_FILENAMES:-none}; $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
STEPS=${STEPS:-20}
timeout "${LEVEL_C_S:-240}" "$NODE" "$D/bench/dawn.bench.mjs" --levels c --steps "$STEPS" --out "$OUT/dawn.json"
timeout 120 python3 bench/reference/gpt2_step_ref.py --device cuda --steps "$STEPS" >"$OUT/torch-cuda.json"
echo "torch cuda: $(cat "$OUT/torch-cuda.json")"
timeout "${LEVEL_AB_S:-150}" "$NODE" "$D/bench/dawn.bench.mjs" --levels a,b --out "$OUT/dawn.json"
# An experiment kept apart from the records: TF.js submits its queued dispatches to the GPU every 15 by default.
timeout 90 "$NODE" "$D/bench/dawn.bench.mjs" --levels c --steps "$STEPS" --modes none --flags WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=100 --out "$OUT/dawn-batch100.json"
