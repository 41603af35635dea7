"""Citizens' personal data: encrypted at rest, looked up by keyed hash, masked for most roles.

Names, phone numbers, e-mails, addresses and channel user ids are kept in one Fernet token per
ticket (AES-128-CBC + HMAC); what citizens write (descriptions, messages, answers, notes) in one
token per column value and their files (attachments, call recordings) as framed tokens, all under
the key ring LOA_FEEDBACK_PII_KEYS (newest first). Finding a caller's earlier tickets uses an HMAC
of the normalized phone number under LOA_FEEDBACK_LOOKUP_KEY, so the phone itself is never stored
in clear nor indexed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shared.errors import InvalidInput, LoaError
from shared.metrics import DECRYPT_FAILURES

log = logging.getLogger(__name__)

CONTACT_FIELDS = ("name", "phone", "email", "address", "channel_user")
PII_ROLES = frozenset({"operator", "admin"})
"""Roles that see a citizen's contact details unmasked: the intake desk (hotline operators) and
admins. Officers of the handling unit see them masked; viewers see no ticket at all."""


def normalize_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("84") and len(digits) >= 11:
        digits = "0" + digits[2:]
    return digits


class DecryptFailed(LoaError):
    """Stored personal data that no key of the ring opens: loud (500 + log + metric), never
    shown as if it were the data."""

    status = 500
    title = "Không giải mã được / Cannot decrypt"
    slug = "decrypt-failed"


SEALED_PREFIX = re.compile(r"gAAAAA[A-Za-z0-9_\-]{90,}={0,2}")
"""A Fernet token (version byte 0x80); anything else in a sealed column is text written before
the column was encrypted, readable until `loa keys rotate` seals it."""
OBJECT_MAGIC = b"LOAENC1\n"
OBJECT_CHUNK = 1 << 20
_FRAME = struct.Struct(">QB")  # chunk index, last flag: frames cannot be reordered or cut
_LENGTH = struct.Struct(">I")


def derived_lookup_key(pii_key: str) -> str:
    """The look-up hash key earlier versions derived from the (single) personal-data key: an
    install from before pins it as LOA_FEEDBACK_LOOKUP_KEY so its hashes keep matching."""
    return hashlib.sha256(b"loa-feedback-lookup|" + pii_key.strip().encode()).hexdigest()


def key_ring(value: str | Sequence[str] | None) -> list[str]:
    """Keys from "newest,older,…" (or a list), blanks dropped."""
    parts = [value] if isinstance(value, str) else list(value or [])
    return [k.strip() for part in parts for k in part.split(",") if k.strip()]


class Vault:
    """Encrypts and decrypts citizens' personal data with a key ring (MultiFernet: the first
    key encrypts, every key decrypts, so a new key goes in front and the old one stays until
    `loa keys rotate` has re-encrypted everything); look-up hashes use a key of their own."""

    def __init__(self, keys: str | Sequence[str], lookup_key: str = "") -> None:
        ring = key_ring(keys)
        try:
            fernets = [Fernet(k.encode()) for k in ring]
        except (ValueError, TypeError):
            fernets = []
        if not ring or len(fernets) != len(ring):
            raise InvalidInput(
                "LOA_FEEDBACK_PII_KEYS phải là các khoá Fernet, cách nhau bởi dấu phẩy / must be "
                "Fernet keys, newest first, comma-separated (loa keys generate)",
                "LOA_FEEDBACK_PII_KEYS",
            )
        lookup = (lookup_key or derived_lookup_key(ring[-1])).strip()
        try:
            self._lookup_key = bytes.fromhex(lookup)
        except ValueError:
            self._lookup_key = b""
        if len(self._lookup_key) < 32:
            raise InvalidInput(
                "LOA_FEEDBACK_LOOKUP_KEY phải là 64 ký tự hex / must be 64 hex characters "
                "(loa keys generate)",
                "LOA_FEEDBACK_LOOKUP_KEY",
            )
        self.keys = tuple(ring)
        self._primary = fernets[0]
        self._ring = MultiFernet(fernets)

    @classmethod
    def from_settings(cls, settings: Any) -> Vault:
        """The ring of LOA_FEEDBACK_PII_KEYS, else the single LOA_FEEDBACK_PII_KEY."""
        keys = key_ring(settings.feedback_pii_keys) or key_ring(settings.feedback_pii_key)
        if not keys:
            raise InvalidInput(
                "LOA_FEEDBACK_PII_KEYS is not set: the feedback service needs a Fernet key to "
                "encrypt citizens' personal data (loa keys generate)",
                "LOA_FEEDBACK_PII_KEYS",
            )
        return cls(keys, settings.feedback_lookup_key or "")

    # --- contact data (one JSON token) ---------------------------------------------------
    def seal(self, contact: dict[str, Any]) -> str | None:
        data = {k: v for k, v in contact.items() if k in CONTACT_FIELDS and v}
        if not data:
            return None
        return self._primary.encrypt(json.dumps(data, ensure_ascii=False).encode()).decode()

    def open(self, token: str | None) -> dict[str, str]:
        if not token:
            return {}
        return dict(json.loads(self._decrypt(token.encode(), "contact")))

    # --- free text (descriptions, messages, answers, notes) ------------------------------
    def seal_text(self, text: str | None) -> str | None:
        """A token for text; empty stays empty (nothing to hide, and NOT NULL columns)."""
        if not text:
            return text
        return self._primary.encrypt(text.encode()).decode()

    def open_text(self, value: str | None) -> str | None:
        if not value or not SEALED_PREFIX.fullmatch(value):
            return value  # empty, or written before the column was encrypted
        return self._decrypt(value.encode(), "text").decode()

    def reseal(self, value: str | None) -> str | None:
        """The value under the newest key, or None when it already is (rotation skips it);
        text written before encryption is sealed now."""
        if not value:
            return None
        if not SEALED_PREFIX.fullmatch(value):
            return self.seal_text(value)
        try:
            self._primary.decrypt(value.encode())
            return None
        except InvalidToken:
            pass
        try:
            return self._ring.rotate(value.encode()).decode()
        except InvalidToken:
            raise self._failed("rotated value") from None

    def _decrypt(self, token: bytes, what: str) -> bytes:
        try:
            return self._ring.decrypt(token)
        except InvalidToken:
            raise self._failed(what) from None

    def _failed(self, what: str) -> DecryptFailed:
        DECRYPT_FAILURES.labels(what).inc()
        log.error(
            "feedback: cannot decrypt a stored %s with any of the %d keys of "
            "LOA_FEEDBACK_PII_KEYS (key removed too early, or the data was altered)",
            what,
            len(self.keys),
        )
        return DecryptFailed(
            "Không giải mã được dữ liệu cá nhân đã lưu / stored personal data cannot be decrypted "
            "with the configured keys (LOA_FEEDBACK_PII_KEYS): an administrator must restore the "
            "key it was encrypted with",
            "LOA_FEEDBACK_PII_KEYS",
        )

    # --- objects (attachments, call recordings) -----------------------------------------
    def encrypt_stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """The object's bytes as framed Fernet tokens of 1 MiB chunks (streamed, bounded memory)."""
        yield OBJECT_MAGIC
        index, buffer = 0, bytearray()
        for chunk in chunks:
            buffer += chunk
            while len(buffer) > OBJECT_CHUNK:
                yield self._frame(index, bytes(buffer[:OBJECT_CHUNK]), last=False)
                del buffer[:OBJECT_CHUNK]
                index += 1
        yield self._frame(index, bytes(buffer), last=True)

    def _frame(self, index: int, data: bytes, last: bool) -> bytes:
        token = self._primary.encrypt(_FRAME.pack(index, int(last)) + data)
        return _LENGTH.pack(len(token)) + token

    def decrypt_stream(self, chunks: Iterable[bytes], what: str = "object") -> Iterator[bytes]:
        """The plain bytes of an object encrypt_stream made; an object stored before objects
        were encrypted (no header) comes back as it is."""
        source = _Bytes(chunks)
        head = source.take(len(OBJECT_MAGIC))
        if head != OBJECT_MAGIC:
            yield head
            yield from source.rest()
            return
        index = 0
        while True:
            size = source.take(_LENGTH.size)
            if len(size) < _LENGTH.size:
                raise self._failed(f"{what} (cut short)")
            plain = self._decrypt(source.take(_LENGTH.unpack(size)[0]), what)
            number, last = _FRAME.unpack_from(plain)
            if number != index:
                raise self._failed(f"{what} (chunks out of order)")
            yield plain[_FRAME.size :]
            if last:
                return
            index += 1

    def object_is_current(self, chunks: Iterable[bytes]) -> bool:
        """Whether an object's first chunk is under the newest key (rotation skips it)."""
        source = _Bytes(chunks)
        if source.take(len(OBJECT_MAGIC)) != OBJECT_MAGIC:
            return False
        size = source.take(_LENGTH.size)
        try:
            self._primary.decrypt(source.take(_LENGTH.unpack(size)[0]))
            return True
        except (InvalidToken, struct.error):
            return False

    # --- look-ups -------------------------------------------------------------------------
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


class _Bytes:
    """Exact-size reads over an iterator of chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()

    def take(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def rest(self) -> Iterator[bytes]:
        if self._buffer:
            yield bytes(self._buffer)
            self._buffer.clear()
        yield from self._chunks


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
