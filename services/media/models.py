"""Tables owned by the media service (its own database; no other service reads them)."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shared.events.tables import add_event_tables

metadata = MetaData()
outbox, applied_events = add_event_tables(metadata)

# A tus upload (or a plain form upload, which is a tus upload done in one request). Its bytes go
# to object storage as they arrive; this row is the upload's state: offset, parts, lease.
uploads = Table(
    "uploads",
    metadata,
    Column("id", String(64), primary_key=True),
    # uploading → received → done | duplicate | rejected; or terminated / expired
    Column("state", String(20), nullable=False, index=True),
    Column("length", BigInteger, nullable=False),
    Column("offset", BigInteger, nullable=False, default=0),
    Column("meta", JSON, nullable=False, default=dict),
    Column("storage_key", String(512), nullable=False),
    Column("multipart_id", String(1024), nullable=True),
    Column("parts", JSON, nullable=False, default=list),  # [[number, etag, size], ...]
    Column("tail_key", String(512), nullable=True),
    Column("tail_size", BigInteger, nullable=False, default=0),
    Column("lease_token", String(64), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("asset_id", String(64), nullable=True),
    Column("reason", Text, nullable=True),
    # the account that created it (its id); only it writes to the upload. NULL: made before
    # uploads had owners.
    Column("owner", String(64), nullable=True),
)

assets = Table(
    "assets",
    metadata,
    Column("id", String(64), primary_key=True),
    # processing → ready | partial (some profiles failed) ; deleted
    Column("status", String(20), nullable=False, index=True),
    Column("title", String(500), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("tags", JSON, nullable=False, server_default="[]"),
    Column("unit_id", String(64), nullable=True, index=True),
    Column("subtitles_text", Text, nullable=False, server_default=""),  # for search
    # + 1 on every change search sees (details, ready again): consumers keep the newest
    Column("version", Integer, nullable=False, server_default="1"),
    Column("filename", String(500), nullable=False),
    Column("content_type", String(200), nullable=False, default=""),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=True, unique=True),  # NULL once deleted
    Column("original_key", String(512), nullable=True),
    Column("kind", String(10), nullable=False),  # video | audio
    Column("duration_s", Float, nullable=True),
    Column("width", Integer, nullable=True),  # as displayed (rotation applied)
    Column("height", Integer, nullable=True),
    Column("probe", JSON, nullable=False, default=dict),
    # per clip: {"logo": "default"|"none"|"branding/…", "burn_subtitles": bool,
    #            "subtitles": {"lang", "key", "cues"} | absent}
    Column("options", JSON, nullable=True),
    Column("upload_id", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
)

# One job per (asset, profile): retrying reuses the row (attempt + 1), so there is never a second.
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("asset_id", String(64), ForeignKey("assets.id"), nullable=False, index=True),
    Column("profile", String(20), nullable=False),
    # queued → running → done | failed ; cancelled
    Column("state", String(20), nullable=False, index=True),
    Column("attempt", Integer, nullable=False, default=1),
    Column("percent", Float, nullable=False, default=0.0),
    Column("speed", Float, nullable=True),
    Column("eta_s", Float, nullable=True),
    Column("reason", Text, nullable=True),
    Column("generation", String(64), nullable=True),  # storage folder of the published outputs
    # who runs it now: a redelivered message claims it again, and only the last claim commits
    Column("claim", String(64), nullable=True),
    Column("queued_at", DateTime(timezone=True), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("asset_id", "profile", name="uq_jobs_asset_profile"),
)

renditions = Table(
    "renditions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("asset_id", String(64), ForeignKey("assets.id"), nullable=False, index=True),
    Column("profile", String(20), nullable=False),
    Column("name", String(50), nullable=False),
    Column("key", String(512), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("info", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("asset_id", "profile", "name", name="uq_renditions_asset_profile_name"),
)
