"""The `loa` command: start, serve, migrate, relay, events dlq, search rebuild, keys, config."""

from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # before anything opens a socket: nameko runs on green threads

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

from shared.config import SERVICES, Settings, settings_or_exit  # noqa: E402


def _cmd_start(args: argparse.Namespace) -> None:
    from loa.runner import embedded_settings, serve

    settings = embedded_settings(settings_or_exit())
    serve(settings, list(SERVICES))


def _cmd_serve(args: argparse.Namespace) -> None:
    from loa.runner import embedded_settings, serve

    settings = settings_or_exit()
    if settings.storage_backend == "local" and settings.search_backend == "tantivy":
        settings = embedded_settings(settings)  # one machine: it may keep its own secrets
    serve(settings, args.services or list(SERVICES))


def _cmd_migrate(args: argparse.Namespace) -> None:
    from loa.runner import migrate
    from shared.logging import configure_logging

    settings = settings_or_exit()
    configure_logging(settings.log_level, "text")
    migrate(settings, args.services or list(SERVICES))
    print("migrated:", ", ".join(args.services or SERVICES))


def _cmd_makemigration(args: argparse.Namespace) -> None:
    """For developers: a new migration of one service, from its models (autogenerate)."""
    import tempfile

    from alembic import command

    from shared.migrations import alembic_config, upgrade

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/scratch.sqlite3"
        upgrade(args.service, url)
        command.revision(alembic_config(args.service, url), message=args.message, autogenerate=True)


def _cmd_relay(args: argparse.Namespace) -> None:
    """A relay on its own (for operations and tests): publishes one service's outbox."""
    from loa.runner import service_class
    from shared.db import make_cooperative
    from shared.events.publisher import ConfirmingPublisher
    from shared.events.relay import OutboxRelay
    from shared.logging import configure_logging
    from shared.runtime.resources import database_for

    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    make_cooperative()
    service_class(args.service)  # validates the name
    metadata = __import__(f"services.{args.service}.models", fromlist=["metadata"]).metadata
    db = database_for(settings, args.service, metadata)
    relay = OutboxRelay(
        db,
        metadata,
        ConfirmingPublisher(settings.amqp_uri, queue_type=settings.queue_type),
        batch=settings.relay_batch,
        interval=settings.relay_interval_ms / 1000,
    )
    try:
        relay.run()
    except KeyboardInterrupt:
        relay.stop()


def _cmd_dlq(args: argparse.Namespace) -> None:
    from kombu import Connection

    from shared.events.deadletter import list_parked, replay_parked

    settings = settings_or_exit()
    with Connection(settings.amqp_uri, connect_timeout=5) as conn:
        if args.dlq_action == "list":
            parked = list_parked(conn, limit=args.limit, queue_type=settings.queue_type)
            if args.json:
                print(json.dumps([p.as_dict() for p in parked], ensure_ascii=False, indent=2))
                return
            if not parked:
                print("the dead-letter queue is empty")
            for p in parked:
                print(
                    f"{p.message_id}  {p.event_type}  from {p.queue}  attempts={p.attempts}  "
                    f"parked {p.parked_at}\n    {p.error}"
                )
        else:
            ids = None if args.all else args.ids
            if not args.all and not ids:
                raise SystemExit("loa: give message ids to replay, or --all")
            done = replay_parked(conn, ids, queue_type=settings.queue_type)
            print(f"replayed {len(done)} message(s)")
            for p in done:
                print(f"  {p.message_id} -> {p.queue}")


def _cmd_search(args: argparse.Namespace) -> None:
    """Rebuild the search index from the owning services (the running search service does it:
    it owns the index writer and keeps live events flowing into both indexes meanwhile)."""
    from nameko.standalone.rpc import ClusterRpcProxy

    from shared.runtime.config import nameko_config

    settings = settings_or_exit()
    with ClusterRpcProxy(nameko_config(settings), timeout=args.timeout) as cluster:
        done = cluster.search.rebuild(from_owners=not args.projection_only)
    print(json.dumps(done, ensure_ascii=False))


