"""The gateway: the only public HTTP entry. One catch-all nameko entrypoint hands every request to
the router (services/gateway/http.py); the routes live in services/gateway/routes/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from werkzeug.wrappers import Request, Response

from services.gateway import routes
from services.gateway.auth import authorize
from services.gateway.auth.bootstrap import FirstAdmin
from services.gateway.http import ROUTES, RequestContext, Router, Services
from services.gateway.models import bus_probes, metadata
from services.gateway.server import edge_http
from shared.events.envelope import Envelope
from shared.runtime.dependencies import (
    Correlation,
    DatabaseProvider,
    OutboxRelayProvider,
    SettingsProvider,
    StorageProvider,
)
from shared.runtime.events import event_handler
from shared.runtime.health import service_health
from shared.runtime.rpc import RpcProxy, register_error_subclasses, rpc

routes.load_all()
register_error_subclasses()


class GatewayService:
    name = "gateway"

    correlation = Correlation()
    settings = SettingsProvider()
    db = DatabaseProvider("gateway", metadata)
    store = StorageProvider()
    relay = OutboxRelayProvider("gateway", metadata)
    first_admin = FirstAdmin()  # the 'admin' account from LOA_ADMIN_PASSWORD, if missing

    media_rpc = RpcProxy("media")
    publishing_rpc = RpcProxy("publishing")
    feedback_rpc = RpcProxy("feedback")
    search_rpc = RpcProxy("search")
    gateway_rpc = RpcProxy("gateway")

    router = Router(ROUTES, guard=authorize)  # every route checked against auth/policy.py

    def _context(self, request: Request, params: dict[str, Any]) -> RequestContext:
        services = Services(
            {
                "media": self.media_rpc,
                "publishing": self.publishing_rpc,
                "feedback": self.feedback_rpc,
                "search": self.search_rpc,
                "gateway": self.gateway_rpc,
            },
            signing_key=self.settings.rpc_signing_key,
            acting=lambda: ctx.user,  # each call signs the account the guard found
        )
        ctx = RequestContext(request, services, self.settings, self.store, self.db, params)
        return ctx

    @edge_http  # services/gateway/server.py: deadlines, body limits, HTTP slots, /livez
    def everything(self, request: Request) -> Response:
        return self.router.dispatch(self._context, request)

    @rpc
    def health(self) -> dict[str, Any]:
        return service_health(self.name, self.db, self.settings.amqp_uri, store=self.store)

    @rpc
    def send_probe(self) -> str:
        """Send a system.probe event through the outbox; its round trip shows on the status page."""
        with self.db.session() as session:
            env = self.db.record_event(session, "system.probe", {"seq": 0, "note": "status"})
            session.execute(bus_probes.insert().values(event_id=env.id, sent_at=env.occurred_at))
        return env.id

    @event_handler("gateway.probe")
    def on_probe(self, event: Envelope) -> None:
        def effect(session: Any) -> None:
            now = datetime.now(UTC)
            session.execute(
                update(bus_probes)
                .where(bus_probes.c.event_id == event.id)
                .values(
                    received_at=now,
                    round_trip_ms=(now - event.occurred_at).total_seconds() * 1000,
                )
            )

        self.db.apply_once("gateway.probe", event, effect)
