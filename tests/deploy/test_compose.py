"""docker-compose.yml: `docker compose config` accepts it (the real compose v2 loader and the
compose-spec schema, no engine needed), with the start order, health checks, volumes, hardening
and settings loa expects; and it refuses to start without the secrets of .env."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import ROOT, loa_settings_env_names

LOA_SERVICES = ("media", "publishing", "feedback", "search", "gateway")
SERVERS = ("postgres", "rabbitmq", "minio", "elasticsearch")


def filled_env(tmp_path: Path) -> Path:
    """.env.example with every empty (secret) value filled by a dummy."""
    text = (ROOT / ".env.example").read_text()
    env = tmp_path / "env"
    env.write_text(re.sub(r"^([A-Z0-9_]+)=$", r"\1=dummy-not-a-secret", text, flags=re.M))
    return env


def compose_config(tools: dict[str, Path], env_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(tools["compose"]),
            "--project-directory",
            str(ROOT),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "--env-file",
            str(env_file),
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config(tools: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    proc = compose_config(tools, filled_env(tmp_path_factory.mktemp("compose")))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_compose_config_is_valid(config: dict[str, Any]) -> None:
    assert set(config["services"]) == {*SERVERS, "migrate", *LOA_SERVICES}


def test_missing_secret_is_refused_by_name(tools: dict[str, Path], tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text((ROOT / ".env.example").read_text())  # secrets still empty
    proc = compose_config(tools, env)
    assert proc.returncode != 0
    empty = re.findall(r"^([A-Z0-9_]+)=$", (ROOT / ".env.example").read_text(), re.M)
    named = re.search(r"required variable (\w+) is missing a value", proc.stderr)
    assert named and named.group(1) in empty, proc.stderr


def test_start_order_and_health(config: dict[str, Any]) -> None:
    services = config["services"]
    for name in SERVERS:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert services[name]["restart"] == "unless-stopped"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["command"] == ["migrate"]
    for name in LOA_SERVICES:
        svc = services[name]
        deps = svc["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        for server in ("rabbitmq", "minio"):
            assert deps[server]["condition"] == "service_healthy"
        # The image's HEALTHCHECK (loa-healthcheck) is what compose waits on: not disabled.
        assert not svc.get("healthcheck", {}).get("disable"), name
        assert svc["command"] == (["serve", name])
    for name in ("media", "publishing", "feedback", "search"):
        assert services["gateway"]["depends_on"][name]["condition"] == "service_healthy"
    assert services["search"]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"


def test_volumes_ports_and_hardening(config: dict[str, Any]) -> None:
    services = config["services"]
    named = set(config["volumes"])
    assert {"postgres-data", "rabbitmq-data", "minio-data", "elasticsearch-data"} <= named
    for name, target in (
        ("postgres", "/var/lib/postgresql/data"),
        ("rabbitmq", "/var/lib/rabbitmq"),
        ("minio", "/data"),
        ("elasticsearch", "/usr/share/elasticsearch/data"),
    ):
        mounts = {(v["type"], v["target"]) for v in services[name]["volumes"]}
        assert ("volume", target) in mounts, f"{name} data is not in a named volume"
    for name in (*LOA_SERVICES, "migrate"):
        svc = services[name]
        assert svc["read_only"] is True, name
        assert svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name
    assert services["media"]["build"]["target"] == "loa-media"
    assert all(
        services[n]["build"]["target"] == "loa"
        for n in ("publishing", "feedback", "search", "gateway", "migrate")
    )
    # Only the gateway and the admin consoles are published, consoles on loopback only.
    published = {n: s.get("ports", []) for n, s in services.items() if s.get("ports")}
    assert set(published) == {"gateway", "rabbitmq", "minio"}
    for name in ("rabbitmq", "minio"):
        assert all(p["host_ip"] == "127.0.0.1" for p in published[name]), name


def test_loa_settings_exist(config: dict[str, Any]) -> None:
    known = loa_settings_env_names()
    for name in (*LOA_SERVICES, "migrate"):
        env = config["services"][name]["environment"]
        unknown = {k for k in env if k.startswith("LOA_")} - known
        assert not unknown, f"{name}: {unknown} are not loa settings (shared/config.py)"
        assert env["LOA_STORAGE_BACKEND"] == "s3" and env["LOA_SEARCH_BACKEND"] == "elasticsearch"
        assert "{service}" in env["LOA_DATABASE_URL_TEMPLATE"]


def test_env_example_has_no_secret_values() -> None:
    values = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for key in (
        "POSTGRES_PASSWORD",
        "RABBITMQ_PASSWORD",
        "MINIO_ROOT_PASSWORD",
        "ELASTIC_PASSWORD",
        "LOA_SIGNING_KEY",
        "LOA_RPC_SIGNING_KEY",
    ):
        assert values[key] == "", f"{key} must be empty in .env.example"
    referenced = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert referenced <= set(values), f"not in .env.example: {referenced - set(values)}"
