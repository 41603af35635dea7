"""Low findings of the security review on the platforms' webhooks: a signature header that is not
ASCII is a 401 problem (it was a 500: hmac.compare_digest refuses non-ASCII str), and the Facebook
verify token is compared in constant time."""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

import pytest

from tests.feedback.conftest import (  # noqa: F401 - fixtures
    FB_VERIFY,
    db_backend,
    fb_extra,
    fb_settings,
    platform,
    stack,
)

HEADERS = {
    "hotline": ("/api/feedback/webhooks/hotline", "X-Loa-Signature", "sha256="),
    "facebook": ("/api/feedback/webhooks/facebook", "X-Hub-Signature-256", "sha256="),
    "zalo": ("/api/feedback/webhooks/zalo", "X-ZEvent-Signature", "mac="),
}


@pytest.mark.parametrize("channel", sorted(HEADERS))
def test_a_non_ascii_signature_is_a_401_problem(stack: Any, channel: str) -> None:  # noqa: F811
    path, header, prefix = HEADERS[channel]
    body = json.dumps({"event": "call.new", "timestamp": str(int(time.time() * 1000))}).encode()
    signature = (prefix + "é" * 64).encode("utf-8")  # bytes on the wire, as a client may send
    resp = stack.post(
        path,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Loa-Timestamp": str(int(time.time())),
            header: signature,
        },
    )
    assert resp.status_code == 401, (resp.status_code, resp.text[:300])
    assert resp.headers["Content-Type"].startswith("application/problem+json")


def test_the_facebook_verify_token_is_compared_in_constant_time(
    stack: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A spy on hmac.compare_digest (the real one still answers): the gateway, running in this
    process, must compare the token through it, never with ==."""
    seen: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    params = {"hub.mode": "subscribe", "hub.challenge": "4242"}
    ok = stack.get(
        "/api/feedback/webhooks/facebook", params={**params, "hub.verify_token": FB_VERIFY}
    )
    assert ok.status_code == 200 and ok.text == "4242"
    wrong = stack.get(
        "/api/feedback/webhooks/facebook", params={**params, "hub.verify_token": "nope"}
    )
    assert wrong.status_code == 403
    odd = stack.get(
        "/api/feedback/webhooks/facebook", params={**params, "hub.verify_token": "ü-token"}
    )
    assert odd.status_code == 403, odd.text
    compared = [{_text(a), _text(b)} for a, b in seen]
    assert {FB_VERIFY} in compared or {FB_VERIFY, FB_VERIFY} in compared, seen
    assert {FB_VERIFY, "nope"} in compared, seen


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
