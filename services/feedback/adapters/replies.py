"""Replies to citizens through the channel they wrote from, as the platforms document them.

- Facebook Send API: POST {graph}/me/messages (Authorization: Bearer PAGE_TOKEN) with
  {"recipient": {"id": PSID}, "messaging_type": "MESSAGE_TAG", "tag": "ACCOUNT_UPDATE",
  "message": {"text": ...}}; errors come as {"error": {"message", "code", ...}} with HTTP 4xx.
  Codes 4, 17, 32, 613 are rate limits (retry later); others are permanent.
- Zalo OA: POST {openapi}/v3.0/oa/message/cs, header access_token, body
  {"recipient": {"user_id": ...}, "message": {"text": ...}}; HTTP 200 with {"error": 0, ...} on
  success, a negative error code otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import requests

from shared.logging import redact_secrets, register_secrets


class ReplyFailed(Exception):
    """reason is stored with the reply and shown to staff: secrets are redacted from it."""

    def __init__(self, reason: str, retry: bool) -> None:
        reason = redact_secrets(reason)
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


class ReplySender(Protocol):
    def send(self, user_id: str, text: str) -> str: ...


FB_RATE_LIMIT_CODES = {4, 17, 32, 613}
ZALO_RETRY_CODES = {-32, -224, -500}


@dataclass
class FacebookSender:
    api_url: str
    page_token: str
    timeout: float = 10.0

    def __post_init__(self) -> None:
        register_secrets([self.page_token])

    def send(self, user_id: str, text: str) -> str:
        try:
            resp = requests.post(
                f"{self.api_url.rstrip('/')}/me/messages",
                headers={"Authorization": f"Bearer {self.page_token}"},
                json={
                    "recipient": {"id": user_id},
                    "messaging_type": "MESSAGE_TAG",
                    "tag": "ACCOUNT_UPDATE",
                    "message": {"text": text[:2000]},
                },
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise ReplyFailed(f"Facebook unreachable: {type(exc).__name__}", retry=True) from None
        data = _json(resp)
        if resp.status_code == 200 and data.get("message_id"):
            return str(data["message_id"])
        error = data.get("error") or {}
        code = int(error.get("code", 0) or 0)
        reason = f"Facebook error {code}: {error.get('message', resp.status_code)}"
        raise ReplyFailed(reason, retry=code in FB_RATE_LIMIT_CODES or resp.status_code >= 500)


@dataclass
class ZaloSender:
    api_url: str
    access_token: str
    timeout: float = 10.0

    def __post_init__(self) -> None:
        register_secrets([self.access_token])

    def send(self, user_id: str, text: str) -> str:
        try:
            resp = requests.post(
                f"{self.api_url.rstrip('/')}/v3.0/oa/message/cs",
                headers={"access_token": self.access_token},
                json={"recipient": {"user_id": user_id}, "message": {"text": text[:2000]}},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise ReplyFailed(f"Zalo unreachable: {type(exc).__name__}", retry=True) from None
        data = _json(resp)
        code = int(data.get("error", -1) if data else -1)
        if resp.status_code == 200 and code == 0:
            return str((data.get("data") or {}).get("message_id", ""))
        reason = f"Zalo error {code}: {data.get('message', resp.status_code)}"
        raise ReplyFailed(reason, retry=code in ZALO_RETRY_CODES or resp.status_code >= 500)


def _json(resp: requests.Response) -> dict:  # type: ignore[type-arg]
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
