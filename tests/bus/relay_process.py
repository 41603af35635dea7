"""A relay of the demo service's outbox in a process of its own, so a test can kill it -9."""

from __future__ import annotations

import sys

from shared.db import Database
from shared.events.publisher import ConfirmingPublisher
from shared.events.relay import OutboxRelay
from tests.bus.demo import SUBSCRIPTION, metadata


def main() -> None:
    db_url, amqp_uri, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    db = Database("demo", db_url, metadata, pool_size=2)
    subscription = SUBSCRIPTION.with_delays([100, 200, 400])
    publisher = ConfirmingPublisher(amqp_uri, subscriptions=[subscription])
    relay = OutboxRelay(db, metadata, publisher, batch=batch, interval=0.05)
    print("relay ready", flush=True)
    relay.run()


if __name__ == "__main__":
    main()
