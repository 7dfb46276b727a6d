#!/usr/bin/env bash
# End-to-end tests drive Debian's Chromium (no browser download is possible on these machines).
# Install it when missing and we are allowed to (root); otherwise stop with a clear message.
set -euo pipefail
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: $CHROMIUM is missing; installing Debian's 'chromium' package..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq chromium >&2
  [ -x "$CHROMIUM" ] && exit 0
fi
echo "ensure-chromium: Chromium was not found at $CHROMIUM and could not be installed." >&2
echo "Install Debian's 'chromium' package (sudo apt-get install -y chromium) or set CHROMIUM_PATH." >&2
exit 1
