"""The feedback service and the gateway on real RabbitMQ (own vhost) and a real database,
reached over HTTP exactly as citizens, platforms and staff reach them."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
import requests
from cryptography.fernet import Fernet
from kombu import Connection, Exchange, Queue

from services.feedback.domain import catalog
from services.feedback.domain.pii import Vault
from services.feedback.domain.tickets import Desk
from services.feedback.models import metadata, outbox
from shared.config import Settings
from shared.db import Database
from shared.events.topology import declare_topology
from shared.migrations import upgrade
from shared.runtime.config import nameko_config
from shared.runtime.resources import forget_databases

HOTLINE_SECRET = "hotline-test-secret"
FB_APP_SECRET = "fb-app-secret"
FB_VERIFY = "fb-verify-token"
ZALO_APP_ID = "1234567890"
ZALO_OA_SECRET = "zalo-oa-secret"
PII_KEY = Fernet.generate_key().decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Platform:
    """A local stand-in for Facebook's Send API and Zalo's OA API, answering as documented:
    success bodies, error bodies and rate limits."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_next: list[tuple[int, dict[str, Any]]] = []
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                record = {"path": self.path, "headers": dict(self.headers), "body": body}
                platform.received.append(record)
                if platform.fail_next:
                    status, answer = platform.fail_next.pop(0)
                elif self.path.startswith("/fb/me/messages"):
                    status, answer = (
                        200,
                        {
                            "recipient_id": body["recipient"]["id"],
                            "message_id": f"m_{len(platform.received)}",
                        },
                    )
                elif self.path == "/zalo/v3.0/oa/message/cs":
                    status, answer = (
                        200,
                        {
                            "error": 0,
                            "message": "Success",
                            "data": {
                                "message_id": f"z{len(platform.received)}",
                                "user_id": body["recipient"]["user_id"],
                            },
                        },
                    )
                else:
                    status, answer = 404, {"error": "unknown path"}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def platform() -> Iterator[Platform]:
    p = Platform()
    yield p
    p.close()


@pytest.fixture(params=["sqlite"])
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fb_extra() -> dict[str, Any]:
    """More settings for a module's stack (overridden where needed, e.g. the mailbox)."""
    return {}


@pytest.fixture
def fb_settings(
    make_settings, platform: Platform, db_backend: str, pg_database, fb_extra
) -> Settings:  # type: ignore[no-untyped-def]
    extra: dict[str, Any] = dict(fb_extra)
    if db_backend == "postgresql":
        extra["feedback_database_url"] = pg_database("fb")
    settings = make_settings(
        http_host="127.0.0.1",
        http_port=free_port(),
        feedback_pii_key=PII_KEY,
        feedback_hotline_secret=HOTLINE_SECRET,
        feedback_facebook_app_secret=FB_APP_SECRET,
        feedback_facebook_verify_token=FB_VERIFY,
        feedback_facebook_page_token="PAGE-TOKEN",
        feedback_facebook_api_url=platform.url + "/fb",
        feedback_zalo_app_id=ZALO_APP_ID,
        feedback_zalo_oa_secret=ZALO_OA_SECRET,
        feedback_zalo_access_token="ZALO-TOKEN",
        feedback_zalo_api_url=platform.url + "/zalo",
        feedback_open311_api_keys="open311-key-1,open311-key-2",
        feedback_portal_rate="1000/60",
        feedback_max_attachment_bytes=4096,
        **extra,
    )
    return settings


@pytest.fixture
def stack(container_factory, fb_settings: Settings) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """Feedback + gateway containers, migrated databases, the bus declared."""
    fb_settings.data_dir.mkdir(parents=True, exist_ok=True)
    for service in ("feedback", "gateway"):
        upgrade(service, fb_settings.database_url(service))
    with Connection(fb_settings.amqp_uri) as conn:
        declare_topology(conn)
    from services.feedback.service import FeedbackService
    from services.gateway.service import GatewayService

    config = nameko_config(fb_settings)
    for cls in (FeedbackService, GatewayService):
        container_factory(cls, config).start()
    yield Api(f"http://127.0.0.1:{fb_settings.http_port}", fb_settings)
    forget_databases()


