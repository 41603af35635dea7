"""End-to-end fixtures: the whole system (`loa start`, embedded parts, the test RabbitMQ in its own
vhost) started once for the browser checks, and Debian's Chromium driven by Playwright.

This folder runs in its own pytest process (tests/e2e/test_browser.py starts it with
--confcutdir here): tests/conftest.py monkey-patches the process for eventlet, and Playwright's
sync API, which runs an asyncio loop in a greenlet, hangs now and then in such a process.

Chromium comes from the distribution (scripts/e2e-tools.sh installs it); Playwright never
downloads a browser here. Screenshots of every main screen go to test-artifacts/.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]


def _load_env_file() -> None:
    """The test servers' addresses (scripts/test-servers.sh writes them) unless already set."""
    env_file = ROOT / ".test-servers.env"
    if not env_file.exists():
        return
    for line in env_file.read_text().splitlines():
        line = line.strip().removeprefix("export ")
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            os.environ.setdefault(key, value.strip("'\""))


_load_env_file()
AMQP = os.environ.get("LOA_TEST_AMQP_URI", "amqp://guest:guest@localhost:5672/")
MGMT = os.environ.get("LOA_TEST_RABBIT_MGMT", "http://guest:guest@localhost:15672")


def wait_until(predicate: Any, timeout: float = 20.0, interval: float = 0.2, what: str = "") -> Any:
    """Poll until predicate() is truthy; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@contextmanager
def vhost() -> Iterator[str]:
    """A RabbitMQ vhost of its own (created and deleted through the management API)."""
    mgmt = urlparse(MGMT)
    auth = (mgmt.username or "guest", mgmt.password or "guest")
    base = f"{mgmt.scheme}://{mgmt.hostname}:{mgmt.port or 15672}/api"
    name = f"loa_e2e_{uuid.uuid4().hex[:10]}"
    user = urlparse(AMQP).username or "guest"
    requests.put(f"{base}/vhosts/{name}", auth=auth, timeout=20).raise_for_status()
    requests.put(
        f"{base}/permissions/{name}/{user}",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        auth=auth,
        timeout=20,
    ).raise_for_status()
    try:
        yield name
    finally:
        requests.delete(f"{base}/vhosts/{name}", auth=auth, timeout=20)


CHROMIUM = os.environ.get("LOA_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
ADMIN_PASSWORD = "e2e-Quan-tri-vien-2026!"
"""The first admin's initial password (LOA_ADMIN_PASSWORD): changed at the first sign-in."""
CHANGED_ADMIN_PASSWORD = "e2e-Mat-khau-rieng-Quan-tri-2026!"
_admin = {"password": ADMIN_PASSWORD}


def admin_password() -> str:
    """The admin's password now (the initial one until the first sign-in changed it)."""
    return _admin["password"]
HOTLINE_SECRET = "e2e-hotline-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class System:
    """A running `loa start` and what a test needs to talk to it."""

    url: str
    proc: subprocess.Popen[str]
    data: Path | None = None
    """The system's data folder (its SQLite databases), for checks and server-side set-up."""

    def expire_sessions(self, username: str) -> int:
        """Expire the account's console sessions on the server (as 12 hours passing would)."""
        import sqlite3

        assert self.data is not None
        with sqlite3.connect(self.data / "gateway.sqlite3") as db:
            cur = db.execute(
                "UPDATE auth_sessions SET expires_at = '2020-01-01 00:00:00.000000' "
                "WHERE user_id = (SELECT id FROM users WHERE username = ?)",
                (username,),
            )
            return cur.rowcount

    def hotline(self, event: dict[str, Any]) -> dict[str, Any]:
        """Send one call-center event, signed as the call center signs it."""
        body = json.dumps(event).encode()
        ts = str(int(time.time()))
        mac = hmac.new(HOTLINE_SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256)
        resp = requests.post(
            f"{self.url}/api/feedback/webhooks/hotline",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Loa-Timestamp": ts,
                "X-Loa-Signature": "sha256=" + mac.hexdigest(),
            },
            timeout=20,
        )
        assert resp.status_code == 200, resp.text
        return dict(resp.json())


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """The whole system, once for the e2e session, on its own vhost and data folder."""
    uri = urlparse(AMQP)
    with vhost() as vhost_name:
        port = _free_port()
        data = tmp_path_factory.mktemp("e2e") / "data"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("LOA_")}
        env = {
            **clean,
            "LOA_DATA_DIR": str(data),
            "LOA_AMQP_URI": f"{uri.scheme}://{uri.netloc}/{vhost_name}",
            "LOA_HTTP_PORT": str(port),
            "LOA_HTTP_HOST": "127.0.0.1",
            "LOA_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "LOA_LOG_FORMAT": "json",
            "LOA_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "LOA_FEEDBACK_HOTLINE_SECRET": HOTLINE_SECRET,
            "LOA_FEEDBACK_RECORDING_ORIGINS": "https://pbx.e2e.invalid",  # no call is recorded
            "LOA_RELAY_INTERVAL_MS": "100",
            # The browser run plays a one-person center: the admin writes and approves. The
            # refusal of self-approval is shown in tests/security/test_trust_self_approval.py.
            "LOA_PUB_ALLOW_SELF_APPROVAL": "true",
        }
        ARTIFACTS.mkdir(exist_ok=True)
        log = (ARTIFACTS / "loa-e2e.log").open("w")
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/loa"), "start"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        sysm = System(url=f"http://127.0.0.1:{port}", proc=proc, data=data)

        def ready() -> bool:
            try:
                return bool(requests.get(f"{sysm.url}/api/status", timeout=10).json()["ready"])
            except (requests.RequestException, ValueError, KeyError):
                return False

        try:
            wait_until(ready, timeout=120, interval=0.5, what="every service ready")
            yield sysm
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/e2e-tools.sh (apt-get install chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser: Any, system: System) -> Iterator[Any]:
    ctx = browser.new_context(
        base_url=system.url, locale="vi-VN", viewport={"width": 1280, "height": 900}
    )
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    p = context.new_page()
    p.bring_to_front()  # a page of a later context is not the focused one until it is raised
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.js_errors = errors  # type: ignore[attr-defined]
    return p


