"""Issue 13, finding 9 (the broker's side): `loa serve` at scale refuses RabbitMQ's default guest
account, and a missing LOA_RPC_SIGNING_KEY, with one line naming the variable, before it
touches any server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOA = str(Path(sys.executable).with_name("loa"))
"""The `loa` command of the virtualenv running the tests."""
POSTGRES = "postgresql+psycopg2://loa:secret@db.example:5432/loa_{service}"


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOA_")}
    clean.update(LOA_DATA_DIR=str(tmp_path / "data"), LOA_LOG_FORMAT="text", **env)
    return subprocess.run([LOA, "serve", "publishing"], env=clean, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)  # fmt: skip


def test_serve_at_scale_with_the_guest_account_exits_naming_the_variable(tmp_path: Path) -> None:
    done = serve(tmp_path, LOA_DATABASE_URL_TEMPLATE=POSTGRES,
                 LOA_AMQP_URI="amqp://guest:guest@localhost:5672/")  # fmt: skip
    assert done.returncode != 0
    lines = [ln for ln in done.stderr.splitlines() if "LOA_AMQP_URI" in ln]
    assert len(lines) == 1 and "guest" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_a_remote_broker_as_guest_is_refused_too(tmp_path: Path) -> None:
    done = serve(tmp_path, LOA_AMQP_URI="amqp://guest:guest@rabbitmq.example:5672/")
    assert done.returncode != 0
    assert "LOA_AMQP_URI" in done.stderr and "guest" in done.stderr, done.stderr


def test_serve_at_scale_without_the_rpc_key_exits_naming_it(tmp_path: Path) -> None:
    done = serve(
        tmp_path,
        LOA_DATABASE_URL_TEMPLATE=POSTGRES,
        LOA_AMQP_URI="amqp://loa:secret@rabbitmq.example:5672/",
        LOA_STORAGE_BACKEND="s3",
        LOA_S3_ENDPOINT="s3.example:9000",
        LOA_S3_ACCESS_KEY="loa",
        LOA_S3_SECRET_KEY="secret",
        LOA_SEARCH_BACKEND="elasticsearch",
        LOA_ELASTICSEARCH_URL="http://es.example:9200",
        LOA_SIGNING_KEY="k",
    )
    assert done.returncode != 0
    assert "LOA_RPC_SIGNING_KEY" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
