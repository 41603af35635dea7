"""Choose the index backend from settings alone (tantivy embedded, Elasticsearch at scale)."""

from __future__ import annotations

from services.search.index.base import SearchIndex
from shared.config import Settings


def make_index(settings: Settings) -> SearchIndex:
    if settings.search_backend == "elasticsearch":
        from services.search.index.es_index import ElasticsearchIndex

        if not settings.elasticsearch_url:
            raise ValueError("LOA_ELASTICSEARCH_URL is required for elasticsearch")
        return ElasticsearchIndex(settings.elasticsearch_url, settings.elasticsearch_index_prefix)
    from services.search.index.tantivy_index import TantivyIndex

    return TantivyIndex(settings.index_dir)
