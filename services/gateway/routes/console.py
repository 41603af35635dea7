"""The web console's pages and static files (services/gateway/console/)."""

from __future__ import annotations

from services.gateway.console import pages, static

__all__ = ["pages", "static"]
