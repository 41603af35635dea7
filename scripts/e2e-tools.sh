#!/usr/bin/env bash
# What the browser tests (tests/e2e) need beyond the Python packages: Debian's Chromium, which
# Playwright drives through executable_path (Playwright never downloads a browser here).
# Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-noto-core >/dev/null
/usr/bin/chromium --version
