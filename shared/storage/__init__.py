"""Object storage: one interface, a local directory or an S3 bucket behind it."""

from shared.storage.base import (
    MIN_PART_SIZE,
    Data,
    ObjectInfo,
    ObjectReader,
    ObjectStore,
    Parts,
    validate_key,
    validate_prefix,
)
from shared.storage.factory import make_object_store
from shared.storage.local import LocalObjectStore, verify_signed_url
from shared.storage.s3 import S3ObjectStore

__all__ = [
    "MIN_PART_SIZE",
    "Data",
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectReader",
    "ObjectStore",
    "Parts",
    "S3ObjectStore",
    "make_object_store",
    "validate_key",
    "validate_prefix",
    "verify_signed_url",
]
