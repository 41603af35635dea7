"""Alembic migrations per service: each service owns its tables and its migration history.

`loa migrate` (and the embedded start) call upgrade() for every service in the process.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy import create_engine as _create_engine

from shared.db import is_sqlite

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def alembic_config(service: str, url: str, migrations_dir: Path | None = None) -> Config:
    cfg = Config()
    location = migrations_dir or ROOT / "services" / service / "migrations"
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("script_location", str(location))
    cfg.set_main_option("version_locations", str(location / "versions"))
    cfg.attributes["url"] = url
    cfg.attributes["service"] = service
    return cfg


def upgrade(service: str, url: str, migrations_dir: Path | None = None) -> None:
    if is_sqlite(url):
        Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(service, url, migrations_dir), "head")
    log.info("database of %s is at the latest migration", service)


def run_env(metadata: MetaData) -> None:
    """Body of every service's migrations/env.py (online mode only: we always have a URL)."""
    url = context.config.attributes["url"]
    engine = _create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=is_sqlite(url),
            compare_type=True,
        )
        with context.begin_transaction():
            if not is_sqlite(url):
                # Replicas starting together take turns; the later ones find nothing to do.
                connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('loa-migrate'))"))
            context.run_migrations()
    engine.dispose()
