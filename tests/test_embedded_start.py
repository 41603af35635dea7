"""The newcomer's path: `loa start` runs all five services on the embedded defaults, the status
page shows every one ready, Ctrl-C stops cleanly, and a second start keeps the data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, wait_until


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Loa:
    def __init__(self, data: Path, amqp_uri: str) -> None:
        self.port = _free_port()
        clean = {k: v for k, v in os.environ.items() if not k.startswith("LOA_")}
        self.env = {
            **clean,
            "LOA_DATA_DIR": str(data),
            "LOA_AMQP_URI": amqp_uri,
            "LOA_HTTP_PORT": str(self.port),
            "LOA_HTTP_HOST": "127.0.0.1",
            "LOA_LOG_FORMAT": "json",
        }
        self.lines: list[str] = []

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/loa"), "start"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def status(self) -> dict | None:  # type: ignore[type-arg]
        try:
            return requests.get(f"{self.url}/api/status", timeout=20).json()
        except requests.RequestException:
            return None

    def interrupt(self, signum: int = signal.SIGINT, why: str = "") -> int:
        """Send the signal, wait for the exit and for the last line of output to be read."""
        self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"loa ran on 60 s after {signum!r}{why}") from None
        self.reader.join(timeout=10)
        return code

    def errors(self) -> list[str]:
        return [ln for ln in self.lines if '"level": "ERROR"' in ln]


CHANGED_PASSWORD = "mật-khẩu-riêng-của-quản-trị"


def _signed_in(url: str, password: str) -> requests.Session:
    http = requests.Session()
    resp = http.post(f"{url}/api/auth/login", json={"username": "admin", "password": password},
                     timeout=20)  # fmt: skip
    assert resp.status_code == 200, resp.text
    http.headers["X-CSRF-Token"] = resp.json()["csrf_token"]
    return http


def _first_admin(url: str, data: Path) -> requests.Session:
    """Sign in with the password `loa start` made, and change it as the console asks."""
    initial = (data / ".admin-password").read_text().strip()
    http = _signed_in(url, initial)
    assert http.get(f"{url}/api/auth/me", timeout=20).json()["user"]["must_change_password"]
    change = {"current_password": initial, "new_password": CHANGED_PASSWORD}
    changed = http.post(f"{url}/api/auth/password", json=change, timeout=20)
    assert changed.status_code == 204, changed.text
    return http


def test_start_status_stop_restart(tmp_path: Path, rabbit_config: dict) -> None:  # type: ignore[type-arg]
    data = tmp_path / "data"
    loa = Loa(data, rabbit_config["AMQP_URI"])
    loa.start()
    try:
        status = wait_until(
            lambda: (s := loa.status()) and s.get("ready") and s,
            timeout=120,
            what="every service ready on the status page",
        )
        assert {s["service"] for s in status["services"]} == {
            "media",
            "publishing",
            "feedback",
            "search",
            "gateway",
        }
        page = requests.get(loa.url + "/", timeout=20).text
        for name in ("media", "publishing", "feedback", "search", "gateway"):
            assert f'data-service="{name}" data-ready="true"' in page
        # The first admin (password in data/.admin-password) changes it, then sends a probe
        # (probes are for staff); the file goes once the password is changed.
        admin = _first_admin(loa.url, data)
        assert not (data / ".admin-password").exists()
        probe = admin.post(loa.url + "/api/bus/probes", timeout=20).json()["event_id"]
        wait_until(
            lambda: admin.get(f"{loa.url}/api/bus/probes/{probe}", timeout=20).json()["received"],
            what="a probe round the bus",
        )
    finally:
        code = loa.interrupt()
    assert code == 0, "".join(loa.lines[-30:])
    for name in ("media", "publishing", "feedback", "search", "gateway"):
        assert (data / f"{name}.sqlite3").exists()
    assert (data / "objects").is_dir()
    assert not loa.errors(), "".join(loa.lines[-30:])

    again = Loa(data, rabbit_config["AMQP_URI"])
    again.start()
    try:
        wait_until(
            lambda: (s := again.status()) and s.get("ready"),
            timeout=120,
            what="ready again after restart",
        )
        admin = _signed_in(again.url, CHANGED_PASSWORD)
        kept = admin.get(f"{again.url}/api/bus/probes/{probe}", timeout=20)
        assert kept.status_code == 200 and kept.json()["received"] is True
    finally:
        assert again.interrupt() == 0, "".join(again.lines[-30:])
    assert not again.errors(), "".join(again.lines[-30:])


@pytest.mark.parametrize(
    ("moment", "signum"),
    [
        ("while the containers start", signal.SIGINT),
        ("as soon as the status page answers", signal.SIGINT),
        ("as soon as the status page answers", signal.SIGTERM),
    ],
)
def test_a_stop_asked_at_any_moment_of_start_up_ends_cleanly(
    tmp_path: Path,
    rabbit_config: dict,  # type: ignore[type-arg]
    moment: str,
    signum: int,
) -> None:
    """Ctrl-C (or Kubernetes' SIGTERM) right after starting: loa stops on its own, exit code 0,
    no error logged. It used to die of a KeyboardInterrupt raised inside the starting
    containers, or to lose the request in a green thread that swallowed it and run on."""
    loa = Loa(tmp_path / "data", rabbit_config["AMQP_URI"])
    loa.start()
    if moment == "while the containers start":
        wait_until(
            lambda: any("starting services" in ln for ln in loa.lines),
            timeout=120,
            interval=0.005,
            what="the containers starting",
        )
    else:
        wait_until(lambda: loa.status() is not None, timeout=120, what="the status page")
    code = loa.interrupt(signum, f" {moment}")
    assert code == 0, "".join(loa.lines[-30:])
    assert any("loa stopped" in ln for ln in loa.lines), "".join(loa.lines[-30:])
    assert not loa.errors(), "".join(loa.lines[-30:])


def test_the_same_code_on_real_servers_by_variables_alone(
    tmp_path: Path,
    rabbit_user_uri: str,
    pg_admin_url: str,
) -> None:
    """PostgreSQL (a database per service), S3 and Elasticsearch instead of the embedded parts:
    only environment variables change (and RabbitMQ's guest account is not one of them: at scale
    loa needs a broker user of its own)."""
    import uuid

    from minio import Minio
    from sqlalchemy import create_engine, text

    from tests.conftest import require_env

    label = f"loa_scale_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    services = ("media", "publishing", "feedback", "search", "gateway")
    with admin.connect() as conn:
        for name in services:
            conn.execute(text(f'CREATE DATABASE "{label}_{name}"'))
    bucket = label.replace("_", "-")
    es = require_env("LOA_TEST_ELASTICSEARCH_URL")
    s3 = Minio(
        require_env("LOA_TEST_S3_ENDPOINT"),
        access_key=require_env("LOA_TEST_S3_ACCESS_KEY"),
        secret_key=require_env("LOA_TEST_S3_SECRET_KEY"),
        secure=False,
    )
    loa = Loa(tmp_path / "data", rabbit_user_uri)
    loa.env.update(
        {
            "LOA_DATABASE_URL_TEMPLATE": pg_admin_url.rsplit("/", 1)[0] + f"/{label}_{{service}}",
            "LOA_STORAGE_BACKEND": "s3",
            "LOA_S3_ENDPOINT": require_env("LOA_TEST_S3_ENDPOINT"),
            "LOA_S3_ACCESS_KEY": require_env("LOA_TEST_S3_ACCESS_KEY"),
            "LOA_S3_SECRET_KEY": require_env("LOA_TEST_S3_SECRET_KEY"),
            "LOA_S3_BUCKET": bucket,
            "LOA_SEARCH_BACKEND": "elasticsearch",
            "LOA_ELASTICSEARCH_URL": es,
            "LOA_ELASTICSEARCH_INDEX_PREFIX": label,
            "LOA_SIGNING_KEY": "k" * 32,
            "LOA_ADMIN_PASSWORD": "a-long-admin-password",
        }
    )
    loa.start()
    try:
        status = wait_until(
            lambda: (s := loa.status()) and s.get("ready") and s,
            timeout=120,
            what="every service ready on PostgreSQL, S3 and Elasticsearch",
        )
        assert {s["service"] for s in status["services"]} == set(services)
        assert not list((tmp_path / "data").glob("*.sqlite3"))  # no embedded database at all
        for name in services:  # each service migrated its own PostgreSQL database
            engine = create_engine(pg_admin_url.rsplit("/", 1)[0] + f"/{label}_{name}")
            with engine.connect() as conn:
                assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            engine.dispose()
        assert s3.bucket_exists(bucket)  # media's readiness check opened its bucket
        assert requests.get(f"{es}/_cat/indices/{label}*?h=index", timeout=30).text.split()
        assert not (tmp_path / "data" / "search").exists()  # no embedded tantivy index
    finally:
        code = loa.interrupt()
        names = requests.get(f"{es}/_cat/indices/{label}*?h=index", timeout=30).text.split()
        for name in names:
            requests.delete(f"{es}/{name}", timeout=30)
        with admin.connect() as conn:
            for name in services:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{label}_{name}" WITH (FORCE)'))
        admin.dispose()
        if s3.bucket_exists(bucket):
            s3.remove_bucket(bucket)
    assert code == 0, "".join(loa.lines[-30:])
    assert not loa.errors(), "".join(loa.lines[-30:])
