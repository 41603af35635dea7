"""Who may call which route: one table, checked on the server before any handler runs.

The services check again what only they can know (publishing: who may approve; feedback: an
officer acts only on their unit's tickets), but no request reaches them from a role that has no
business there. A route that is neither in ACCESS nor declares `roles=` on its @route needs a
signed-in account of any role (deny by default); tests/gateway/test_auth_roles.py fails until
every route is classified on purpose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.gateway.http import RouteSpec

ADMIN = "admin"
EDITOR = "editor"  # media editor
PUBLISHER = "publisher"
OPERATOR = "operator"  # hotline 1022
OFFICER = "officer"  # agency officer, scoped to one unit
VIEWER = "viewer"  # anyone inside: reads and searches
ROLES: tuple[str, ...] = (ADMIN, EDITOR, PUBLISHER, OPERATOR, OFFICER, VIEWER)

PUBLIC: frozenset[str] = frozenset()
"""No account needed (citizens, platforms' webhooks, probes, feeds, signed links)."""
STAFF: frozenset[str] = frozenset(ROLES)
"""Any signed-in account."""

MEDIA_WRITE = frozenset({ADMIN, EDITOR})
CONTENT_WRITE = frozenset({ADMIN, EDITOR, PUBLISHER})
CONTENT_RELEASE = frozenset({ADMIN, PUBLISHER})
HOTLINE = frozenset({ADMIN, OPERATOR})
DESK_READ = frozenset({ADMIN, OPERATOR, OFFICER, VIEWER})
"""Roles the feedback service knows; contact details are masked for officer and viewer."""
DESK_ACT = frozenset({ADMIN, OPERATOR, OFFICER})
ADMIN_ONLY = frozenset({ADMIN})

ACCESS: dict[str, frozenset[str]] = {
    # --- system: probes and documents for load balancers, Prometheus, integrators
    "GET /": PUBLIC,
    "GET /api/status": PUBLIC,
    "GET /livez": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /metrics": PUBLIC,  # the route wants LOA_METRICS_TOKEN or an admin (routes/system.py)
    "GET /openapi.json": PUBLIC,
    "POST /api/bus/probes": STAFF,  # each probe is a write and an event: not for the world
    "GET /api/bus/probes/<event_id>": STAFF,
    "GET /files/<path:key>": PUBLIC,  # the link's HMAC signature is the credential
    # --- accounts
    "POST /api/auth/login": PUBLIC,
    "POST /api/auth/logout": STAFF,
    "GET /api/auth/me": STAFF,
    "POST /api/auth/password": STAFF,
    "GET /api/auth/tokens": STAFF,
    "POST /api/auth/tokens": STAFF,
    "DELETE /api/auth/tokens/<token_id>": STAFF,
    "GET /api/admin/users": ADMIN_ONLY,
    "POST /api/admin/users": ADMIN_ONLY,
    "GET /api/admin/users/<user_id>": ADMIN_ONLY,
    "PATCH /api/admin/users/<user_id>": ADMIN_ONLY,
    "DELETE /api/admin/users/<user_id>": ADMIN_ONLY,
    "POST /api/admin/users/<user_id>/password": ADMIN_ONLY,
    "POST /api/admin/users/<user_id>/unlock": ADMIN_ONLY,
    "POST /api/admin/users/<user_id>/revoke": ADMIN_ONLY,
    "GET /api/admin/tokens": ADMIN_ONLY,
    "GET /api/admin/audit": ADMIN_ONLY,
    # --- media: editors upload and manage; everyone inside may watch
    "OPTIONS /api/media/uploads": PUBLIC,  # tus discovery: limits only
    "OPTIONS /api/media/uploads/<upload_id>": PUBLIC,
    "POST /api/media/uploads": MEDIA_WRITE,
    "HEAD /api/media/uploads/<upload_id>": MEDIA_WRITE,
    "PATCH /api/media/uploads/<upload_id>": MEDIA_WRITE,
    "DELETE /api/media/uploads/<upload_id>": MEDIA_WRITE,
    "GET /api/media/uploads/<upload_id>/status": MEDIA_WRITE,
    "POST /api/media/assets": MEDIA_WRITE,
    "GET /api/media/assets": STAFF,
    "GET /api/media/assets/<asset_id>": STAFF,
    "POST /api/media/assets/<asset_id>/retry": MEDIA_WRITE,
    "POST /api/media/retry-failed": MEDIA_WRITE,
    "POST /api/media/assets/<asset_id>/cancel": MEDIA_WRITE,
    "DELETE /api/media/assets/<asset_id>": MEDIA_WRITE,
    "GET /api/media/assets/<asset_id>/files/<profile>/<path:path>": STAFF,
    # --- publishing: editors write, publishers approve and schedule (publishing re-checks)
    "POST /api/publishing/items": CONTENT_WRITE,
    "GET /api/publishing/items": STAFF,
    "GET /api/publishing/items/<item_id>": STAFF,
    "PATCH /api/publishing/items/<item_id>": CONTENT_WRITE,
    "POST /api/publishing/items/<item_id>/transitions": CONTENT_WRITE,
    "POST /api/publishing/items/<item_id>/corrections": CONTENT_WRITE,
    "POST /api/publishing/items/<item_id>/deliveries": CONTENT_RELEASE,
    "GET /api/publishing/items/<item_id>/renditions/<channel>": STAFF,
    "GET /api/publishing/deliveries": STAFF,
    "GET /api/publishing/deliveries/<delivery_id>": STAFF,
    "DELETE /api/publishing/deliveries/<delivery_id>": CONTENT_RELEASE,
    "POST /api/publishing/series": CONTENT_RELEASE,
    "GET /api/publishing/series/<series_id>": STAFF,
    "GET /api/publishing/channels": STAFF,
    "POST /api/publishing/channels/<channel>/resume": CONTENT_RELEASE,
    "GET /api/publishing/feeds/rss.xml": PUBLIC,
    "GET /api/publishing/feeds/atom.xml": PUBLIC,
    "GET /api/publishing/feeds/items.json": PUBLIC,
    "POST /api/publishing/subscribers": CONTENT_RELEASE,  # the civil servants' bulletin list
    "GET /api/publishing/unsubscribe/<token>": PUBLIC,  # the mailed token is the credential
    "POST /api/publishing/unsubscribe/<token>": PUBLIC,
    "POST /api/publishing/deliveries/<delivery_id>/reschedule": CONTENT_RELEASE,
    "GET /api/publishing/units": STAFF,
    "GET /api/publishing/plan": STAFF,
    # --- feedback: citizens and platforms without accounts; the desk by role and unit
    "POST /api/feedback/tickets": PUBLIC,
    "GET /api/feedback/categories": PUBLIC,
    "GET /api/feedback/track/<code>": PUBLIC,  # the tracking code is the credential
    "POST /api/feedback/track/<code>/rating": PUBLIC,
    "POST /api/feedback/track/<code>/reopen": PUBLIC,
    "POST /api/feedback/webhooks/hotline": PUBLIC,  # HMAC-signed by the call center
    "GET /api/feedback/webhooks/facebook": PUBLIC,  # verify token
    "POST /api/feedback/webhooks/facebook": PUBLIC,  # X-Hub-Signature-256
    "POST /api/feedback/webhooks/zalo": PUBLIC,  # X-ZEvent-Signature
    "GET /api/feedback/calls/<call_id>": HOTLINE,
    "POST /api/feedback/calls/<call_id>/ticket": HOTLINE,
    "GET /api/feedback/staff/tickets": DESK_READ,
    "GET /api/feedback/staff/tickets/<ticket>": DESK_READ,
    "POST /api/feedback/staff/tickets/<ticket>/<action>": DESK_ACT,
    "GET /api/feedback/units": PUBLIC,  # the portal form shows the unit tree
    "PUT /api/feedback/units/<unit_id>": ADMIN_ONLY,
    "POST /api/feedback/units/<unit_id>/dissolve": ADMIN_ONLY,
    "PUT /api/feedback/categories/<code>": ADMIN_ONLY,
    "GET /api/feedback/rules": frozenset({ADMIN, OPERATOR}),
    "POST /api/feedback/rules": ADMIN_ONLY,
    "GET /api/feedback/reports/<month>": DESK_READ,
    # --- Open311 GeoReport v2: its own api_key on POST, public reads (the specification)
    "GET /open311/v2/services.<fmt>": PUBLIC,
    "GET /open311/v2/services/<service_code>.<fmt>": PUBLIC,
    "POST /open311/v2/requests.<fmt>": PUBLIC,
    "GET /open311/v2/requests.<fmt>": PUBLIC,
    "GET /open311/v2/requests/<request_id>.<fmt>": PUBLIC,
    "GET /open311/v2/tokens/<token_id>.<fmt>": PUBLIC,
}


def key(spec: RouteSpec) -> str:
    return f"{spec.method} {spec.path}"


def access_for(spec: RouteSpec) -> frozenset[str]:
    """The roles allowed on a route (empty: public). Deny by default: any signed-in account."""
    found = ACCESS.get(key(spec))
    if found is not None:
        return found
    declared = getattr(spec, "roles", None)
    if declared is not None:
        return frozenset(declared)
    return STAFF


def is_classified(spec: RouteSpec) -> bool:
    return key(spec) in ACCESS or getattr(spec, "roles", None) is not None


def describe(roles: frozenset[str]) -> str:
    """Roles in the table's order, for messages and the API document."""
    return ", ".join(r for r in ROLES if r in roles)
