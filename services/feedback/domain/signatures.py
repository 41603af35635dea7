"""Checking that a webhook really comes from the platform that claims to send it.

- Call center 1022: X-Loa-Timestamp (Unix seconds) and X-Loa-Signature = "sha256=" + hex
  HMAC-SHA256(secret, timestamp + "." + raw body); older than the window is a replay.
- Facebook: X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256(app secret, raw body).
- Zalo OA: X-ZEvent-Signature = "mac=" + hex SHA256(app_id + raw body + timestamp + OA secret),
  the timestamp being the "timestamp" field of the body (milliseconds).
All comparisons are constant-time, on bytes: a header that is not ASCII is a wrong signature
(401), never an error of hmac.compare_digest (which refuses non-ASCII str).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from shared.errors import BadRequest, Forbidden, Unauthorized


class BadSignature(Unauthorized):
    """The signature is missing or wrong: the request is refused and nothing is stored."""


class Replayed(Forbidden):
    """A correctly signed request outside the accepted time window."""


def _digest_header(value: str | None, prefix: str) -> str:
    if not value:
        raise BadSignature(f"Thiếu chữ ký / the signature header is missing ({prefix}…)")
    value = value.strip()
    if not value.isascii():
        raise BadSignature(f"Chữ ký không hợp lệ / the signature is not a hex digest ({prefix}…)")
    if value.startswith(prefix):
        value = value[len(prefix) :]
    return value.lower()


def sign_hotline(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_hotline(
    secret: str | None,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float,
    max_age_s: int,
) -> None:
    if not secret:
        raise BadSignature("the hotline webhook is not configured (LOA_FEEDBACK_HOTLINE_SECRET)")
    if not timestamp or not timestamp.strip().isdigit():
        raise BadSignature("Thiếu thời điểm ký / X-Loa-Timestamp is missing or not Unix seconds")
    expected = sign_hotline(secret, timestamp.strip(), body)[len("sha256=") :]
    if not hmac.compare_digest(expected, _digest_header(signature, "sha256=")):
        raise BadSignature("Chữ ký không đúng / the X-Loa-Signature does not match the body")
    if abs(now - int(timestamp)) > max_age_s:
        raise Replayed(
            f"Yêu cầu quá cũ hoặc bị gửi lại / the request is older than {max_age_s}s (replay)"
        )


def sign_facebook(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_facebook(app_secret: str | None, body: bytes, signature: str | None) -> None:
    if not app_secret:
        raise BadSignature(
            "the Facebook webhook is not configured (LOA_FEEDBACK_FACEBOOK_APP_SECRET)"
        )
    expected = sign_facebook(app_secret, body)[len("sha256=") :]
    if not hmac.compare_digest(expected, _digest_header(signature, "sha256=")):
        raise BadSignature("Chữ ký không đúng / X-Hub-Signature-256 does not match the body")


def sign_zalo(app_id: str, oa_secret: str, body: bytes, timestamp: str) -> str:
    raw = app_id.encode() + body + timestamp.encode() + oa_secret.encode()
    return "mac=" + hashlib.sha256(raw).hexdigest()


def verify_zalo(
    app_id: str | None,
    oa_secret: str | None,
    body: bytes,
    signature: str | None,
    now: float,
    max_age_s: int,
) -> dict[str, Any]:
    """The parsed body once its mac checks out and its timestamp is recent."""
    if not app_id or not oa_secret:
        raise BadSignature("the Zalo webhook is not configured (LOA_FEEDBACK_ZALO_*)")
    data = parse_json(body)
    timestamp = str(data.get("timestamp", ""))
    if not timestamp.isdigit():
        raise BadRequest("Zalo event without a numeric timestamp", "timestamp")
    expected = sign_zalo(app_id, oa_secret, body, timestamp)[len("mac=") :]
    if not hmac.compare_digest(expected, _digest_header(signature, "mac=")):
        raise BadSignature("Chữ ký không đúng / X-ZEvent-Signature does not match the body")
    if abs(now - int(timestamp) / 1000) > max_age_s:
        raise Replayed(f"the Zalo event is older than {max_age_s}s (replay)")
    return data


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("JSON không hợp lệ / the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data
