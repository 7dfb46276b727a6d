# Sourced by bench/gpu/run.sh and profile.sh, from the repository root: unpacks what bench/gpu/prepare.sh packed
# into .dev/, and points Vulkan at the NVIDIA driver. Sets NODE and OUT.
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
echo "node $("$NODE" -v); ICD ${VK_ICD_FILENAMES:-none}; $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi')"