def token(settings: Settings, role: str, unit_id: str | None = None, sub: str = "u1") -> str:
    claims = {"sub": sub, "role": role, "unit_id": unit_id, "exp": int(time.time()) + 600}
    return jwt.encode(claims, settings.signing_key or "", algorithm="HS256")


class Api:
    """HTTP client of the gateway, with helpers for the roles and the platforms' signatures."""

    def __init__(self, base: str, settings: Settings) -> None:
        self.base = base
        self.settings = settings
        self.http = requests.Session()

    def url(self, path: str) -> str:
        return self.base + path

    def get(self, path: str, role: str | None = None, unit: str | None = None, **kw: Any) -> Any:
        return self.http.get(self.url(path), headers=self._auth(role, unit), timeout=20, **kw)

    def post(self, path: str, role: str | None = None, unit: str | None = None, **kw: Any) -> Any:
        headers = {**self._auth(role, unit), **kw.pop("headers", {})}
        return self.http.post(self.url(path), headers=headers, timeout=20, **kw)

    def put(self, path: str, role: str | None = None, **kw: Any) -> Any:
        return self.http.put(self.url(path), headers=self._auth(role, None), timeout=20, **kw)

    def _auth(self, role: str | None, unit: str | None) -> dict[str, str]:
        if not role:
            return {}
        from services.gateway.auth.testing import bearer

        return bearer(self.settings, role, unit)

    def submit(self, **fields: Any) -> Any:
        body = {"category": "thu_tuc", "description": "Hỏi về thủ tục cấp giấy phép xây dựng"}
        body.update(fields)
        return self.post("/api/feedback/tickets", json=body)


def feedback_events(settings: Settings) -> Queue:
    """A queue of this test's vhost bound to every feedback.* event, to read what was emitted."""
    queue = Queue(
        "test.feedback-events",
        Exchange("loa.events", type="topic", durable=True),
        routing_key="feedback.#",
        durable=False,
        auto_delete=False,
    )
    with Connection(settings.amqp_uri) as conn:
        queue(conn.channel()).declare()
    return queue


def drain(settings: Settings, queue: Queue) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with Connection(settings.amqp_uri) as conn:
        bound = queue(conn.channel())
        while True:
            msg = bound.get(no_ack=True)
            if msg is None:
                return out
            out.append(json.loads(msg.body))


class Clock:
    """The desk's clock, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


DeskAt = Callable[..., tuple[Database, Desk, Clock]]


@pytest.fixture(params=["sqlite", "postgresql"])
def desk_at(request: pytest.FixtureRequest, tmp_path: Any, pg_database: Any) -> Iterator[DeskAt]:
    """desk_at(start, setup=None) -> (db, desk, clock): the domain on a fresh feedback database
    of each kind, default categories seeded (and setup(session) run), its clock at `start`."""
    made: list[Database] = []

    def make(start: datetime, setup: Callable[[Any], None] | None = None) -> Any:
        if request.param == "postgresql":
            url = pg_database("fbd")
        else:
            url = f"sqlite:///{tmp_path}/f{len(made)}.db"
        upgrade("feedback", url)
        db = Database("feedback", url, metadata)
        made.append(db)
        with db.session() as s:
            catalog.seed_defaults(s)
            if setup is not None:
                setup(s)
        clock = Clock(start)
        return db, Desk(events=db, vault=Vault(Fernet.generate_key().decode()), now=clock), clock

    yield make
    for db in made:
        db.dispose()


def event_types(db: Database) -> list[str]:
    """The types of the events the desk recorded, in order."""
    from sqlalchemy import select

    with db.session() as s:
        return [r.type for r in s.execute(select(outbox.c.type).order_by(outbox.c.seq))]
