"""HTTP helpers shared by the API transmitters: a timeout always, and errors sorted by outcome."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from services.publishing.transmitters.base import TransientError, UnknownOutcome


def retry_after(response: requests.Response, default: float = 60.0) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return default
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def call(
    session: requests.Session, method: str, url: str, timeout: float, **kwargs: Any
) -> requests.Response:
    """Send; a failure before the request left is transient, a lost reply is an unknown outcome."""
    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except (requests.ConnectTimeout, requests.exceptions.SSLError) as exc:
        raise TransientError(f"cannot reach {url.split('?')[0]}: {exc}") from exc
    except requests.ReadTimeout as exc:
        raise UnknownOutcome(f"no answer from {url.split('?')[0]} in {timeout:g}s") from exc
    except requests.ConnectionError as exc:
        if method.upper() in ("GET", "HEAD"):
            raise TransientError(f"cannot reach {url.split('?')[0]}: {exc}") from exc
        raise UnknownOutcome(f"connection to {url.split('?')[0]} lost: {exc}") from exc
