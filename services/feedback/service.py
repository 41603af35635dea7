"""nameko entrypoints of the feedback service: parse, call the domain, return. Nothing else."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from nameko.extensions import DependencyProvider
from nameko.timer import timer
from sqlalchemy.exc import IntegrityError

from services.feedback.adapters.mail import EmailSender, Rejected, SmtpIntake
from services.feedback.adapters.recording_fetch import open_recording
from services.feedback.adapters.replies import FacebookSender, ReplySender, ZaloSender
from services.feedback.domain import (
    attachments,
    catalog,
    channels,
    export,
    mailbox,
    notify,
    open311,
    privacy,
    recordings,
    reports,
)
from services.feedback.domain import signatures as sig
from services.feedback.domain.pii import Vault
from services.feedback.domain.tickets import Actor, Desk, Intake
from services.feedback.models import metadata
from shared.config import Settings
from shared.errors import InvalidInput, LoaError, NotFound
from shared.runtime.config import settings_of
from shared.runtime.dependencies import (
    Correlation,
    DatabaseProvider,
    OutboxRelayProvider,
    SettingsProvider,
    StorageProvider,
)
from shared.runtime.health import service_health
from shared.runtime.resources import database_for
from shared.runtime.rpc import rpc
from shared.storage import make_object_store

log = logging.getLogger(__name__)
T = TypeVar("T")


class DeskProvider(DependencyProvider):
    """The domain's desk, built once per container from settings (key, event sink)."""

    def setup(self) -> None:
        self.settings: Settings = settings_of(self.container.config)
        self.vault = Vault.from_settings(self.settings)

    def start(self) -> None:
        """Default categories and the center's unit exist before the first ticket."""
        db = database_for(self.settings, "feedback", metadata)
        with db.session() as session:
            catalog.seed_defaults(session)

    def make(self, db: Any) -> Desk:
        return Desk(events=db, vault=self.vault)

    def senders(self) -> dict[str, ReplySender]:
        s = self.settings
        out: dict[str, ReplySender] = {}
        if s.feedback_smtp_relay_url:
            out["email"] = EmailSender(
                s.feedback_smtp_relay_url, s.feedback_mailbox, ca_file=s.tls_ca_file
            )
        if s.feedback_facebook_page_token:
            out["facebook"] = FacebookSender(
                s.feedback_facebook_api_url, s.feedback_facebook_page_token
            )
        if s.feedback_zalo_access_token:
            out["zalo"] = ZaloSender(s.feedback_zalo_api_url, s.feedback_zalo_access_token)
        return out

    def get_dependency(self, worker_ctx: Any) -> DeskProvider:
        return self


class MailIntake(DependencyProvider):
    """The feedback mailbox's SMTP server (LOA_FEEDBACK_SMTP_PORT; 0 = off), in this process."""

    server: SmtpIntake | None = None

    def setup(self) -> None:
        self.settings: Settings = settings_of(self.container.config)

    def start(self) -> None:
        s = self.settings
        if not s.feedback_smtp_port or not (s.feedback_pii_keys or s.feedback_pii_key):
            return
        self.db = database_for(s, "feedback", metadata)
        self.vault = Vault.from_settings(s)
        self.store = make_object_store(s)
        self.server = SmtpIntake(
            s.feedback_smtp_host, s.feedback_smtp_port, s.feedback_mailbox, self.deliver
        )
        self.server.start()
        log.info("feedback mailbox on smtp://%s:%s", s.feedback_smtp_host, s.feedback_smtp_port)

    def deliver(self, raw: bytes, envelope_from: str) -> None:
        try:
            mail = mailbox.parse(raw, envelope_from, self.settings.feedback_max_attachment_bytes)
        except (mailbox.BadMail, ValueError) as exc:
            raise Rejected(str(exc)) from None
        desk = Desk(events=self.db, vault=self.vault)
        for attempt in range(2):
            try:
                with self.db.session() as session:
                    done = mailbox.receive(desk, session, mail)
                    if not done["duplicate"]:
                        for filename, ctype, data in mail.files:
                            attachments.store(
                                session,
                                self.store,
                                done["ticket_id"],
                                filename,
                                ctype,
                                data,
                                vault=self.vault,
                            )
                return
            except IntegrityError:
                if attempt:
                    raise
            except InvalidInput as exc:
                raise Rejected(str(exc)) from None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    kill = stop

    def get_dependency(self, worker_ctx: Any) -> MailIntake:
        return self


