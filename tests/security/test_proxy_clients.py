"""Issue 13, finding 4: behind a proxy every client was one address. Through a real nginx in front
of a real gateway, each citizen keeps their own rate-limit bucket and login throttle; a forged
X-Forwarded-For is believed from the trusted proxy only; IPv6 clients are one per /64; a crowd of
addresses cannot wipe everybody's limits."""

from __future__ import annotations

from typing import Any

from services.gateway.auth import accounts
from services.gateway.clients import RateLimiter
from tests.security import _accounts
from tests.security._accounts import ADMIN_PASSWORD, PROXY_ADDRESS, send

start_gateway = _accounts.start_gateway  # fixtures
nginx = _accounts.nginx

CITIZEN_A = "127.0.0.3"
CITIZEN_B = "127.0.0.4"
PORTAL = "/api/feedback/tickets"
RATE = "3/60"


def _submit(port: int, source: str, headers: dict[str, str] | None = None) -> int:
    """An empty form: 422 when the limit lets it through (no ticket is made), 429 when not."""
    return send(port, "POST", PORTAL, source=source, body={}, headers=headers).status


def _gateway_behind_nginx(start_gateway: Any, nginx: Any) -> tuple[Any, int]:
    gw = start_gateway(trusted_proxies=f"{PROXY_ADDRESS}/32", feedback_portal_rate=RATE)
    return gw, nginx(gw.port)


def test_two_citizens_behind_nginx_have_their_own_portal_bucket(start_gateway, nginx) -> None:
    gw, proxy = _gateway_behind_nginx(start_gateway, nginx)
    assert [_submit(proxy, CITIZEN_A) for _ in range(4)] == [422, 422, 422, 429]
    # Citizen B, behind the same nginx, still has a full bucket.
    assert _submit(proxy, CITIZEN_B) == 422
    # A forged X-Forwarded-For through nginx: nginx appends the real address, which is used.
    assert _submit(proxy, CITIZEN_A, {"X-Forwarded-For": "198.51.100.7"}) == 429
    # The audit trail names the citizen, not the proxy.
    send(proxy, "POST", "/api/auth/login", source=CITIZEN_B,
         body={"username": "khong.co", "password": "sai-mat-khau"})  # fmt: skip
    with gw.db.session() as s:
        failed = accounts.audit_entries(s, action="auth.login_failed")
    assert [e["ip"] for e in failed] == [CITIZEN_B]


def test_forged_forwarded_for_sent_directly_is_ignored(start_gateway, nginx) -> None:
    gw, _ = _gateway_behind_nginx(start_gateway, nginx)
    # Straight to the gateway from an address that is not a trusted proxy: a new X-Forwarded-For
    # each time does not buy a new bucket.
    forged = [{"X-Forwarded-For": f"203.0.113.{i}"} for i in range(4)]
    assert [_submit(gw.port, CITIZEN_A, h) for h in forged] == [422, 422, 422, 429]
    send(gw.port, "POST", "/api/auth/login", source=CITIZEN_A,
         headers={"X-Forwarded-For": "203.0.113.99"},
         body={"username": "khong.co", "password": "sai-mat-khau"})  # fmt: skip
    with gw.db.session() as s:
        failed = accounts.audit_entries(s, action="auth.login_failed")
    assert [e["ip"] for e in failed] == [CITIZEN_A]


def test_bad_logins_of_one_client_do_not_lock_out_another(start_gateway, nginx) -> None:
    gw, proxy = _gateway_behind_nginx(start_gateway, nginx)
    login = "/api/auth/login"
    for i in range(accounts.IP_FAILURES):
        wrong = {"username": f"doan.{i}", "password": "doan-mo-mat-khau"}
        assert send(proxy, "POST", login, source=CITIZEN_A, body=wrong).status == 401
    right = {"username": "admin", "password": ADMIN_PASSWORD}
    assert send(proxy, "POST", login, source=CITIZEN_A, body=right).status == 429
    # Another client behind the same nginx signs in.
    signed_in = send(proxy, "POST", login, source=CITIZEN_B, body=right)
    assert signed_in.status == 200, signed_in.body


def test_ipv6_clients_are_one_per_64_and_behind_chained_proxies(start_gateway) -> None:
    """The gateway seen from the trusted proxy's address: a client rotating addresses inside its
    /64 keeps one bucket; another /64 has its own; trusted hops are skipped right to left."""
    gw = start_gateway(
        trusted_proxies=f"{PROXY_ADDRESS}/32,10.0.0.0/8", feedback_portal_rate=RATE
    )
    rotating = [{"X-Forwarded-For": f"2001:db8:1:2::{i:x}"} for i in range(1, 5)]
    assert [_submit(gw.port, PROXY_ADDRESS, h) for h in rotating] == [422, 422, 422, 429]
    assert _submit(gw.port, PROXY_ADDRESS, {"X-Forwarded-For": "2001:db8:1:3::1"}) == 422
    # client, then an inner proxy of the trusted network: the client is the rightmost untrusted.
    chained = {"X-Forwarded-For": "192.0.2.50, 2001:db8:9:9::1, 10.1.2.3"}
    assert [_submit(gw.port, PROXY_ADDRESS, chained) for _ in range(4)] == [422, 422, 422, 429]
    assert _submit(gw.port, PROXY_ADDRESS, {"X-Forwarded-For": "192.0.2.50"}) == 422


def test_buckets_are_bounded_and_evicted_oldest_first() -> None:
    """A crowd of new addresses must not wipe the bucket of a client that is being limited."""
    limiter = RateLimiter()
    limit = "3/3600"
    assert [limiter.allow("abuser", limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.allow("abuser", limit) > 0
    for i in range(250_000):
        limiter.allow(f"crowd-{i}", limit)
        if i % 10_000 == 0:
            assert limiter.allow("abuser", limit) > 0, f"reset after {i} new clients"
    assert len(limiter._buckets) <= 100_000
    assert "crowd-0" not in limiter._buckets  # the oldest went first
    assert f"crowd-{249_999}" in limiter._buckets


def test_failed_logins_from_rotating_ipv6_addresses_are_throttled_per_64(start_gateway) -> None:
    gw = start_gateway(trusted_proxies=f"{PROXY_ADDRESS}/32")
    login = "/api/auth/login"

    def attempt(client: str, body: dict[str, str]) -> int:
        hop = {"X-Forwarded-For": client}
        return send(gw.port, "POST", login, source=PROXY_ADDRESS, body=body, headers=hop).status

    for i in range(accounts.IP_FAILURES):
        wrong = {"username": f"doan.{i}", "password": "doan-mo-mat-khau"}
        assert attempt(f"2001:db8:7:7::{i + 1:x}", wrong) == 401
    right = {"username": "admin", "password": ADMIN_PASSWORD}
    assert attempt("2001:db8:7:7:ffff::1", right) == 429  # a new address of the same /64
    assert attempt("2001:db8:7:8::1", right) == 200  # another subscriber


def test_trusted_proxies_must_be_networks() -> None:
    import pytest

    from shared.config import Settings

    with pytest.raises(ValueError, match="not a network"):
        Settings(trusted_proxies="10.0.0.0/8, nginx.local")
    assert Settings(trusted_proxies=" 10.0.0.0/8 , ::1 ").trusted_proxies == "10.0.0.0/8,::1"
