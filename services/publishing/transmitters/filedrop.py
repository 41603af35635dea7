"""Files to a drop folder, FTP or S3: the newspaper's drop and the TV station's watch folder.

Each file is written under a temporary name and renamed (FTP) or put atomically (S3), so a
watcher never picks up half a file; names are stable, so a re-send replaces rather than adds.
Binary files (images, clips) go first and the metadata last, for watchers that react to it.

FTP goes over explicit TLS (ftpes://: AUTH TLS before the login, then a protected data channel),
the server's certificate verified against the system's CAs or LOA_TLS_CA_FILE. Plain ftp:// sends
the password in clear and is refused unless LOA_PUB_ALLOW_PLAIN_FTP says otherwise.
"""

from __future__ import annotations

import ftplib
import io
import ssl
from typing import Any
from urllib.parse import unquote, urlsplit

from services.publishing.transmitters.base import (
    Job,
    PermanentError,
    RenderedFile,
    SendResult,
    TransientError,
    Transmitter,
)
from shared.errors import LoaError
from shared.logging import register_secrets


def _ordered(files: list[RenderedFile]) -> list[RenderedFile]:
    return [f for f in files if f.store_key] + [f for f in files if not f.store_key]


class FileDropTransmitter(Transmitter):
    """target: ftpes://user:pass@host:port/dir or s3s://key:secret@host:port/bucket/prefix
    (ftp:// only with allow_plain_ftp; s3:// signs its requests, the secret is not sent)."""

    def __init__(
        self, channel: str, target: str, store: Any, timeout: float = 30.0,
        ca_file: str | None = None, allow_plain_ftp: bool = False,
    ) -> None:  # fmt: skip
        self.channel = channel
        self.store = store
        self.timeout = timeout
        self.ca_file = ca_file
        url = urlsplit(target)
        self.scheme = url.scheme
        if self.scheme not in ("ftpes", "ftp", "s3", "s3s"):
            raise ValueError(
                f"LOA_PUB_{channel.upper()}_TARGET must be ftpes://, s3s:// or s3://"
            )
        if self.scheme == "ftp" and not allow_plain_ftp:
            raise ValueError(
                f"LOA_PUB_{channel.upper()}_TARGET: ftp:// sends the password in clear; use "
                "ftpes:// (FTP over TLS), or set LOA_PUB_ALLOW_PLAIN_FTP=true on a network "
                "where nobody can listen"
            )
        self.host = url.hostname or "localhost"
        self.port = url.port
        self.user = unquote(url.username or "anonymous")
        self.password = unquote(url.password or "")
        register_secrets([self.password, url.password])
        path = url.path.strip("/")
        if self.scheme in ("ftp", "ftpes"):
            self.folder = path
        else:
            bucket, _, prefix = path.partition("/")
            self.bucket, self.prefix = bucket, prefix.strip("/")

    # --- shared ---------------------------------------------------------------------------
    def _bytes(self, f: RenderedFile) -> bytes:
        if f.text is not None:
            return f.text.encode("utf-8")
        try:
            with self.store.open(f.store_key) as reader:
                return reader.read()
        except LoaError as exc:
            raise PermanentError(
                f"{f.name}: the source file {f.store_key} is missing: {exc}"
            ) from exc

    def send(self, job: Job) -> SendResult:
        files = _ordered(job.files)
        if self.scheme in ("ftp", "ftpes"):
            return self._ftp(lambda ftp: self._ftp_send(ftp, files), files)
        return self._s3_send(files)

    def find(self, job: Job) -> SendResult | None:
        files = _ordered(job.files)
        if self.scheme in ("ftp", "ftpes"):
            return self._ftp(lambda ftp: self._ftp_find(ftp, files), files)
        return self._s3_find(files)

    # --- FTP ------------------------------------------------------------------------------
    def _ftp(self, action: Any, files: list[RenderedFile]) -> Any:
        try:
            ftp: ftplib.FTP
            if self.scheme == "ftpes":
                context = ssl.create_default_context(cafile=self.ca_file)
                ftp = ftplib.FTP_TLS(context=context, timeout=self.timeout)
            else:
                ftp = ftplib.FTP(timeout=self.timeout)
            ftp.connect(self.host, self.port or 21)
            try:
                if isinstance(ftp, ftplib.FTP_TLS):
                    ftp.auth()  # TLS, certificate verified, before the password is sent
                    ftp.login(self.user, self.password)
                    ftp.prot_p()  # files over TLS too
                else:
                    ftp.login(self.user, self.password)
                ftp.voidcmd("TYPE I")
                if self.folder:
                    self._cwd(ftp, self.folder)
                return action(ftp)
            finally:
                try:
                    ftp.quit()
                except (OSError, ftplib.Error):
                    ftp.close()
        except ssl.SSLCertVerificationError as exc:
            raise PermanentError(
                "Không xác minh được chứng chỉ máy chủ FTPS / the FTPS server's certificate cannot "
                f"be verified ({exc.verify_message or exc}); nothing was sent. If it is signed by "
                "an internal CA, set LOA_TLS_CA_FILE to that CA's certificate"
            ) from exc
        except ftplib.error_perm as exc:
            raise PermanentError(f"FTP server refused: {exc}") from exc
        except (ftplib.error_temp, ftplib.error_reply, ftplib.error_proto) as exc:
            raise TransientError(f"FTP server error: {exc}") from exc
        except (TimeoutError, OSError, EOFError) as exc:
            raise TransientError(f"FTP server unreachable: {exc}") from exc

    @staticmethod
    def _cwd(ftp: ftplib.FTP, folder: str) -> None:
        for part in folder.split("/"):
            try:
                ftp.cwd(part)
            except ftplib.error_perm:
                ftp.mkd(part)
                ftp.cwd(part)

    def _ftp_send(self, ftp: ftplib.FTP, files: list[RenderedFile]) -> SendResult:
        for f in files:
            data = self._bytes(f)
            temp = f".{f.name}.part"
            ftp.storbinary(f"STOR {temp}", io.BytesIO(data))
            ftp.rename(temp, f.name)
        path = "/".join(p for p in (self.folder, files[-1].name) if p)
        return SendResult(remote_id=path, url=f"{self.scheme}://{self.host}/{path}")

    def _ftp_find(self, ftp: ftplib.FTP, files: list[RenderedFile]) -> SendResult | None:
        for f in files:
            try:
                size = ftp.size(f.name)
            except ftplib.error_perm:
                return None
            if f.text is not None and size != len(f.text.encode("utf-8")):
                return None
        main = files[-1].name
        return SendResult(remote_id=f"{self.folder}/{main}".lstrip("/"))

    # --- S3 -------------------------------------------------------------------------------
    def _s3(self) -> Any:
        from shared.storage.s3 import S3ObjectStore

        return S3ObjectStore(
            endpoint=f"{self.host}:{self.port or (443 if self.scheme == 's3s' else 80)}",
            access_key=self.user,
            secret_key=self.password,
            bucket=self.bucket,
            secure=self.scheme == "s3s",
        )

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _s3_send(self, files: list[RenderedFile]) -> SendResult:
        try:
            target = self._s3()
            for f in files:
                target.put(self._key(f.name), self._bytes(f), content_type=f.content_type)
        except PermanentError:
            raise
        except LoaError as exc:
            if exc.status >= 500:
                raise TransientError(f"S3 drop unavailable: {exc.detail}") from exc
            raise PermanentError(f"S3 drop refused: {exc.detail}") from exc
        main = self._key(files[-1].name)
        return SendResult(remote_id=main, url=f"s3://{self.bucket}/{main}")

    def _s3_find(self, files: list[RenderedFile]) -> SendResult | None:
        from shared.errors import NotFound

        try:
            target = self._s3()
            for f in files:
                info = target.stat(self._key(f.name))
                if f.text is not None and info.size != len(f.text.encode("utf-8")):
                    return None
        except NotFound:
            return None
        except LoaError as exc:
            raise TransientError(f"S3 drop unavailable: {exc.detail}") from exc
        main = self._key(files[-1].name)
        return SendResult(remote_id=main, url=f"s3://{self.bucket}/{main}")
