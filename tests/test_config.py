"""Configuration: environment only, validated at start, one line naming the variable."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from shared.config import SERVICES
from tests.conftest import ROOT


def run_loa(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOA_")}
    return subprocess.run(
        [str(ROOT / ".venv/bin/loa"), *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"LOA_HTTP_PORT": "eighty"}, "LOA_HTTP_PORT"),
        ({"LOA_HTTP_PORT": "70000"}, "LOA_HTTP_PORT"),
        ({"LOA_AMQP_URI": "http://broker"}, "LOA_AMQP_URI"),
        ({"LOA_STORAGE_BACKEND": "ftp"}, "LOA_STORAGE_BACKEND"),
        ({"LOA_STORAGE_BACKEND": "s3"}, "LOA_S3_ENDPOINT"),
        ({"LOA_SEARCH_BACKEND": "elasticsearch"}, "LOA_ELASTICSEARCH_URL"),
        ({"LOA_MEDIA_DATABASE_URL": "mysql://x"}, "LOA_MEDIA_DATABASE_URL"),
        ({"LOA_EVENT_RETRY_DELAYS_MS": "1,-2"}, "LOA_EVENT_RETRY_DELAYS_MS"),
    ],
)
def test_a_wrong_setting_stops_with_one_line_naming_it(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    result = run_loa("migrate", env=env, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0] and "configuration error" in lines[0]


def test_migrate_on_defaults_creates_every_database(tmp_path: Path) -> None:
    result = run_loa("migrate", env={"LOA_DATA_DIR": str(tmp_path / "d")}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for service in ("media", "publishing", "feedback", "search", "gateway"):
        assert (tmp_path / "d" / f"{service}.sqlite3").exists()
    again = run_loa("migrate", env={"LOA_DATA_DIR": str(tmp_path / "d")}, cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_migrate_on_postgresql(tmp_path: Path, pg_database) -> None:  # type: ignore[no-untyped-def]
    env = {f"LOA_{s.upper()}_DATABASE_URL": pg_database(s) for s in SERVICES}
    env["LOA_DATA_DIR"] = str(tmp_path)
    result = run_loa("migrate", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_readme_lists_every_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    from loa.cli import settings_classes

    names = [
        f"{cls.model_config.get('env_prefix', '')}{n.upper()}"
        for cls in settings_classes()
        for n in cls.model_fields
    ]
    missing = [n for n in names if f"`{n}`" not in readme]
    assert not missing, f"README's table lacks {missing}; run `loa config --update-readme`"


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "./scripts/start" in readme and "./scripts/test" in readme
    ci = (ROOT / ".ci/run").read_text()
    assert "./scripts/test" in ci