class FeedbackService:
    name = "feedback"

    correlation = Correlation()
    settings = SettingsProvider()
    db = DatabaseProvider("feedback", metadata)
    store = StorageProvider()
    relay = OutboxRelayProvider("feedback", metadata)
    desks = DeskProvider()
    mail = MailIntake()

    # --- helpers ------------------------------------------------------------------------
    @property
    def desk(self) -> Desk:
        return self.desks.make(self.db)

    def _tx(self, work: Callable[[Any], T], retries: int = 1) -> T:
        """One unit of work; a unique-key race (the same delivery twice at once) is retried
        once, and the retry finds what the winner wrote."""
        for attempt in range(retries + 1):
            try:
                with self.db.session() as session:
                    return work(session)
            except IntegrityError:
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")

    # --- health and setup ---------------------------------------------------------------
    @rpc
    def health(self) -> dict[str, Any]:
        return service_health(self.name, self.db, self.settings.amqp_uri, store=self.store)

    @rpc
    def seed(self) -> None:
        """Default categories and the center's unit (idempotent; run at start)."""
        self._tx(catalog.seed_defaults)

    # --- intake -------------------------------------------------------------------------
    @rpc
    def submit(
        self, intake: dict[str, Any], actor: dict[str, Any] | None = None, brief: bool = False
    ) -> dict[str, Any]:
        """Portal, app and Open311 submissions (and operators typing a ticket in). brief: only
        what the portal shows (code, status, deadline), a smaller reply on the hot path."""
        files = intake.pop("attachments", None) or []
        max_bytes = self.settings.feedback_max_attachment_bytes
        decoded = [attachments.decode(f, max_bytes, i) for i, f in enumerate(files[:5])]
        who = Actor.of(actor) if actor else Actor("citizen", "citizen")
        item = Intake(**intake)

        vault = self.desks.vault

        def work(session: Any) -> dict[str, Any]:
            ticket = self.desk.submit(session, item, who)
            if not ticket.get("duplicate"):
                for filename, ctype, data in decoded:
                    attachments.store(
                        session, self.store, ticket["id"], filename, ctype, data, vault=vault
                    )
            return ticket

        ticket = self._tx(work)
        if brief:
            return {k: ticket[k] for k in BRIEF_FIELDS}
        return ticket

    @rpc
    def submit_batch(self, intakes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Portal and app submissions gathered by a gateway over a few milliseconds, stored in
        one transaction (group commit). One answer per item, in order: {"ticket": {id, code,
        status, deadline_at}} or {"error": {type, detail, field}} for an item refused on its
        own (the others still go in). Attachments are not taken here (use submit)."""
        items: list[Intake | LoaError] = []
        for raw in intakes:
            try:
                items.append(_portal_intake(raw))
            except LoaError as exc:
                items.append(exc)
        valid = [i for i in items if isinstance(i, Intake)]
        desk = self.desk
        stored: Iterator[dict[str, Any] | BaseException]
        try:
            stored = iter(self._tx(lambda s: desk.submit_many(s, valid)))
        except Exception:  # noqa: BLE001 - isolate the item at fault: one transaction each
            log.warning("batch of %d submissions failed; storing one by one", len(valid))
            stored = iter(self._submit_each(valid))
        out: list[dict[str, Any]] = []
        for item in items:
            result = item if isinstance(item, LoaError) else next(stored)
            if isinstance(result, BaseException):
                out.append({"error": _error_data(result)})
            else:
                out.append({"ticket": {k: result[k] for k in BRIEF_FIELDS}})
        return out

    def _submit_each(self, intakes: list[Intake]) -> list[dict[str, Any] | BaseException]:
        out: list[dict[str, Any] | BaseException] = []
        desk = self.desk
        for intake in intakes:

            def one(session: Any, intake: Intake = intake) -> dict[str, Any] | LoaError:
                return desk.submit_many(session, [intake])[0]

            try:
                out.append(self._tx(one))
            except Exception as exc:  # noqa: BLE001 - this item alone fails
                log.exception("a portal submission could not be stored")
                out.append(exc)
        return out

    @rpc
    def lookup(self, code: str) -> dict[str, Any]:
        with self.db.session() as session:
            return self.desk.public_view(session, code)

    @rpc
    def hotline_webhook(
        self, body: str, timestamp: str | None, signature: str | None
    ) -> dict[str, Any]:
        raw = body.encode()
        sig.verify_hotline(
            self.settings.feedback_hotline_secret,
            raw,
            timestamp,
            signature,
            time.time(),
            self.settings.feedback_webhook_max_age_s,
        )
        event = channels.parse_call_event(sig.parse_json(raw))
        origins = self.settings.recording_origins
        return self._tx(lambda s: channels.apply_call_event(self.desk, s, event, origins))

    @rpc
    def facebook_webhook(self, body: str, signature: str | None) -> dict[str, Any]:
        raw = body.encode()
        sig.verify_facebook(self.settings.feedback_facebook_app_secret, raw, signature)
        found = channels.facebook_messages(sig.parse_json(raw))

        def work(session: Any) -> list[dict[str, Any] | None]:
            return [
                channels.chat_message(self.desk, session, "facebook", psid, mid, text)
                for mid, psid, text in found
            ]

        results = self._tx(work)
        return {"tickets": [r["code"] for r in results if r], "messages": len(found)}

    @rpc
    def zalo_webhook(self, body: str, signature: str | None) -> dict[str, Any]:
        raw = body.encode()
        s = self.settings
        data = sig.verify_zalo(
            s.feedback_zalo_app_id,
            s.feedback_zalo_oa_secret,
            raw,
            signature,
            time.time(),
            s.feedback_webhook_max_age_s,
        )
        message = channels.zalo_message(data)
        if message is None:
            return {"tickets": [], "ignored": data.get("event_name")}
        mid, user, text = message
        result = self._tx(
            lambda session: channels.chat_message(self.desk, session, "zalo", user, mid, text)
        )
        return {"tickets": [result["code"]] if result else [], "duplicate": result is None}

    @rpc
    def call(self, call_id: str, actor: dict[str, Any]) -> dict[str, Any]:
        who = Actor.of(actor)
        self.desk._require(who, "operator", "admin")
        with self.db.session() as session:
            return channels.call_view(self.desk, session, call_id)

    @rpc
    def ticket_from_call(
        self, call_id: str, data: dict[str, Any], actor: dict[str, Any]
    ) -> dict[str, Any]:
        who = Actor.of(actor)
        return self._tx(
            lambda s: channels.ticket_from_call(self.desk, s, call_id, actor=who, **data)
        )

    # --- handling -----------------------------------------------------------------------
    @rpc
    def get_ticket(self, ticket: str, actor: dict[str, Any]) -> dict[str, Any]:
        with self.db.session() as session:
            view = self.desk.staff_view(session, ticket, Actor.of(actor))
            view["attachments"] = attachments.list_for(session, view["id"])
            view["notifications"] = [
                {k: n[k] for k in ("channel", "status", "attempts", "last_error")}
                for n in notify.list_for(session, view["id"])
            ]
            return view

    @rpc
    def attachment(self, ticket: str, att_id: str, actor: dict[str, Any]) -> dict[str, Any]:
        """An attachment's file, decrypted, for whoever may read its ticket (base64)."""
        with self.db.session() as session:
            view = self.desk.staff_view(session, ticket, Actor.of(actor))
            row = attachments.get(session, att_id)
            if row["ticket_id"] != view["id"]:
                raise NotFound(f"Không có tệp {att_id} / no attachment {att_id}", "attachment_id")
            filename, ctype, data = attachments.read(session, self.store, self.desks.vault, att_id)
        data_b64 = base64.b64encode(data).decode()
        return {"filename": filename, "content_type": ctype, "data": data_b64}

    @rpc
    def list_tickets(self, filters: dict[str, Any], actor: dict[str, Any]) -> list[dict[str, Any]]:
        with self.db.session() as session:
            return self.desk.search(session, Actor.of(actor), **filters)

    @rpc
    def act(self, ticket: str, action: str, data: dict[str, Any], actor: dict[str, Any]) -> Any:
        """assign, forward, start, ask, resume, answer, publish, close, merge, unmerge."""
        who = Actor.of(actor)
        desk = self.desk
        handlers: dict[str, Callable[[Any, str], Any]] = {
            "assign": lambda s, t: desk.assign(s, t, data["unit_id"], who, data.get("note", "")),
            "forward": lambda s, t: desk.forward(
                s, t, data["unit_id"], data.get("reason", ""), who
            ),
            "start": lambda s, t: desk.start(s, t, who),
            "ask": lambda s, t: desk.ask_citizen(s, t, data.get("question", ""), who),
            "resume": lambda s, t: desk.resume(s, t, who),
            "answer": lambda s, t: desk.answer(s, t, data.get("answer", ""), who),
            "publish": lambda s, t: desk.publish_answer(
                s, t, who, data.get("question"), data.get("answer")
            ),
            "close": lambda s, t: desk.close(s, t, who, data.get("note", "")),
            "merge": lambda s, t: desk.merge(s, t, data["into"], who),
            "unmerge": lambda s, t: desk.unmerge(s, t, who),
            "duplicates": lambda s, t: desk.duplicates(s, t, who),
        }
        if action not in handlers:
            raise InvalidInput(
                f"unknown action '{action}' (known: {', '.join(handlers)})", "action"
            )

        def work(session: Any) -> Any:
            ticket_id = desk._find(session, ticket)["id"]
            return handlers[action](session, ticket_id)

        try:
            return desk.shown_to(who, self._tx(work, retries=0))
        except KeyError as exc:
            raise InvalidInput(
                f"Thiếu {exc.args[0]} / {exc.args[0]} is required", str(exc.args[0])
            ) from None

    @rpc
    def reopen(self, code: str, reason: str) -> dict[str, Any]:
        with self.db.session() as session:
            ticket = self.desk.reopen(session, code, reason)
        return {"code": ticket["code"], "status": ticket["status"]}

    @rpc
    def rate(self, code: str, score: int, comment: str = "") -> dict[str, Any]:
        with self.db.session() as session:
            ticket = self.desk.rate(session, code, score, comment)
        return {"code": ticket["code"], "rating": ticket["rating"]}

    # --- units, categories, rules --------------------------------------------------------
    @rpc
    def categories(self) -> list[dict[str, Any]]:
        with self.db.session() as session:
            return catalog.list_categories(session)

    @rpc
    def put_category(
        self, code: str, data: dict[str, Any], actor: dict[str, Any]
    ) -> dict[str, Any]:
        self.desk._require(Actor.of(actor), "admin")
        return self._tx(lambda s: catalog.put_category(s, code, **data), retries=0)

    @rpc
    def units(self) -> list[dict[str, Any]]:
        with self.db.session() as session:
            return catalog.list_units(session)

    @rpc
    def put_unit(self, unit_id: str, data: dict[str, Any], actor: dict[str, Any]) -> dict[str, Any]:
        self.desk._require(Actor.of(actor), "admin")
        return self._tx(lambda s: catalog.put_unit(s, unit_id, **data), retries=0)

    @rpc
    def dissolve_unit(
        self, unit_id: str, data: dict[str, Any], actor: dict[str, Any]
    ) -> dict[str, Any]:
        from datetime import date

        valid_to = date.fromisoformat(str(data["valid_to"]))
        moved = self._tx(
            lambda s: self.desk.dissolve_unit(
                s, unit_id, valid_to, data.get("successor_id"), Actor.of(actor)
            ),
            retries=0,
        )
        return {"unit_id": unit_id, "moved_tickets": moved}

    @rpc
    def rules(self) -> list[dict[str, Any]]:
        with self.db.session() as session:
            return catalog.list_rules(session)

    @rpc
    def add_rule(self, data: dict[str, Any], actor: dict[str, Any]) -> dict[str, Any]:
        self.desk._require(Actor.of(actor), "admin")
        rule_id = self._tx(lambda s: catalog.add_rule(s, **data), retries=0)
        return {"id": rule_id}

    # --- reports ------------------------------------------------------------------------
    @rpc
    def report(
        self, month: str, unit_id: str | None, actor: dict[str, Any]
    ) -> list[dict[str, Any]]:
        who = Actor.of(actor)
        if who.role == "officer":
            unit_id = who.unit_id
        _check_month(month)
        with self.db.session() as session:
            return reports.monthly(session, month, unit_id)

    @rpc
    def report_csv(self, month: str, unit_id: str | None, actor: dict[str, Any]) -> str:
        return reports.to_csv(self.report(month, unit_id, actor))

    # --- Open311 GeoReport v2 -----------------------------------------------------------
    @rpc
    def open311_services(self) -> list[dict[str, Any]]:
        with self.db.session() as session:
            return open311.services(session)

    @rpc
    def open311_requests(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.db.session() as session:
            return open311.requests(session, **filters)

    @rpc
    def open311_token(self, token_id: str) -> dict[str, Any] | None:
        with self.db.session() as session:
            return open311.token(session, token_id)

    # --- the clock ----------------------------------------------------------------------
    @rpc
    def tick(self) -> dict[str, Any]:
        """Deadlines (reminders, overdue events) and replies due to citizens."""
        result: dict[str, Any] = self._tx(self.desk.tick, retries=0)
        result["replies"] = notify.deliver_due(self.db, self.desk, self.desks.senders())
        settings = self.settings
        result["recordings"] = recordings.fetch_due(
            self.db,
            self.store,
            lambda url, limit: open_recording(
                url, limit, settings.recording_origins, ca_file=settings.tls_ca_file
            ),
            settings.feedback_recording_max_bytes,
            vault=self.desks.vault,
        )
        return result

    # --- citizens' data requests (Law 91/2025, Decree 356/2025) ------------------------------
    @rpc
    def data_request(self, data: dict[str, Any]) -> dict[str, Any]:
        """A citizen asks to see or delete their data: the secret codes of their tickets + the
        phone or e-mail given on them; scope "phone" asks for every ticket of that phone."""
        codes = [str(data.get("code", ""))] + [str(c) for c in data.get("codes") or []]
        return self._tx(
            lambda s: privacy.file_request(
                self.desk,
                s,
                str(data.get("kind", "")),
                codes,
                data.get("phone"),
                data.get("email"),
                scope=str(data.get("scope") or "tickets"),
            ),
            retries=0,
        )

    @rpc
    def data_requests(self, open_only: bool, actor: dict[str, Any]) -> list[dict[str, Any]]:
        with self.db.session() as session:
            return privacy.list_requests(self.desk, session, Actor.of(actor), open_only)

    @rpc
    def handle_data_request(
        self, request_id: str, action: str, data: dict[str, Any], actor: dict[str, Any]
    ) -> dict[str, Any]:
        """acknowledge, verify (record the identity check a wider request waits for), export
        (access requests), erase (deletion requests), reject."""
        who = Actor.of(actor)
        desk = self.desk
        if action == "verify":
            note = str(data.get("note", ""))
            return self._tx(
                lambda s: privacy.verify_identity(desk, s, request_id, who, note), retries=0
            )
        if action == "acknowledge":
            return self._tx(
                lambda s: privacy.acknowledge(desk, s, request_id, who, str(data.get("note", ""))),
                retries=0,
            )
        if action == "export":
            return self._tx(lambda s: privacy.export(desk, s, request_id, who), retries=0)
        if action == "reject":
            return self._tx(
                lambda s: privacy.reject(desk, s, request_id, who, str(data.get("reason", ""))),
                retries=0,
            )
        if action == "erase":
            result = self._tx(lambda s: privacy.erase(desk, s, request_id, who), retries=0)
            for key in result.pop("object_keys"):
                try:
                    self.store.delete(key)
                except Exception:  # noqa: BLE001 - rows are gone; an orphan object is logged
                    log.warning("erased attachment object %s could not be deleted", key)
            return result
        raise InvalidInput(
            f"unknown action '{action}' (known: acknowledge, verify, export, erase, reject)",
            "action",
        )

    @timer(interval=5)
    def periodic(self) -> None:
        self.tick()

    # --- search -------------------------------------------------------------------------
    @rpc
    def export_search_documents(self, after: str | None = None, limit: int = 500) -> dict[str, Any]:
        """Read-only, for a rebuild of the search index: published, anonymized questions and
        answers (never personal data), in ticket id order, as feedback.answer_published."""
        with self.db.session() as session:
            return export.search_documents(session, after, limit)


BRIEF_FIELDS = ("id", "code", "status", "deadline_at")
PORTAL_FIELDS = frozenset(
    {"channel", "category", "description", "title", "contact", "is_public", "external_ref"}
)


def _portal_intake(raw: Any) -> Intake:
    """A batch item as an Intake: portal or app, only the fields the portal form has."""
    if not isinstance(raw, dict) or set(raw) - PORTAL_FIELDS:
        raise InvalidInput("a batch item has unknown fields", "body")
    if raw.get("channel", "portal") not in ("portal", "app"):
        raise InvalidInput("only portal and app submissions come in batches", "channel")
    return Intake(**{"channel": "portal", **raw})


def _error_data(exc: BaseException) -> dict[str, Any]:
    """An item's error as data the gateway turns back into the same LoaError."""
    if isinstance(exc, LoaError):
        return {"type": type(exc).__name__, "detail": exc.detail, "field": exc.field}
    return {"type": "LoaError", "detail": "the submission could not be stored", "field": None}


def _check_month(month: str) -> None:
    parts = month.split("-")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or not 1 <= int(parts[1]) <= 12:
        raise InvalidInput("Tháng dạng YYYY-MM / month must look like 2026-03", "month")
