"""The Dockerfile: lint-clean, pinned, non-root, healthchecked, ffmpeg only in the media image,
nothing but the packages in the build context; and the wheel it installs carries what loa needs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT

DOCKERFILES = sorted(
    {ROOT / "Dockerfile", *ROOT.glob("deploy/docker/**/Dockerfile*"), *ROOT.glob("**/*.Dockerfile")}
    - {p for p in ROOT.glob(".venv/**/*")}
)


def stages(text: str) -> dict[str, str]:
    """Stage name -> its instructions (comments dropped, continuation lines joined)."""
    text = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    joined = re.sub(r"\\\n", " ", text)
    result: dict[str, str] = {}
    current = None
    for line in joined.splitlines():
        m = re.match(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
        if m:
            current = m.group(2) or m.group(1)
            result[current] = line + "\n"
        elif current:
            result[current] += line + "\n"
    return result


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_has_no_warning_or_error(tools, dockerfile: Path) -> None:
    proc = subprocess.run(
        [
            str(tools["hadolint"]),
            "--no-color",
            "-f",
            "json",
            "--failure-threshold",
            "warning",
            str(dockerfile),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(proc.stdout or "[]")
    bad = [f for f in findings if f["level"] in ("error", "warning")]
    assert not bad, "\n".join(f"{f['line']}: {f['code']} {f['level']}: {f['message']}" for f in bad)
    assert proc.returncode == 0, proc.stderr


def test_dockerfile_targets_and_hardening() -> None:
    text = (ROOT / "Dockerfile").read_text()
    st = stages(text)
    assert set(st) >= {"build", "loa", "loa-media"}
    for line in re.findall(r"^FROM\s+(\S+)", text, re.M | re.I):
        if line in st:  # FROM an earlier stage
            continue
        # Pinned: an exact patch version tag and the image digest.
        assert re.search(r":\d+\.\d+\.\d+[-\w.]*@sha256:[0-9a-f]{64}$", line), line
    for final in ("loa", "loa-media"):
        body = st[final] if final == "loa" else st["loa"] + st[final]
        users = re.findall(r"^USER\s+(\S+)", body, re.M)
        assert users and users[-1].split(":")[0] not in ("0", "root"), f"{final} runs as root"
        assert users[-1].split(":")[0].isdigit(), "numeric uid, so runAsNonRoot can check it"
    assert "HEALTHCHECK" in st["loa"], "the loa stage (and so loa-media) has a HEALTHCHECK"
    assert 'ENTRYPOINT ["loa"]' in st["loa"]
    # ffmpeg only in the media image; no compilers anywhere in a final image.
    assert "ffmpeg" in st["loa-media"]
    assert "ffmpeg" not in st["loa"] and "ffmpeg" not in st["build"]
    for final in ("loa", "loa-media"):
        assert not re.search(r"build-essential|gcc|g\+\+|libpq-dev|\bmake\b", st[final])
    # No secret baked in: no ARG/ENV whose name says secret with a value.
    for m in re.finditer(r"^(?:ARG|ENV)\s+(.*)$", text, re.M):
        assert not re.search(
            r"(PASS|SECRET|TOKEN|SIGNING_KEY|ACCESS_KEY)\w*\s*=\s*\S", m.group(1)
        ), m.group(0)


def test_dockerignore_keeps_secrets_and_state_out() -> None:
    lines = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: everything is excluded first"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    assert allowed <= {
        "pyproject.toml",
        "constraints.txt",
        "loa",
        "shared",
        "services",
        "deploy/docker/healthcheck.py",
    }, allowed
    # Everything the Dockerfile copies from the context is allowed in.
    copied = re.findall(r"^COPY\s+(?!--from)(.+)\s+\S+$", (ROOT / "Dockerfile").read_text(), re.M)
    for sources in copied:
        for src in sources.split():
            top = src.split("/")[0] if not src.startswith("deploy/") else src
            assert top in allowed, f"COPY {src} is excluded by .dockerignore"


def test_healthcheck_script_is_valid_python() -> None:
    script = ROOT / "deploy" / "docker" / "healthcheck.py"
    compile(script.read_text(), str(script), "exec")
    # With nothing listening it must fail (exit 1), not crash.
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=30,
        env={"LOA_HTTP_PORT": "1", "LOA_HEALTH_PORT": "2", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 1, proc.stderr


def test_wheel_carries_migrations_and_templates(tmp_path: Path) -> None:
    """The image installs loa as a wheel built from the build context (the .dockerignore
    allow-list): every service's alembic folder must be inside it."""
    context = tmp_path / "context"
    context.mkdir()
    for name in ("pyproject.toml", "constraints.txt"):
        shutil.copy2(ROOT / name, context / name)
    for package in ("loa", "shared", "services"):
        shutil.copytree(
            ROOT / package,
            context / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
        )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(context),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=240,
    )
    (wheel,) = tmp_path.glob("loa-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for service in ("media", "publishing", "feedback", "search", "gateway"):
        assert f"services/{service}/migrations/env.py" in names, f"{service} migrations missing"
        assert f"services/{service}/migrations/script.py.mako" in names
    assert "loa/cli.py" in names and "shared/config.py" in names