def _cmd_keys(args: argparse.Namespace) -> None:
    """The keys of citizens' personal data: make new ones, pin the look-up key, rotate."""
    if args.keys_action == "generate":
        import secrets

        from cryptography.fernet import Fernet

        print(f"LOA_FEEDBACK_PII_KEYS={Fernet.generate_key().decode()}")
        print(f"LOA_FEEDBACK_LOOKUP_KEY={secrets.token_hex(32)}")
        return
    from services.feedback.domain.pii import Vault, derived_lookup_key, key_ring
    from shared.errors import LoaError

    settings = settings_or_exit()
    try:
        vault = Vault.from_settings(settings)
    except LoaError as exc:
        raise SystemExit(f"loa: configuration error: {exc.detail}") from None
    if args.keys_action == "lookup":
        ring = key_ring(settings.feedback_pii_keys) or key_ring(settings.feedback_pii_key)
        pinned = settings.feedback_lookup_key or derived_lookup_key(ring[-1])
        print(f"LOA_FEEDBACK_LOOKUP_KEY={pinned}")
        return
    from services.feedback.domain.keys import rotate
    from services.feedback.models import metadata
    from shared.db import Database
    from shared.logging import configure_logging
    from shared.storage import make_object_store

    configure_logging(settings.log_level, "text")
    db = Database("feedback", settings.database_url("feedback"), metadata)
    try:
        done = rotate(db, make_object_store(settings), vault, batch=args.batch, progress=print)
    finally:
        db.dispose()
    print(
        f"rewritten {done['values'] + done['objects']}: {done['values']} values and "
        f"{done['objects']} objects now under the newest key ({done['rows']} rows read)"
    )


def settings_classes() -> list[type]:
    """Every settings class: the shared one, and those a single service keeps for itself."""
    from services.media.config import MediaSettings
    from services.publishing.config import ChannelSettings

    return [Settings, MediaSettings, ChannelSettings]


def variables_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for cls in settings_classes():
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            default = field.default if field.default is not None else ""
            rows.append(f"| `{prefix}{name.upper()}` | `{default}` | {field.description or ''} |")
    return "\n".join(rows)


def _cmd_config(args: argparse.Namespace) -> None:
    """Print the table of variables, or write it into README.md between its markers."""
    table = variables_table()
    if not args.update_readme:
        print(table)
        return
    from pathlib import Path

    readme = Path(__file__).resolve().parent.parent / "README.md"
    text = readme.read_text()
    start, end = "<!-- variables -->", "<!-- /variables -->"
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    readme.write_text(f"{head}{start}\n{table}\n{end}{tail}")
    print(f"updated {readme}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="loa", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("start", help="run every service in one process on the embedded defaults")
    p = sub.add_parser("serve", help="run some services in this process")
    p.add_argument("services", nargs="*", default=[])
    p = sub.add_parser("migrate", help="apply every service's database migrations")
    p.add_argument("services", nargs="*", default=[])
    p = sub.add_parser("makemigration", help="(developers) autogenerate a service migration")
    p.add_argument("service")
    p.add_argument("-m", "--message", required=True)
    p = sub.add_parser("relay", help="run one service's outbox relay on its own")
    p.add_argument("service", choices=list(SERVICES))
    ev = sub.add_parser("events", help="the event bus")
    evs = ev.add_subparsers(dest="events_command", required=True)
    dlq = evs.add_parser("dlq", help="messages parked in the dead-letter queue")
    dlqs = dlq.add_subparsers(dest="dlq_action", required=True)
    lst = dlqs.add_parser("list", help="show parked messages and why")
    lst.add_argument("--limit", type=int, default=100)
    lst.add_argument("--json", action="store_true")
    rp = dlqs.add_parser("replay", help="send parked messages back to their queue")
    rp.add_argument("ids", nargs="*")
    rp.add_argument("--all", action="store_true")
    se = sub.add_parser("search", help="the search index")
    ses = se.add_subparsers(dest="search_command", required=True)
    rb = ses.add_parser("rebuild", help="rebuild it from media, publishing and feedback")
    rb.add_argument("--timeout", type=float, default=3600)
    rb.add_argument(
        "--projection-only", action="store_true", help="refill from search's own projection"
    )
    keys = sub.add_parser("keys", help="the keys of citizens' personal data (feedback)")
    keyss = keys.add_subparsers(dest="keys_action", required=True)
    keyss.add_parser("generate", help="print a new PII key and a new look-up key")
    keyss.add_parser("lookup", help="print the look-up key in use (to pin it before a rotation)")
    rot = keyss.add_parser(
        "rotate", help="re-encrypt every row and object under the newest key (while running)"
    )
    rot.add_argument("--batch", type=int, default=200, help="rows per transaction")
    cfg = sub.add_parser("config", help="print the table of environment variables")
    cfg.add_argument("--update-readme", action="store_true", help="write it into README.md")
    args = parser.parse_args(argv)
    handlers = {
        "start": _cmd_start,
        "serve": _cmd_serve,
        "migrate": _cmd_migrate,
        "relay": _cmd_relay,
        "makemigration": _cmd_makemigration,
        "events": _cmd_dlq,
        "config": _cmd_config,
        "search": _cmd_search,
        "keys": _cmd_keys,
    }
    handlers[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
