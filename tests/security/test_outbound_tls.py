"""Finding 12 of the security review: mail and file drops never send credentials in clear.

Real servers started by the test with a certificate it makes (its own CA): aiosmtpd with STARTTLS
and AUTH, pyftpdlib's TLS_FTPHandler (explicit FTPS). With LOA_TLS_CA_FILE pointing at the CA the
e-bulletin (publishing), the e-mail replies (feedback) and the press drop go through; without it
the certificate is refused before any login; a server that does not offer STARTTLS is refused and
never sees the password; a plain ftp:// drop is refused unless explicitly allowed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.feedback.adapters.mail import EmailSender
from services.feedback.adapters.replies import ReplyFailed
from services.publishing.transmitters.base import (
    Job,
    PermanentError,
    RenderedFile,
    TransientError,
)
from services.publishing.transmitters.filedrop import FileDropTransmitter
from services.publishing.transmitters.smtp import Recipient, SmtpTransmitter
from tests.publishing.conftest import free_port

PASSWORD = "smtp-Pa55word-never-in-clear"


@dataclass
class Pki:
    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA of the test's own and a certificate for 127.0.0.1 / localhost signed by it."""
    d = tmp_path_factory.mktemp("pki")
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name("loa CA")).issuer_name(_name("loa CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                       key_agreement=False, encipher_only=False, decipher_only=False), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    (d / "ca.pem").write_bytes(ca.public_bytes(pem))
    (d / "server.pem").write_bytes(cert.public_bytes(pem))
    (d / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Pki(d / "ca.pem", d / "server.pem", d / "server.key")


# --- SMTP --------------------------------------------------------------------------------------
@dataclass
class Smtp:
    port: int
    logins: list[tuple[str, str]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


class _Handler:
    def __init__(self, box: Smtp) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.box.messages.append(envelope.content.decode("utf-8", "replace"))
        return "250 OK"


def _smtp(pki: Pki | None) -> Iterator[Smtp]:
    box = Smtp(free_port())

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        if isinstance(data, LoginPassword):
            box.logins.append((data.login.decode(), data.password.decode()))
            return AuthResult(success=data.password.decode() == PASSWORD)
        return AuthResult(success=False)

    tls: dict[str, Any] = (
        {"tls_context": pki.server_context(), "require_starttls": True, "auth_require_tls": True}
        if pki
        else {"auth_require_tls": False}  # offers AUTH in clear, as a careless relay would
    )
    controller = Controller(
        _Handler(box), hostname="127.0.0.1", port=box.port, authenticator=authenticate,
        auth_required=True, ready_timeout=10.0, **tls,
    )  # fmt: skip
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def smtp_tls(pki: Pki) -> Iterator[Smtp]:
    yield from _smtp(pki)


@pytest.fixture
def smtp_plain() -> Iterator[Smtp]:
    yield from _smtp(None)


class OneList:
    """The e-bulletin's mailing list: one subscriber."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def pending(self, job: Job) -> list[Recipient]:
        return [] if self.sent else [Recipient("r1", "so@bd.gov.vn", "tok")]

    def mark_sent(self, job: Job, recipient: Recipient, message_id: str) -> None:
        self.sent.append(message_id)

    def sent_count(self, job: Job) -> int:
        return len(self.sent)


def _job(files: list[RenderedFile]) -> Job:
    return Job(delivery_id="d1", idempotency_key="k1", channel="x", item={}, files=files,
               options={}, due_at=datetime.now(UTC), sequence=1)  # fmt: skip


BULLETIN = [
    RenderedFile("subject.txt", "text/plain", text="Bản tin"),
    RenderedFile("bulletin.txt", "text/plain", text="Kính gửi"),
    RenderedFile("bulletin.html", "text/html", text="<p>Kính gửi</p>"),
]


def _bulletin(port: int, ca: Path | None, tls: str = "starttls") -> SmtpTransmitter:
    return SmtpTransmitter(
        "localhost", port, "Bản tin <bantin@loa.example>", OneList(), "http://loa.test/u",
        user="bulletin", password=PASSWORD, tls=tls, timeout=10,
        ca_file=str(ca) if ca else None,
    )  # fmt: skip


def _reply(port: int, ca: Path | None) -> EmailSender:
    return EmailSender(
        f"smtp://bulletin:{PASSWORD}@localhost:{port}", "gopy@loa.example", timeout=10,
        ca_file=str(ca) if ca else None,
    )


def test_smtp_with_the_ca_setting_sends_over_verified_tls(smtp_tls: Smtp, pki: Pki) -> None:
    assert _bulletin(smtp_tls.port, pki.ca).send(_job(BULLETIN)).remote_id == "1 recipients"
    _reply(smtp_tls.port, pki.ca).send_reply("dan@example.vn", "Đã nhận", "ABC-DEF-GHK", [])
    assert len(smtp_tls.messages) == 2
    assert smtp_tls.logins == [("bulletin", PASSWORD)] * 2


def test_smtp_without_the_ca_is_refused_before_login(smtp_tls: Smtp) -> None:
    with pytest.raises((PermanentError, TransientError)) as err:
        _bulletin(smtp_tls.port, None).send(_job(BULLETIN))
    assert "certificate" in err.value.reason.lower(), err.value.reason
    with pytest.raises(ReplyFailed) as failed:
        _reply(smtp_tls.port, None).send_reply("dan@example.vn", "Đã nhận", "", [])
    assert "certificate" in failed.value.reason.lower(), failed.value.reason
    assert smtp_tls.logins == [] and smtp_tls.messages == []


def test_smtp_server_without_starttls_never_gets_the_password(
    smtp_plain: Smtp, pki: Pki
) -> None:
    with pytest.raises(PermanentError) as err:
        _bulletin(smtp_plain.port, pki.ca).send(_job(BULLETIN))
    assert "STARTTLS" in err.value.reason, err.value.reason
    with pytest.raises(ReplyFailed) as failed:
        _reply(smtp_plain.port, pki.ca).send_reply("dan@example.vn", "Đã nhận", "", [])
    assert "STARTTLS" in failed.value.reason, failed.value.reason
    assert smtp_plain.logins == [] and smtp_plain.messages == []


# --- FTPS drops --------------------------------------------------------------------------------
FTPS_SERVER = """
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.servers import FTPServer

port, root, cert, key, password, logins = sys.argv[1:]


class Handler(TLS_FTPHandler):
    certfile, keyfile = cert, key
    tls_control_required = tls_data_required = True

    def on_login(self, username):
        with open(logins, "a") as f:
            f.write(username + "\\n")


authorizer = DummyAuthorizer()
authorizer.add_user("press", password, root, perm="elradfmwMT")
Handler.authorizer = authorizer
FTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
"""


@pytest.fixture
def ftps(pki: Pki, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """pyftpdlib in its own process, explicit TLS required on control and data, user press;
    each login is written to a file."""
    import subprocess
    import sys

    from tests.publishing.conftest import _wait_port

    root, logins = tmp_path / "drop", tmp_path / "logins"
    root.mkdir()
    logins.write_text("")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", FTPS_SERVER, str(port), str(root), str(pki.cert), str(pki.key),
         PASSWORD, str(logins)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _wait_port(port, proc, "FTPS server")
    yield {"port": port, "root": root, "logins": lambda: logins.read_text().split()}
    proc.terminate()
    proc.wait(5)


DROP = [RenderedFile("tin.xml", "application/xml", text="<nitf>tin</nitf>")]


def test_press_drop_over_verified_ftps(ftps: dict[str, Any], pki: Pki, tmp_path: Path) -> None:
    target = f"ftpes://press:{PASSWORD}@localhost:{ftps['port']}/bao"
    drop = FileDropTransmitter("press", target, None, timeout=10, ca_file=str(pki.ca))
    drop.send(_job(DROP))
    assert (ftps["root"] / "bao" / "tin.xml").read_text() == "<nitf>tin</nitf>"
    assert ftps["logins"]() == ["press"]

    unverified = FileDropTransmitter("press", target, None, timeout=10)
    with pytest.raises((PermanentError, TransientError)) as err:
        unverified.send(_job(DROP))
    assert "certificate" in err.value.reason.lower(), err.value.reason
    assert ftps["logins"]() == ["press"]  # no second login without a verified server


def test_plain_ftp_is_refused_unless_allowed() -> None:
    with pytest.raises(ValueError) as err:
        FileDropTransmitter("press", f"ftp://press:{PASSWORD}@localhost:21/x", None)
    assert "ftpes://" in str(err.value) and "LOA_PUB_ALLOW_PLAIN_FTP" in str(err.value)
    FileDropTransmitter("press", "ftp://press:x@localhost:21/x", None, allow_plain_ftp=True)


def test_implicit_tls_smtps_is_verified_too(pki: Pki) -> None:
    """smtps (TLS from the first byte): the same certificate check, then the login."""
    box = Smtp(free_port())

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        box.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password.decode() == PASSWORD)

    controller = Controller(
        _Handler(box), hostname="127.0.0.1", port=box.port, authenticator=authenticate,
        auth_required=True, auth_require_tls=False, ssl_context=pki.server_context(),
        ready_timeout=10.0,
    )  # fmt: skip
    controller.start()
    try:
        with pytest.raises(PermanentError) as err:
            _bulletin(box.port, None, tls="smtps").send(_job(BULLETIN))
        assert "certificate" in err.value.reason.lower() and box.logins == []
        assert _bulletin(box.port, pki.ca, tls="smtps").send(_job(BULLETIN)).remote_id
        relay = EmailSender(f"smtps://bulletin:{PASSWORD}@localhost:{box.port}",
                            "gopy@loa.example", timeout=10, ca_file=str(pki.ca))  # fmt: skip
        relay.send_reply("dan@example.vn", "Đã nhận", "", [])
    finally:
        controller.stop()
    assert box.logins == [("bulletin", PASSWORD)] * 2 and len(box.messages) == 2
