"""The newcomer's path: `loa start` runs all five services on the embedded defaults, the status
page shows every one ready, Ctrl-C stops cleanly, and a second start keeps the data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

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
        threading.Thread(target=self._read, daemon=True).start()

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

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("loa did not stop within 60 s of Ctrl-C") from None


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
        probe = requests.post(loa.url + "/api/bus/probes", timeout=20).json()["event_id"]
        wait_until(
            lambda: requests.get(f"{loa.url}/api/bus/probes/{probe}", timeout=20).json()[
                "received"
            ],
            what="a probe round the bus",
        )
    finally:
        code = loa.interrupt()
    assert code == 0, "".join(loa.lines[-30:])
    for name in ("media", "publishing", "feedback", "search", "gateway"):
        assert (data / f"{name}.sqlite3").exists()
    assert (data / "objects").is_dir()
    assert not any('"level": "ERROR"' in ln for ln in loa.lines), "".join(loa.lines[-30:])

    again = Loa(data, rabbit_config["AMQP_URI"])
    again.start()
    try:
        wait_until(
            lambda: (s := again.status()) and s.get("ready"),
            timeout=120,
            what="ready again after restart",
        )
        kept = requests.get(f"{again.url}/api/bus/probes/{probe}", timeout=20)
        assert kept.status_code == 200 and kept.json()["received"] is True
    finally:
        assert again.interrupt() == 0
    time.sleep(0.1)
