"""Who is on the other end: the client's address and scheme behind trusted proxies, and per-client
rate limits that a crowd of addresses cannot wipe.

Behind nginx or the ingress every request comes from the proxy's address, so the real client is
read from `X-Forwarded-For`, but only when the connection comes from a network listed in
LOA_TRUSTED_PROXIES: anyone else could write whatever address they like there. The list is read
right to left (each proxy appends the address it saw) and the first hop that is not a trusted
proxy is the client; what lies further left was written by the client and is ignored.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.gateway.http import RequestContext

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_BUCKETS = 100_000
"""Clients remembered per limiter; past it the longest-idle one is forgotten first."""
IPV6_PREFIX = 64
"""An IPv6 subscriber gets a whole /64 and may rotate inside it: it is one client."""


@lru_cache(maxsize=16)
def trusted_networks(setting: str) -> tuple[Network, ...]:
    """The networks of LOA_TRUSTED_PROXIES (validated by shared/config.py)."""
    return tuple(ipaddress.ip_network(p, strict=False) for p in setting.split(",") if p.strip())


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.partition(":")[0]
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(found, "ipv4_mapped", None)
    return mapped or found


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in net for net in networks)


def _from_proxy(ctx: RequestContext) -> bool:
    """The connection itself comes from a trusted proxy."""
    networks = trusted_networks(ctx.settings.trusted_proxies)
    peer = _address(ctx.request.remote_addr or "")
    return bool(networks) and peer is not None and _trusted(peer, networks)


def client_address(ctx: RequestContext) -> str:
    """The client's address: the socket's, or through trusted proxies the rightmost untrusted
    hop of X-Forwarded-For. A hop that is not an address ends the walk at the proxy before it."""
    peer_text = ctx.request.remote_addr or "unknown"
    networks = trusted_networks(ctx.settings.trusted_proxies)
    peer = _address(peer_text)
    if not networks or peer is None or not _trusted(peer, networks):
        return str(peer) if peer is not None else peer_text
    hops = [
        hop
        for header in ctx.request.headers.getlist("X-Forwarded-For")
        for hop in header.split(",")
        if hop.strip()
    ]
    client: Address = peer
    for hop in reversed(hops):
        found = _address(hop)
        if found is None:
            break
        client = found
        if not _trusted(found, networks):
            break
    return str(client)


def is_https(ctx: RequestContext) -> bool:
    """The client reached loa over https: the public URL says so, or a trusted proxy does."""
    if ctx.settings.public_url.startswith("https://"):
        return True
    if not _from_proxy(ctx):
        return False
    proto = ctx.request.headers.get("X-Forwarded-Proto", "")
    return proto.split(",")[-1].strip().lower() == "https"


def bucket_key(address: str) -> str:
    """The rate-limit key of an address: itself for IPv4, its /64 for IPv6."""
    found = _address(address)
    if isinstance(found, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{found}/{IPV6_PREFIX}", strict=False))
    return str(found) if found is not None else address


class RateLimiter:
    """Token bucket per client, in this gateway process (each replica limits on its own).

    At most `max_buckets` clients are remembered; past that the one idle the longest is
    forgotten (a full bucket is what a forgotten client would get anyway once refilled), so
    many addresses cannot reset everybody's limit at once."""

    def __init__(self, max_buckets: int = MAX_BUCKETS) -> None:
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._rates: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _parse(self, rate: str) -> tuple[float, float]:
        """(capacity, refill per second) of "count/seconds", parsed once per distinct rate."""
        parsed = self._rates.get(rate)
        if parsed is None:
            count_s, _, per_s = rate.partition("/")
            capacity = float(count_s)
            parsed = self._rates[rate] = (capacity, capacity / float(per_s or 60))
        return parsed

    def allow(self, client: str, rate: str) -> float:
        """0 if allowed, else the seconds to wait."""
        capacity, refill = self._parse(rate)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(client, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * refill)
            allowed = tokens >= 1
            self._buckets[client] = (tokens - 1 if allowed else tokens, now)  # newest at the end
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
            return 0.0 if allowed else (1 - tokens) / refill

    def wait(self, client: str, rate: str) -> float:
        """The seconds `client` must wait before `allow` would pass (0: it would), using
        nothing: for limits that count failures only (allow is called on each failure)."""
        capacity, refill = self._parse(rate)
        with self._lock:
            found = self._buckets.get(client)
        if found is None:
            return 0.0
        tokens = min(capacity, found[0] + (time.monotonic() - found[1]) * refill)
        return 0.0 if tokens >= 1 else (1 - tokens) / refill

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()

    def __len__(self) -> int:
        return len(self._buckets)


limiter = RateLimiter()
"""The gateway's one limiter; keys carry the purpose (e.g. "lookup:<client>")."""


def client_key(ctx: RequestContext) -> str:
    """The key of the calling client in `limiter` (an IPv6 /64 counts as one client)."""
    return bucket_key(client_address(ctx))
