"""Tracking codes a citizen can read over the phone and an operator can type back, and the public
reference of a ticket.

The tracking code is a secret: it is given only to whoever filed the ticket (the portal's answer,
the operator reading it to the caller, the reply on the citizen's own channel) and it is what
tracking, rating, reopening and privacy requests need. 15 random characters of 23 (about 68 bits)
cannot be guessed at any rate limit. The public reference (Open311's service_request_id, the
console's links, events, search) is another random value that opens nothing.

The alphabet leaves out characters people confuse when spoken or handwritten (0/O, 1/I/L, 5/S,
2/Z, 8/B, U/V), and a weighted mod-23 check character catches every single wrong character and every
swap of two neighbours, so a mistyped code is refused instead of showing someone else's ticket.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "34679ACDEFGHJKMNPQRTWXY"  # 23 characters: a prime, see _check_char
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
BODY_LENGTH = 15
GROUP = 4
CODE_PATTERN = re.compile(r"\b[0-9A-Z]{4}-?[0-9A-Z]{4}-?[0-9A-Z]{4}-?[0-9A-Z]{4}\b")
"""A tracking code inside text (an e-mail subject), with or without its dashes."""
PUBLIC_PREFIX = "PA-"  # phản ánh
PUBLIC_LENGTH = 10


def _check_char(body: str) -> str:
    """The character c making sum(weight_i * value_i) ≡ 0 (mod 23) with weights 1..9.

    23 is prime and the weights are distinct and non-zero mod 23, so changing one character
    changes the sum by w*(a-b) ≠ 0, and swapping neighbours by (a-b) ≠ 0: both always detected
    (Luhn mod N misses some swaps, e.g. of the first and last symbol).
    """
    n = len(ALPHABET)
    total = sum((i + 1) * _INDEX[ch] for i, ch in enumerate(body))
    weight = len(body) + 1
    return ALPHABET[(-total * pow(weight, -1, n)) % n]


def new_code() -> str:
    """A fresh secret code such as "K7M3-XQRT-A4CD-FW9H" (15 random characters, then the check
    character)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return format_code(body + _check_char(body))


def new_public_id() -> str:
    """A ticket's public reference such as "PA-K7M3X-QRTA4": never a valid tracking code (other
    length), so it cannot be mistaken for one nor used as one."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(PUBLIC_LENGTH))
    half = PUBLIC_LENGTH // 2
    return f"{PUBLIC_PREFIX}{body[:half]}-{body[half:]}"


def format_code(raw: str) -> str:
    return "-".join(raw[i : i + GROUP] for i in range(0, len(raw), GROUP))


def normalize_code(text: str) -> str | None:
    """The canonical form of what a person typed, or None if it cannot be a valid code."""
    raw = "".join(ch for ch in text.upper() if ch.isalnum())
    if len(raw) != BODY_LENGTH + 1 or any(ch not in _INDEX for ch in raw):
        return None
    if _check_char(raw[:-1]) != raw[-1]:
        return None
    return format_code(raw)
