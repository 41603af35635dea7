#!/usr/bin/env bash
# Installs what loa itself needs, idempotently and quickly when already there:
# the Python virtualenv (.venv) with the pinned dependencies, and ffmpeg.
# Sourced by scripts/start and scripts/test; safe to run on its own.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive

apt_ensure() {
  # apt_ensure <command> <package>...: install the packages if the command is missing.
  local cmd=$1; shift
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "bootstrap: installing $* (apt)"
    apt-get install -y -qq "$@" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$@"; }
  fi
}

python_bin() {
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && \
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
      echo "$candidate"; return
    fi
  done
  apt_ensure python3.11 python3.11 python3.11-venv
  echo python3.11
}

ensure_venv() {
  local stamp="$REPO/.venv/.loa-deps" want
  want="$(cat "$REPO/pyproject.toml" "$REPO/constraints.txt" | sha256sum | cut -d' ' -f1)"
  if [[ -x "$REPO/.venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  local py; py="$(python_bin)"
  if [[ ! -x "$REPO/.venv/bin/python" ]]; then
    echo "bootstrap: creating .venv with $py"
    "$py" -m venv "$REPO/.venv" || { apt_ensure "$py" python3-venv; "$py" -m venv "$REPO/.venv"; }
  fi
  echo "bootstrap: installing pinned Python dependencies"
  "$REPO/.venv/bin/pip" install -q --disable-pip-version-check -c "$REPO/constraints.txt" \
    -e "$REPO[test]"
  echo "$want" > "$stamp"
}

ensure_venv
apt_ensure ffmpeg ffmpeg
