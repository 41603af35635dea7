"""Finding 10 of the security review: call recordings are fetched only from the listed origins.

The setting was a plain prefix: `http://127.0.0.1:P` also let `http://127.0.0.1:P@other/…` (the
host is `other`) and `http://127.0.0.1:P0/…` (another port) through, a host name resolving to a
loopback address was fetched, and an unset prefix allowed every host. Each form is sent through
the signed hotline webhook to a real feedback service; an 'internal' server counts every request
it gets and must get none. The setting is required once the hotline is configured.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.feedback.conftest import (  # noqa: F401 - fixtures
    db_backend,
    fb_settings,
    platform,
    stack,
)
from tests.feedback.test_channels import call_event, hotline
from tests.feedback.test_mailbox import tick
from tests.security.test_outbound_tls import pki  # noqa: F401 - fixture

AUDIO = b"ID3" + bytes(range(256)) * 8


class Recorder:
    """An HTTP server answering every GET with a small mp3 (or a redirect), counting hits."""

    def __init__(self, host: str, port: int = 0, redirect_to: str | None = None) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                hits.append(self.path)
                if redirect_to and self.path.startswith("/moved"):
                    self.send_response(302)
                    self.send_header("Location", redirect_to + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Length", str(len(AUDIO)))
                self.end_headers()
                self.wfile.write(AUDIO)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self.http.server_address[1])
        self.origin = f"http://{host}:{self.port}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def _pair() -> tuple[Recorder, Recorder]:
    """The allowed recording server on port P and an internal one on port P*10+5 (so that the
    allowed origin's text is a prefix of the internal one's)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port * 10 + 5 > 65535:
            port = port % 5000 + 1100
        try:
            internal = Recorder("127.0.0.1", port * 10 + 5)
        except OSError:
            continue
        try:
            allowed = Recorder("127.0.0.1", port, redirect_to=internal.origin)
        except OSError:
            internal.close()
            continue
        return allowed, internal
    raise RuntimeError("no pair of free ports")


@pytest.fixture
def servers() -> Iterator[tuple[Recorder, Recorder, Recorder]]:
    allowed, internal = _pair()
    other = Recorder("127.0.0.2")  # another loopback address: a host nobody listed
    yield allowed, internal, other
    for s in (allowed, internal, other):
        s.close()


@pytest.fixture
def fb_extra(servers: tuple[Recorder, Recorder, Recorder]) -> dict[str, Any]:
    allowed = servers[0]
    # Both names: the setting before the fix (a prefix) and after it (a list of origins).
    return {
        "feedback_recording_url_prefix": allowed.origin,
        # The address itself (explicit: reached), and a name that resolves to it (refused).
        "feedback_recording_origins": f"{allowed.origin},http://localhost:{allowed.port}",
        "feedback_recording_max_bytes": 100_000,
    }


def _recording(api: Any, call_id: str, url: str) -> Any:
    return hotline(api, {**call_event("call.recording", call_id), "recording_url": url})


def test_only_listed_origins_are_fetched(
    stack: Any,  # noqa: F811
    servers: tuple[Recorder, Recorder, Recorder],
) -> None:
    allowed, internal, other = servers
    a, i, o = allowed.port, internal.port, other.port
    bypasses = {
        "userinfo": f"http://127.0.0.1:{a}@127.0.0.2:{o}/rec/a.mp3",
        "longer port": f"http://127.0.0.1:{i}/rec/b.mp3",
        "host suffix": f"http://127.0.0.1:{a}.localhost:{o}/rec/c.mp3",
        "name for loopback": f"http://localhost:{a}/rec/d.mp3",
        "other scheme": f"ftp://127.0.0.1:{a}/rec/e.mp3",
        "redirect elsewhere": f"http://127.0.0.1:{a}/moved/f.mp3",
    }
    accepted = []
    for n, (form, url) in enumerate(bypasses.items()):
        answer = _recording(stack, f"C-{n}", url)
        assert answer.status_code in (200, 400), (form, answer.status_code, answer.text)
        if answer.status_code == 400:
            assert answer.headers["Content-Type"].startswith("application/problem+json")
        else:
            accepted.append(form)
    good = _recording(stack, "C-good", f"{allowed.origin}/rec/good.mp3")
    assert good.status_code == 200, good.text
    done = tick(stack)["recordings"]
    assert done["stored"] == 1, (done, accepted)
    assert "name for loopback" in accepted  # a listed origin: refused only once resolved
    assert internal.hits == [], f"internal server reached: {internal.hits}"
    assert other.hits == [], f"unlisted host reached: {other.hits}"
    assert allowed.hits.count("/rec/good.mp3") == 1
    assert "/rec/d.mp3" not in allowed.hits, "a name resolving to loopback was fetched"
    from sqlalchemy import create_engine, text

    engine = create_engine(stack.settings.database_url("feedback"))
    with engine.connect() as conn:
        errors = dict(conn.execute(text("SELECT call_id, last_error FROM call_recordings")).all())
    engine.dispose()
    loopback = list(bypasses).index("name for loopback")
    assert "private, loopback or link-local" in errors[f"C-{loopback}"], errors


def test_the_origins_are_required_once_the_hotline_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.config import ConfigError, load_settings

    monkeypatch.setenv("LOA_FEEDBACK_HOTLINE_SECRET", "s3cret")
    monkeypatch.delenv("LOA_FEEDBACK_RECORDING_ORIGINS", raising=False)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "LOA_FEEDBACK_RECORDING_ORIGINS" in str(err.value)
    assert "\n" not in str(err.value)
    for wrong in ("https://pbx.example/path", "https://user@pbx.example", "pbx.example"):
        monkeypatch.setenv("LOA_FEEDBACK_RECORDING_ORIGINS", wrong)
        with pytest.raises(ConfigError) as err:
            load_settings()
        assert str(err.value).startswith("LOA_FEEDBACK_RECORDING_ORIGINS"), err.value
    monkeypatch.setenv("LOA_FEEDBACK_RECORDING_ORIGINS", "https://pbx.example, http://10.0.0.5:8080")
    assert load_settings().recording_origins == ("https://pbx.example:443", "http://10.0.0.5:8080")


def test_https_recordings_are_verified_against_the_ca_setting(pki: Any) -> None:  # noqa: F811
    """The fetch over TLS: the certificate checked against LOA_TLS_CA_FILE (and the host), the
    connection made to the address that was checked."""
    import ssl

    from services.feedback.adapters.recording_fetch import FetchFailed, open_recording

    server = Recorder("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert, pki.key)
    server.http.socket = context.wrap_socket(server.http.socket, server_side=True)
    origin = f"https://127.0.0.1:{server.port}"
    try:
        rec = open_recording(f"{origin}/rec/ok.mp3", 100_000, [origin], ca_file=str(pki.ca))
        try:
            assert b"".join(rec.chunks) == AUDIO
        finally:
            rec.close()
        with pytest.raises(FetchFailed) as err:
            open_recording(f"{origin}/rec/again.mp3", 100_000, [origin])
        assert err.value.retry is True  # an unverified server: tried again, never read
    finally:
        server.close()
    assert server.hits == ["/rec/ok.mp3"]
