"""Fixtures of the deploy tests: the repository, the tools and the rendered overlays.

The tools (kustomize, the docker compose CLI plugin, hadolint, kubernetes-validate) are installed
by scripts/deploy-tools.sh, which is idempotent; the session fixture runs it once, so the tests
also work on a fresh machine (the first run then builds the Go tools, a few minutes).
A missing tool fails the tests: skipping would let a broken manifest pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
GO_BIN = Path(os.environ.get("GOBIN") or Path.home() / "go" / "bin")
DOCKER_PLUGINS = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "cli-plugins"


@pytest.fixture(scope="session")
def tools() -> dict[str, Path]:
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "deploy-tools.sh")],
        check=True,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    found = {
        "kustomize": GO_BIN / "kustomize",
        "compose": DOCKER_PLUGINS / "docker-compose",
        "hadolint": ROOT / ".venv" / "bin" / "hadolint",
    }
    for name, path in found.items():
        if not os.access(path, os.X_OK):
            resolved = shutil.which(path.name)
            assert resolved, f"{name} is missing after scripts/deploy-tools.sh"
            found[name] = Path(resolved)
    return found


def build_overlay(kustomize: Path, overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(kustomize), "build", str(K8S / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="session")
def rendered(tools: dict[str, Path]) -> dict[str, list[dict[str, Any]]]:
    """kustomize build of every overlay, parsed."""
    return {overlay: build_overlay(tools["kustomize"], overlay) for overlay in OVERLAYS}


@pytest.fixture(params=OVERLAYS)
def overlay(
    request: pytest.FixtureRequest, rendered: dict[str, list[dict[str, Any]]]
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    yield request.param, rendered[request.param]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def loa_settings_env_names() -> set[str]:
    """Every LOA_* variable loa reads (shared.config.Settings)."""
    from shared.config import Settings

    return {f"LOA_{name.upper()}" for name in Settings.model_fields}
