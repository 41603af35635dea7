from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.config import Settings
from shared.runtime.config import nameko_config
from shared.runtime.resources import database_for, forget_databases
from tests.bus import demo


@pytest.fixture(params=["sqlite", "postgresql"])
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def demo_settings(make_settings, db_backend: str, pg_database) -> Settings:  # type: ignore[no-untyped-def]
    if db_backend == "postgresql":
        return make_settings(database_url_template=pg_database("demo"))
    return make_settings()


@pytest.fixture
def demo_db(demo_settings: Settings) -> Iterator[object]:
    demo_settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = database_for(demo_settings, "demo", demo.metadata)
    demo.metadata.drop_all(db.engine)
    demo.metadata.create_all(db.engine)
    demo.attempts.clear()
    demo.effects.clear()
    yield db
    forget_databases()


@pytest.fixture
def demo_container(container_factory, demo_settings: Settings, demo_db):  # type: ignore[no-untyped-def]
    container = container_factory(demo.DemoService, nameko_config(demo_settings))
    container.start()
    return container
