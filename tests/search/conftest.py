"""Fixtures for the search tests: the same suite runs on a real tantivy index in a temporary
folder and on the real Elasticsearch test node (a unique index prefix per test, dropped after)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.search.index.base import SearchIndex
from tests.conftest import require_env

BACKENDS = ["tantivy", "elasticsearch"]


def es_url() -> str:
    return require_env("LOA_TEST_ELASTICSEARCH_URL")


def open_index(backend: str, tmp_path: Path) -> SearchIndex:
    if backend == "tantivy":
        from services.search.index.tantivy_index import TantivyIndex

        return TantivyIndex(tmp_path / f"index-{uuid.uuid4().hex[:6]}")
    from services.search.index.es_index import ElasticsearchIndex

    return ElasticsearchIndex(es_url(), f"loatest-{uuid.uuid4().hex[:10]}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def index(backend: str, tmp_path: Path) -> Iterator[SearchIndex]:
    idx = open_index(backend, tmp_path)
    idx.ensure()
    try:
        yield idx
    finally:
        idx.drop()
        idx.close()


def drop_service_index(backend: str, settings: Any) -> None:
    """After a test of the running service: its Elasticsearch index (tantivy's is in tmp_path)."""
    if backend == "elasticsearch":
        from services.search.index.factory import make_index

        idx = make_index(settings)
        idx.drop()
        idx.close()
