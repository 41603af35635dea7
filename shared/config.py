"""Configuration from environment variables only, validated once at start.

Moving a part from its embedded default to a real server (SQLite to PostgreSQL, local directory to
S3, tantivy to Elasticsearch) is a change of variables and nothing else.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES: tuple[str, ...] = ("media", "publishing", "feedback", "search", "gateway")


class Settings(BaseSettings):
    """Every setting loa reads. The README's table of variables is generated from this class."""

    model_config = SettingsConfigDict(env_prefix="LOA_", extra="ignore", frozen=True)

    data_dir: Path = Field(Path("data"), description="Folder for every embedded part's data")
    amqp_uri: str = Field(
        "amqp://guest:guest@localhost:5672/",
        description="RabbitMQ URI (amqp://user:pass@host/vhost)",
    )
    queue_type: Literal["classic", "quorum"] = Field(
        "classic", description="RabbitMQ queue type for durable queues (quorum on a cluster)"
    )
    media_database_url: str | None = Field(None, description="SQLAlchemy URL of media's database")
    publishing_database_url: str | None = Field(None, description="… of publishing's database")
    feedback_database_url: str | None = Field(None, description="… of feedback's database")
    search_database_url: str | None = Field(None, description="… of search's database")
    gateway_database_url: str | None = Field(None, description="… of gateway's database")
    database_url_template: str | None = Field(
        None,
        description="URL for every service without its own, {service} replaced by its name "
        "(e.g. postgresql+psycopg2://loa:…@db/loa_{service})",
    )
    db_pool_size: int = Field(0, ge=0, le=500, description="Pool size; 0 = max_workers + 4")
    db_pool_timeout: float = Field(
        10.0, gt=0, description="Seconds to wait for a pooled DB connection"
    )

    storage_backend: Literal["local", "s3"] = Field("local", description="Object storage kind")
    storage_dir: Path | None = Field(
        None, description="Objects folder (local); default data/objects"
    )
    s3_endpoint: str | None = Field(None, description="S3 host:port (s3)")
    s3_access_key: str | None = Field(None, description="S3 access key (s3)")
    s3_secret_key: str | None = Field(None, description="S3 secret key (s3)")
    s3_bucket: str = Field("loa", description="S3 bucket (s3)")
    s3_secure: bool = Field(False, description="Use HTTPS to reach S3 (s3)")
    s3_region: str = Field("us-east-1", description="S3 region (s3)")

    search_backend: Literal["tantivy", "elasticsearch"] = Field(
        "tantivy", description="Search index kind"
    )
    search_dir: Path | None = Field(None, description="tantivy index folder; default data/search")
    elasticsearch_url: str | None = Field(None, description="Elasticsearch URL (elasticsearch)")
    elasticsearch_index_prefix: str = Field("loa", description="Prefix of index names")

    http_host: str = Field("0.0.0.0", description="Gateway bind address")
    http_port: int = Field(8000, ge=1, le=65535, description="Gateway port")
    http_concurrency: int = Field(
        20, ge=1, le=1000, description="Requests the gateway works on at once (own workers, "
        "on top of max_workers); bodies are read before a request takes one"
    )
    http_max_connections: int = Field(
        1000, ge=10, le=100000, description="Open HTTP connections; more get a 503 and are closed"
    )
    http_header_timeout_s: float = Field(
        10, gt=0, le=300, description="Time for a request's line and headers to arrive (else 408)"
    )
    http_body_timeout_s: float = Field(
        15, gt=0, le=600, description="Time for a body to arrive, plus 1 s per http_body_min_rate "
        "bytes (else 408)"
    )
    http_body_min_rate: int = Field(
        16384, ge=1, description="Slowest accepted body upload, bytes per second on average"
    )
    http_keepalive_s: float = Field(
        75, gt=0, le=3600, description="An idle keep-alive connection is closed after this"
    )
    http_max_upload_bytes: int = Field(
        16 * 1024**3, ge=1, description="Largest streamed body (media uploads); media's own "
        "limits apply within it"
    )
    health_port: int = Field(
        8081, ge=0, le=65535, description="/livez /readyz /metrics port of a lone service (0=off)"
    )
    public_url: str = Field("http://localhost:8000", description="Base URL users reach loa at")
    tls_ca_file: str | None = Field(
        None,
        description="CA bundle (PEM) trusted for outgoing TLS (SMTP relays, FTPS drops, call "
        "recordings); default: the system's",
    )
    signing_key: str | None = Field(
        None, description="Secret for signed download URLs; embedded start makes one in data_dir"
    )
    rpc_signing_key: str | None = Field(
        None,
        description="Secret shared by the gateway and the services: the gateway signs who acts "
        "on each RPC, the services trust no other actor; embedded start makes one in data_dir",
    )
    admin_password: str | None = Field(
        None,
        description="Password of the first 'admin' account, created at start if missing (it "
        "must be changed at the first sign-in)",
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated networks (CIDR) of the proxies in front (nginx, the "
        "ingress): only from them are X-Forwarded-For/-Proto believed; empty = none",
    )
    api_token_days: int = Field(
        90, ge=1, le=3650, description="Lifetime of API tokens in days: the default and the most"
    )
    metrics_token: str | None = Field(
        None,
        description="Bearer token Prometheus sends for the gateway's /metrics (else staff only)",
    )
    max_workers: int = Field(10, ge=1, le=200, description="Concurrent workers per service")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")
    log_format: Literal["json", "text"] = Field("json", description="Log line format")
    relay_interval_ms: int = Field(
        200, ge=1, le=60000, description="Outbox relay poll interval (it is also woken on commit)"
    )
    relay_batch: int = Field(500, ge=1, le=10000, description="Outbox rows published per batch")
    event_prefetch: int = Field(
        200, ge=1, le=10000, description="Events a handler holds unacknowledged at once"
    )
    event_retry_delays_ms: str = Field(
        "1000,5000,30000", description="Backoff before each retry of a failing handler; then DLQ"
    )

    # --- feedback (issue 5) ---
    feedback_pii_key: str | None = Field(
        None,
        description="Fernet key (urlsafe base64, 32 bytes) encrypting citizens' personal data; "
        "embedded start makes one in data_dir",
    )
    feedback_pii_keys: str | None = Field(
        None,
        description="Fernet keys encrypting citizens' personal data, newest first, "
        "comma-separated: the first encrypts, all decrypt (rotation: put a new key in front, run "
        "`loa keys rotate`, then drop the old one); takes over from feedback_pii_key",
    )
    feedback_lookup_key: str | None = Field(
        None,
        description="64 hex characters keying the look-up hashes of phones and chat users; "
        "empty = derived from the oldest PII key as before (pin it before dropping that key: "
        "`loa keys lookup`)",
    )
    feedback_hotline_secret: str | None = Field(
        None, description="HMAC secret shared with the 1022 call center's webhook"
    )
    feedback_webhook_max_age_s: int = Field(
        300, ge=10, le=3600, description="Signed webhooks older than this are refused (replays)"
    )
    feedback_facebook_app_secret: str | None = Field(
        None, description="Facebook app secret (X-Hub-Signature-256 of page webhooks)"
    )
    feedback_facebook_verify_token: str | None = Field(
        None, description="Token Facebook echoes when subscribing the page webhook"
    )
    feedback_facebook_page_token: str | None = Field(
        None, description="Page access token for replies through the Send API"
    )
    feedback_facebook_api_url: str = Field(
        "https://graph.facebook.com/v19.0", description="Facebook Graph API base URL"
    )
    feedback_zalo_app_id: str | None = Field(None, description="Zalo app id (webhook mac)")
    feedback_zalo_oa_secret: str | None = Field(
        None, description="Zalo Official Account secret key (X-ZEvent-Signature)"
    )
    feedback_zalo_access_token: str | None = Field(
        None, description="Zalo OA access token for replies"
    )
    feedback_zalo_api_url: str = Field(
        "https://openapi.zalo.me", description="Zalo OA Open API base URL"
    )
    feedback_open311_api_keys: str = Field(
        "", description="Comma-separated API keys allowed to POST Open311 requests"
    )
    feedback_portal_rate: str = Field(
        "10/60", description="Portal submissions allowed per client: count/seconds"
    )
    feedback_max_attachment_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest attachment (call recording, photo)"
    )
    feedback_mailbox: str = Field(
        "gopy@localhost", description="The feedback mailbox: From of e-mail replies"
    )
    feedback_smtp_port: int = Field(
        0, ge=0, le=65535, description="Port of the feedback mailbox's SMTP intake (0 = off)"
    )
    feedback_smtp_host: str = Field("127.0.0.1", description="Address the SMTP intake listens on")
    feedback_smtp_relay_url: str | None = Field(
        None,
        description="SMTP relay of e-mail replies: smtp://[user:pass@]host:port (STARTTLS "
        "required) or smtps://, certificate verified (LOA_TLS_CA_FILE); smtp+plain://host:port "
        "only for a relay on this host without a login",
    )
    feedback_recording_origins: str = Field(
        "",
        description="Comma-separated origins (https://pbx.example[:port]) call recordings are "
        "fetched from; required with LOA_FEEDBACK_HOTLINE_SECRET. A host name must resolve to "
        "public addresses: list an internal server by its IP (http://10.0.0.5:8080)",
    )
    feedback_recording_max_bytes: int = Field(
        50 * 1024 * 1024, ge=1024, description="Largest call recording downloaded"
    )

    @field_validator("event_retry_delays_ms")
    @classmethod
    def _delays(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ValueError("must be a comma-separated list of positive integers (milliseconds)")
        return ",".join(parts)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        import ipaddress

        parts = [p.strip() for p in value.split(",") if p.strip()]
        for part in parts:
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"'{part}' is not a network (e.g. 10.0.0.0/8, ::1)") from None
        return ",".join(parts)

    @field_validator("feedback_pii_key", "feedback_pii_keys")
    @classmethod
    def _fernet_keys(cls, value: str | None) -> str | None:
        import base64
        import binascii

        parts = [p.strip() for p in (value or "").split(",") if p.strip()]
        for part in parts:
            try:
                ok = len(base64.urlsafe_b64decode(part.encode())) == 32
            except (binascii.Error, ValueError):
                ok = False
            if not ok:
                raise ValueError("must be Fernet keys, newest first (loa keys generate)")
        return ",".join(parts) or None

    @field_validator("feedback_lookup_key")
    @classmethod
    def _lookup_key(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if value and (len(value) != 64 or any(c not in "0123456789abcdefABCDEF" for c in value)):
            raise ValueError("must be 64 hex characters (loa keys generate)")
        return value or None

    @field_validator("feedback_recording_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        return ",".join(origin_of(p.strip()) for p in value.split(",") if p.strip())

    @property
    def recording_origins(self) -> tuple[str, ...]:
        """The allowed origins of call recordings, each as scheme://host:port."""
        return tuple(p for p in self.feedback_recording_origins.split(",") if p)

    @field_validator("amqp_uri")
    @classmethod
    def _amqp(cls, value: str) -> str:
        if not value.startswith(("amqp://", "amqps://")):
            raise ValueError("must start with amqp:// or amqps://")
        return value

    @property
    def retry_delays_ms(self) -> list[int]:
        return [int(p) for p in self.event_retry_delays_ms.split(",")]

    def database_url(self, service: str) -> str:
        """The service's own database; a SQLite file in data_dir unless a URL is given."""
        url = getattr(self, f"{service}_database_url", None)
        if url:
            return url
        if self.database_url_template:
            return self.database_url_template.replace("{service}", service)
        return f"sqlite:///{(self.data_dir / f'{service}.sqlite3').resolve()}"

    @property
    def objects_dir(self) -> Path:
        return (self.storage_dir or self.data_dir / "objects").resolve()

    @property
    def index_dir(self) -> Path:
        return (self.search_dir or self.data_dir / "search").resolve()

    def check_complete(self) -> None:
        """Cross-field rules: a chosen backend must have what it needs."""
        if self.storage_backend == "s3":
            for name in ("s3_endpoint", "s3_access_key", "s3_secret_key"):
                if not getattr(self, name):
                    raise ConfigError(f"LOA_{name.upper()} is required when LOA_STORAGE_BACKEND=s3")
        if self.feedback_hotline_secret and not self.recording_origins:
            raise ConfigError(
                "LOA_FEEDBACK_RECORDING_ORIGINS is required when LOA_FEEDBACK_HOTLINE_SECRET is "
                "set (the origins call recordings may be fetched from)"
            )
        if self.search_backend == "elasticsearch" and not self.elasticsearch_url:
            raise ConfigError(
                "LOA_ELASTICSEARCH_URL is required when LOA_SEARCH_BACKEND=elasticsearch"
            )
        for service in SERVICES:
            url = self.database_url(service)
            if not url.startswith(("sqlite:", "postgresql")):
                raise ConfigError(
                    f"LOA_{service.upper()}_DATABASE_URL must be a sqlite:// or postgresql:// URL"
                )


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the variable."""


def origin_of(text: str) -> str:
    """scheme://host:port of an http(s) origin (default port made explicit, host lowercased);
    ValueError for anything else: a path, a query, user info, another scheme."""
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r} is not an http(s)://host[:port] origin")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError(f"{text!r} must not hold user info")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{text!r} must be an origin only, without a path or query")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port or (443 if parts.scheme == 'https' else 80)}"


def load_settings() -> Settings:
    """Read and validate settings, raising ConfigError with one line naming the variable."""
    try:
        settings = Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "LOA_" + str(err["loc"][0]).upper() if err["loc"] else "LOA_*"
        raise ConfigError(f"{name}: {err['msg']}") from None
    settings.check_complete()
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def settings_or_exit() -> Settings:
    """For process start: a wrong setting stops the process with one line naming the variable."""
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"loa: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
