"""Low findings of issue 13 at the HTTP edge: tracking codes and URL signatures are not written
to access logs (eventlet's) nor to loa's own log lines; `Location` and play URLs come from
LOA_PUBLIC_URL, never from the request's `Host` header."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from shared.logging import redact
from tests.media.conftest import media_env_factory  # noqa: F401 - the fixture
from tests.security._http import (
    edge_factory,  # noqa: F401 - the fixture
    raw_request,
)

CODE = "TRACKSECRET7Q2"
SIG = "SIGSECRET0a1b2c3d4e5f"
TOKEN = "TOKSECRET9z8y7x"


def test_tracking_codes_and_signatures_stay_out_of_the_logs(
    edge_factory,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    edge = edge_factory(search=False)
    caplog.set_level(logging.DEBUG)
    requests_sent = [
        f"GET /api/feedback/track/{CODE}/nothing-here HTTP/1.1",  # 404 from the router
        f"DELETE /api/feedback/track/{CODE} HTTP/1.1",  # 405 naming the path
        f"GET /files/media/x.mp4?expires=99&sig={SIG} HTTP/1.1",  # a signed link
        f"GET /api/search?q=a&token={TOKEN}&X-Amz-Signature={SIG} HTTP/1.1",
    ]
    for line in requests_sent:
        status, _, body = raw_request(edge, f"{line}\nHost: loa")
        assert status < 500
        assert CODE.encode() not in body and SIG.encode() not in body
    access = [r for r in caplog.records if r.name == "nameko.web.server"]
    assert len(access) >= len(requests_sent)  # eventlet's access lines were written ...
    assert any("/api/feedback/track/[redacted]" in r.getMessage() for r in access)
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (CODE, SIG, TOKEN):  # ... without the secrets
        assert secret not in text


def test_loa_log_lines_redact_urls_whatever_logs_them() -> None:
    line = f"fetch https://loa/api/feedback/track/{CODE}?x=1&sig={SIG}&access_token={TOKEN}"
    cleaned = redact(line)
    assert CODE not in cleaned and SIG not in cleaned and TOKEN not in cleaned
    assert "/api/feedback/track/[redacted]" in cleaned and "x=1" in cleaned


def test_location_comes_from_the_public_url_not_from_host(media_env_factory) -> None:  # noqa: F811
    env = media_env_factory()
    made = env.http.post(
        f"{env.base}/api/media/uploads",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "10",
            "Host": "evil.example",
            "X-Forwarded-Host": "evil.example",
        },
    )
    assert made.status_code == 201, made.text
    assert made.headers["Location"].startswith(env.settings.public_url + "/api/media/uploads/")
    assert "evil" not in made.headers["Location"]


def test_no_gateway_code_builds_urls_from_the_request_host() -> None:
    """Play URLs (GET /api/media/assets/<id>) and every other absolute URL: from settings."""
    root = Path(__file__).resolve().parents[2] / "services" / "gateway"
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for path in root.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\b(host_url|url_root|host\b|base_url)\b", line)
        and re.search(r"request\.(host_url|url_root|host\b|base_url)", line)
    ]
    assert not offenders, offenders
