"""SMTP connections on which a password and mail are safe to send: TLS required and verified.

STARTTLS is required (not "used if offered": a man in the middle removes the offer), or TLS from
the first byte (smtps); the certificate is verified against the system's CAs or LOA_TLS_CA_FILE.
Used by publishing's e-bulletin and feedback's e-mail replies.
"""

from __future__ import annotations

import smtplib
import ssl


class InsecureSmtp(Exception):
    """The server cannot be reached over verified TLS as configured: nothing is sent."""


def secure_smtp(
    host: str, port: int, tls: str, timeout: float, ca_file: str | None
) -> smtplib.SMTP:
    """A connection on which a login and mail are safe: TLS verified (STARTTLS required, or
    implicit); "none" only connects (the caller must not log in: see SmtpTransmitter)."""
    context = ssl.create_default_context(cafile=ca_file)
    if tls == "smtps":
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    smtp = smtplib.SMTP(host, port, timeout=timeout)
    if tls == "none":
        return smtp
    try:
        smtp.ehlo()
        if not smtp.has_extn("starttls"):
            raise InsecureSmtp(
                f"Máy chủ SMTP {host}:{port} không hỗ trợ STARTTLS; không gửi mật khẩu và thư "
                f"không mã hoá / the SMTP server {host}:{port} does not offer STARTTLS: the "
                "password and the mail are not sent in clear (use smtps, or a relay with TLS)"
            )
        smtp.starttls(context=context)
        smtp.ehlo()
    except BaseException:
        smtp.close()
        raise
    return smtp


def untrusted(exc: ssl.SSLCertVerificationError) -> str:
    """What to do about a certificate that could not be verified."""
    return (
        "Không xác minh được chứng chỉ của máy chủ / the server's TLS certificate cannot be "
        f"verified ({exc.verify_message or exc}); nothing was sent. If it is signed by an "
        "internal CA, set LOA_TLS_CA_FILE to that CA's certificate"
    )
