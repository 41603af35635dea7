"""Password hashing with argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).

argon2-cffi's default (64 MiB, 3 passes, 4 lanes) costs ~0.3 s of CPU per login on a two-core
machine, which makes the login itself a denial-of-service lever; these parameters take ~70 ms.
Raising them later is safe: older hashes are upgraded at their owner's next login.

Hashing takes tens of milliseconds of CPU on purpose; it runs in eventlet's thread pool so one
login does not stall every other request of the gateway's green threads. Passwords are NFC
normalized first: a phone (NFD) and a Windows PC (NFC) type the same Vietnamese password as
different bytes.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.errors import InvalidInput
from shared.offload import off_hub

MIN_LENGTH = 10
MAX_LENGTH = 200
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def _normalized(password: str) -> str:
    return unicodedata.normalize("NFC", password)


def check_policy(password: str, username: str = "") -> None:
    """Reject passwords that are too short, too long or the username itself."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"Mật khẩu phải có ít nhất {MIN_LENGTH} ký tự / the password must have at least "
            f"{MIN_LENGTH} characters",
            "password",
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"the password is longer than {MAX_LENGTH} characters", "password")
    if username and password.strip().lower() == username.lower():
        raise InvalidInput(
            "Mật khẩu không được trùng tên đăng nhập / the password must not be the username",
            "password",
        )


def hash_password(password: str) -> str:
    return str(off_hub(_hasher.hash, _normalized(password)))


def verify_password(stored_hash: str, password: str) -> bool:
    """True if the password matches; never raises for a wrong password or a damaged hash."""
    try:
        return bool(off_hub(_hasher.verify, stored_hash, _normalized(password)))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """After the parameters are raised, old hashes are upgraded at the next login."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """Verified against when the username is unknown, so timing does not reveal which exist."""
    return hash_password("not-a-real-password-0123456789")
