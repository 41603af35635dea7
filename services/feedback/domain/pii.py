"""Citizens' personal data: encrypted at rest, looked up by keyed hash, masked for most roles.

Names, phone numbers, e-mails, addresses and channel user ids are kept in one Fernet token per
ticket (AES-128-CBC + HMAC, key from LOA_FEEDBACK_PII_KEY). Finding a caller's earlier tickets
uses an HMAC of the normalized phone number, so the phone itself is never stored in clear nor
indexed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from shared.errors import InvalidInput

CONTACT_FIELDS = ("name", "phone", "email", "address", "channel_user")
PII_ROLES = frozenset({"operator", "admin"})
"""Roles that see a citizen's contact details unmasked: the intake desk (hotline operators) and
admins. Officers of the handling unit see them masked; viewers see no ticket at all."""


def normalize_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("84") and len(digits) >= 11:
        digits = "0" + digits[2:]
    return digits


@dataclass(frozen=True)
class Vault:
    """Encrypts and decrypts contact data; derives the look-up hash key from the same secret."""

    key: str

    def __post_init__(self) -> None:
        try:
            Fernet(self.key.encode())
        except (ValueError, TypeError):
            raise InvalidInput(
                "LOA_FEEDBACK_PII_KEY phải là khoá Fernet / must be a Fernet key "
                "(Fernet.generate_key())",
                "LOA_FEEDBACK_PII_KEY",
            ) from None

    @cached_property
    def _fernet(self) -> Fernet:
        return Fernet(self.key.encode())

    @cached_property
    def _lookup_key(self) -> bytes:
        return hashlib.sha256(b"loa-feedback-lookup|" + self.key.encode()).digest()

    def seal(self, contact: dict[str, Any]) -> str | None:
        data = {k: v for k, v in contact.items() if k in CONTACT_FIELDS and v}
        if not data:
            return None
        return self._fernet.encrypt(json.dumps(data, ensure_ascii=False).encode()).decode()

    def open(self, token: str | None) -> dict[str, str]:
        if not token:
            return {}
        try:
            return dict(json.loads(self._fernet.decrypt(token.encode())))
        except InvalidToken:
            return {"error": "cannot decrypt with the current key"}

    def lookup_hash(self, kind: str, value: str) -> str | None:
        """Keyed hash for equality look-ups (same caller), useless without the key."""
        if not value:
            return None
        normalized = normalize_phone(value) if kind == "phone" else value.strip().lower()
        if not normalized:
            return None
        return hmac.new(
            self._lookup_key, f"{kind}|{normalized}".encode(), hashlib.sha256
        ).hexdigest()


def mask(contact: dict[str, str]) -> dict[str, str]:
    """What a role without need-to-know sees: enough to tell people apart, not to reach them."""
    out: dict[str, str] = {}
    for key, value in contact.items():
        if key == "phone":
            out[key] = value[:2] + "*" * max(0, len(value) - 5) + value[-3:]
        elif key == "email" and "@" in value:
            user, _, domain = value.partition("@")
            out[key] = user[:1] + "***@" + domain
        elif key == "name":
            out[key] = " ".join(part[:1] + "." for part in value.split())
        else:
            out[key] = "***"
    return out


def contact_for(role: str, contact: dict[str, str]) -> dict[str, str]:
    return contact if role in PII_ROLES else mask(contact)
