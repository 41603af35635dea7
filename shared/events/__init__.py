"""Events between services: catalog, envelope, outbox, relay, idempotent inbox, dead letters."""