def login(
    page: Any,
    username: str = "admin",
    password: str | None = None,
    to: str = "/console/dashboard",
) -> str:
    """Sign in through the sign-in page and land on `to`; returns the account's password now.
    The first sign-in of the first admin, and of an account whose password an admin set, meets
    the change-password form: it is filled in as a person would."""
    password = password or admin_password()
    page.goto(to)
    page.wait_for_url(re.compile(r".*/console/login\?.*"))
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_function(
        "() => document.getElementById('password-form') || location.pathname !== '/console/login'"
    )
    if page.locator("#password-form").count():
        password = change_first_password(page, username, password)
    page.wait_for_url(re.compile(r"^https?://[^/]+" + re.escape(to) + r"(\?.*)?$"))
    return password


def change_first_password(page: Any, username: str = "admin", current: str = "") -> str:
    """The form shown until a password set at installation (the first admin) or by an admin
    (other accounts) is changed; returns the new password."""
    from playwright.sync_api import expect

    current = current or ADMIN_PASSWORD
    new = CHANGED_ADMIN_PASSWORD if username == "admin" else f"{current}-cua-rieng-toi"
    expect(page.get_by_role("heading", level=1)).to_have_text("Đổi mật khẩu ban đầu")
    page.get_by_label("Mật khẩu hiện tại").fill(current)
    page.get_by_label("Mật khẩu mới", exact=True).fill(new)
    page.get_by_label("Nhập lại mật khẩu mới").fill(new + "x")
    page.get_by_role("button", name="Đổi mật khẩu").click()
    expect(page.locator("#password-error")).to_contain_text("không khớp")
    page.get_by_label("Nhập lại mật khẩu mới").fill(new)
    page.get_by_role("button", name="Đổi mật khẩu").click()
    if username == "admin":
        _admin["password"] = new
    return new


def shot(page: Any, name: str) -> Path:
    """A full-page screenshot in test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


class Api:
    """The JSON API with the browser context's session (cookie + CSRF), for set-up and checks."""

    def __init__(self, context: Any) -> None:
        self.request = context.request
        me = self.request.get("/api/auth/me")
        assert me.ok, me.text()
        self.csrf = me.json()["csrf_token"]

    def get(self, path: str) -> Any:
        resp = self.request.get(path)
        assert resp.ok, f"GET {path}: {resp.status} {resp.text()}"
        return resp.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        resp = self.request.post(path, data=body, headers={"X-CSRF-Token": self.csrf})
        assert resp.ok, f"POST {path}: {resp.status} {resp.text()}"
        return resp.json()

    def put(self, path: str, body: dict[str, Any]) -> Any:
        resp = self.request.put(path, data=body, headers={"X-CSRF-Token": self.csrf})
        assert resp.ok, f"PUT {path}: {resp.status} {resp.text()}"
        return resp.json()
