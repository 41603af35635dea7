"""Choosing the object store from settings alone, so moving to S3 is a change of variables."""

from __future__ import annotations

from shared.config import ConfigError, Settings
from shared.storage.base import ObjectStore


def make_object_store(settings: Settings) -> ObjectStore:
    """The store LOA_STORAGE_BACKEND names, built from the LOA_* settings."""
    if settings.storage_backend == "s3":
        from shared.storage.s3 import S3ObjectStore

        missing = [
            f"LOA_{name.upper()}"
            for name in ("s3_endpoint", "s3_access_key", "s3_secret_key")
            if not getattr(settings, name)
        ]
        if missing:
            raise ConfigError(f"{', '.join(missing)} required when LOA_STORAGE_BACKEND=s3")
        return S3ObjectStore(
            endpoint=settings.s3_endpoint or "",
            access_key=settings.s3_access_key or "",
            secret_key=settings.s3_secret_key or "",
            bucket=settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
    if settings.storage_backend == "local":
        from shared.storage.local import LocalObjectStore

        if not settings.signing_key:
            raise ConfigError("LOA_SIGNING_KEY is required to sign download URLs of local storage")
        return LocalObjectStore(settings.objects_dir, settings.signing_key, settings.public_url)
    raise ConfigError(f"LOA_STORAGE_BACKEND: unknown backend {settings.storage_backend!r}")
