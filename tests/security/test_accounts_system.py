"""Issue 13, low findings on the system routes: sending bus probes is for staff, /metrics needs
Prometheus's bearer token (LOA_METRICS_TOKEN) or an admin, and the public status page and
/api/status say up or down only, the error texts are for staff."""

from __future__ import annotations

import requests

from services.gateway.auth.testing import bearer
from tests.security import _accounts

start_gateway = _accounts.start_gateway  # fixture
METRICS_TOKEN = "prometheus-scrape-token-0123456789"


def test_bus_probes_are_for_staff(start_gateway) -> None:
    gw = start_gateway()
    assert requests.post(f"{gw.base}/api/bus/probes", timeout=30).status_code == 401
    sent = requests.post(f"{gw.base}/api/bus/probes", headers=bearer(gw.settings, "viewer"),
                         timeout=30)  # fmt: skip
    assert sent.status_code == 202, sent.text
    event_id = sent.json()["event_id"]
    assert requests.get(f"{gw.base}/api/bus/probes/{event_id}", timeout=30).status_code == 401


def test_metrics_need_the_scrape_token_or_an_admin(start_gateway) -> None:
    gw = start_gateway(metrics_token=METRICS_TOKEN)
    assert requests.get(f"{gw.base}/metrics").status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert requests.get(f"{gw.base}/metrics", headers=wrong).status_code == 401
    token = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    scraped = requests.get(f"{gw.base}/metrics", headers=token)
    assert scraped.status_code == 200 and "loa_http_requests_total" in scraped.text
    viewer = requests.get(f"{gw.base}/metrics", headers=bearer(gw.settings, "viewer"))
    assert viewer.status_code == 403
    admin = requests.get(f"{gw.base}/metrics", headers=bearer(gw.settings, "admin"))
    assert admin.status_code == 200 and "loa_http_requests_total" in admin.text


def test_public_status_says_up_or_down_only(start_gateway) -> None:
    gw = start_gateway()
    public = requests.get(f"{gw.base}/api/status", timeout=30)
    assert public.status_code == 503  # only the gateway runs here
    services = {s["service"]: s for s in public.json()["services"]}
    assert services["gateway"]["ready"] is True and services["media"]["ready"] is False
    assert all(not s.get("error") and not s.get("checks") for s in services.values()), services
    page = requests.get(f"{gw.base}/", timeout=30).text
    assert 'data-service="media" data-ready="false"' in page
    assert "did not answer" not in page and "media service" not in page

    staff = requests.get(f"{gw.base}/api/status", headers=bearer(gw.settings, "viewer"), timeout=30)
    detailed = {s["service"]: s for s in staff.json()["services"]}
    assert "media" in detailed["media"]["error"] and detailed["gateway"]["checks"]
