"""No secret value in the repository: no Secret manifest with data, no credential literal in the
deploy files, and the rendered overlays carry no Secret at all (make-secrets.sh makes them in the
cluster)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.deploy.conftest import ROOT

# A key naming a credential, then a literal (not empty, not a ${VAR} or $(VAR) reference).
CREDENTIAL_LITERAL = re.compile(
    r"""(?ix)^\s*-?\s*["']?[\w.]*(password|passwd|secret|token|access_key|signing_key|api_key)["']?
        \s*[:=]\s*["']?(?!\$[{(]|["']?\s*$)(?P<value>[^\s"'#]{4,})""",
)
# Words that are names of secrets or placeholders, not values.
ALLOWED_VALUES = re.compile(
    r"^(true|false|loa[-\w]*|secretName|name|key|test-value|dummy[-\w]*|change-me|\[\]|\{\})$"
)


def tracked_and_new_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return [ROOT / p for p in out if (ROOT / p).is_file()]


def test_no_secret_manifest_with_values() -> None:
    offenders = []
    for path in tracked_and_new_files():
        if path.suffix not in (".yaml", ".yml") or ".venv" in path.parts:
            continue
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as exc:  # unreadable here means unchecked: refuse it
            offenders.append(f"{path.relative_to(ROOT)}: not valid YAML ({exc})")
            continue
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                values = {**(doc.get("data") or {}), **(doc.get("stringData") or {})}
                if any(str(v).strip() for v in values.values()):
                    offenders.append(f"{path.relative_to(ROOT)}: Secret {doc['metadata']['name']}")
    assert not offenders, offenders


def test_rendered_overlays_hold_no_secret(rendered) -> None:
    for overlay, docs in rendered.items():
        kinds = {d["kind"] for d in docs}
        assert "Secret" not in kinds, (
            f"{overlay} renders a Secret; secrets come from make-secrets.sh"
        )


def test_no_credential_literals_in_deploy_files() -> None:
    files = [
        ROOT / "docker-compose.yml",
        ROOT / ".env.example",
        ROOT / "Dockerfile",
        *[p for p in (ROOT / "deploy").rglob("*") if p.is_file() and p.suffix != ".json"],
    ]
    offenders = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            m = CREDENTIAL_LITERAL.search(line)
            if m and not ALLOWED_VALUES.match(m.group("value")):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_scanner_finds_a_planted_credential() -> None:
    assert CREDENTIAL_LITERAL.search("  POSTGRES_PASSWORD: hunter2hunter2")
    assert CREDENTIAL_LITERAL.search("LOA_SIGNING_KEY=9f86d081884c7d659a2feaa0c55ad015")
    assert not CREDENTIAL_LITERAL.search('  POSTGRES_PASSWORD: "${POSTGRES_PASSWORD:?set it}"')
    assert not CREDENTIAL_LITERAL.search("LOA_SIGNING_KEY=")
