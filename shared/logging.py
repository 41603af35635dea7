"""JSON logs with the correlation id of the request or event being handled.

The correlation id lives in a context variable (each green thread has its own context), is set by
the entrypoint that starts the work and travels across RPC (nameko context data) and events (the
envelope).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from pythonjsonlogger.json import JsonFormatter

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# Citizens' personal data never reaches logs: phone numbers and e-mail addresses are masked even
# if a careless message includes them.
_PHONE = re.compile(r"(?<!\d)(?:\+?84|0)(?:[\s.-]?\d){8,10}(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


# Credentials that travel in URLs never reach logs either: a feedback tracking code (the key to
# a ticket) and the values of signature and token query parameters (signed links, S3 URLs).
_TRACKING = re.compile(r"(/feedback/track/)[^/?#\s\"']+")
_URL_SECRET = re.compile(
    r"([?&;](?:sig|[\w.-]*signature|[\w.-]*token|api_key|x-amz-credential)=)[^&#\s\"']*",
    re.IGNORECASE,
)


def redact_url(text: str) -> str:
    return _URL_SECRET.sub(r"\1[redacted]", _TRACKING.sub(r"\1[redacted]", text))


def redact(text: str) -> str:
    return redact_url(_EMAIL.sub("[email]", _PHONE.sub("[phone]", text)))


# Secrets never reach logs, stored error texts or events: the configured ones by value (each
# service registers its settings at start), and any credential by its form, whatever its value.
_SECRETS: set[str] = set()
_SECRET_NAME = re.compile(
    r"(?:_token|_secret|_password|_secret_key|signing_key|pii_key|_api_keys)$"
)
_CREDENTIAL = re.compile(
    r"(?i)(\b[\w.-]*(?:access_token|token|key|secret|password|passwd)\b\s*(?:=|:|\\?[\"']\s*:\s*"
    r"\\?[\"']))\s*[^&#\s\"'\\,;)}]+"
)
_AUTHORIZATION = re.compile(
    r"(?i)\b(authorization\b[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|oauth)?\s*)[^\s\"',;}]+"
    r"|\b(bearer\s+)[\w.~+/=-]+"
)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@\"']*):[^@\s/\"']*@")


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember configured secrets so redact_secrets() removes them wherever they appear."""
    for value in values:
        if value and len(value) >= 6:
            _SECRETS.add(value)
            _SECRETS.add(quote(value, safe=""))


def secrets_of(settings: Any) -> list[str]:
    """The secrets in a settings object: fields named as secrets, and passwords inside URLs."""
    found: list[str] = []
    for name, value in dict(settings).items():
        if not isinstance(value, str) or not value:
            continue
        if _SECRET_NAME.search(name):
            found += [v.strip() for v in value.split(",")] if name.endswith("s") else [value]
        if "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password:
                found += [password, unquote(password)]
    return found


def redact_secrets(text: str) -> str:
    """text without configured secrets, credentials in URLs or parameters, Authorization values."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "[secret]")
    text = _USERINFO.sub(r"\1:[secret]@", text)
    text = _AUTHORIZATION.sub(lambda m: (m.group(1) or m.group(2)) + "[secret]", text)
    return _CREDENTIAL.sub(r"\1[secret]", text)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        # The whole message, arguments of any type included (their repr may hold a secret);
        # a dict message (structured fields) is left to the formatter.
        if isinstance(record.msg, str) or record.args:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                message = f"{record.msg} {record.args!r}"
            record.msg, record.args = redact_secrets(redact(message)), ()
        if record.exc_info and record.exc_info[0] is not None:
            # The traceback's text (URLs, error bodies) is redacted as the message is.
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, redact_secrets(redact(text))
        return True


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Install one handler on the root logger; safe to call more than once."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_loa", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._loa = True  # type: ignore[attr-defined]
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s")
        )
    handler.addFilter(_ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("amqp", "kombu", "urllib3", "elastic_transport", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
