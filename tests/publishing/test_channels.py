"""Channels end to end through the dispatcher: render (stored, versioned, sequenced), transmit to
real local servers, record the outcome. Press to FTP and S3, portal feeds, e-bulletin by SMTP."""

from __future__ import annotations

import ftplib
import json
import mailbox
import os
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from typing import Any

import pytest
from sqlalchemy import select, update

from services.publishing.config import ChannelSettings
from services.publishing.domain import audience, items, portal, schedule
from services.publishing.domain.dispatch import DispatchConfig, Dispatcher
from services.publishing.models import deliveries, mail_sends, renditions
from services.publishing.wiring import Transmitters
from shared.db import Database
from shared.storage import S3ObjectStore
from tests.publishing.conftest import PUBLISHER, approved_item, events_of

P = items.Actor(**PUBLISHER)
NAR = "{http://iptc.org/std/nar/2006-10-01/}"


def dispatcher(db: Database, store: Any, **cfg: Any) -> Dispatcher:
    # The FTP and SMTP servers of these tests are plain; their TLS forms (and the refusal of
    # plain ones by default) are in tests/security/test_outbound_tls.py.
    settings = ChannelSettings(**{"allow_plain_ftp": True, "smtp_tls": "none", **cfg})
    return Dispatcher(
        db, Transmitters(settings, db, store, "http://loa.test"),
        DispatchConfig(portal_url="http://loa.test/portal", lease_s=30),
        sleep=lambda _s: None,
    )  # fmt: skip


def deliver(db: Database, d: Dispatcher, item_id: str, channel: str, **kw: Any) -> dict[str, Any]:
    with db.session() as s:
        row = schedule.schedule_delivery(
            s, item_id, channel, P, d.transmitter_for.cfg, db.record_event, **kw
        )
    d.run_once()
    return schedule_row(db, row["id"])


def schedule_row(db: Database, delivery_id: str) -> dict[str, Any]:
    with db.session() as s:
        return schedule.get_delivery(s, delivery_id)


@pytest.fixture
def s3_puts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every S3 upload as it happens, (bucket, key) in order; the real put then runs."""
    calls: list[tuple[str, str]] = []
    real = S3ObjectStore.put

    def put(self: S3ObjectStore, key: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((self.bucket, key))
        return real(self, key, *args, **kwargs)

    monkeypatch.setattr(S3ObjectStore, "put", put)
    return calls


@pytest.fixture
def ftp_commands(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every command an ftplib client sends, in order; the real send then runs."""
    sent: list[str] = []
    real = ftplib.FTP.putcmd

    def putcmd(self: ftplib.FTP, line: str) -> None:
        sent.append(line)
        real(self, line)

    monkeypatch.setattr(ftplib.FTP, "putcmd", putcmd)
    return sent


def test_press_to_ftp_ninjs_and_newsml_with_images(
    sqlite_db: Database, store: Any, ftp_server: dict[str, Any]
) -> None:
    store.put("images/cua.jpg", b"\xff\xd8jpeg-bytes", content_type="image/jpeg")
    item = approved_item(
        sqlite_db, title="Chuyên trang hành chính công kỳ 1", tags=["một cửa"], topics=["CCHC"],
        images=[{"key": "images/cua.jpg", "size": 12, "content_type": "image/jpeg", "alt": "Quầy"}],
        embargo_until=datetime(2099, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    d = dispatcher(sqlite_db, store, press_target=ftp_server["url"])
    row = deliver(sqlite_db, d, item["id"], "press")
    assert row["status"] == "succeeded", row["reason"]
    folder = ftp_server["root"] / "bao-binh-duong"
    base = f"loa-{item['id']}-v{item['version']}"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{base}.ninjs.json", f"{base}.newsml.xml", f"{base}.img1.jpg"]
    )
    ninjs = json.loads((folder / f"{base}.ninjs.json").read_text("utf-8"))
    assert ninjs["standard"]["version"] == "2.1" and ninjs["language"] == "vi"
    assert ninjs["headlines"][0]["value"] == "Chuyên trang hành chính công kỳ 1"
    assert ninjs["embargoed"] == "2099-01-01T00:00:00Z"
    assert ninjs["associations"][0]["renditions"][0]["href"] == f"{base}.img1.jpg"
    xml = ET.parse(folder / f"{base}.newsml.xml").getroot()
    assert xml.tag == f"{NAR}newsItem" and xml.get("version") == str(item["version"])
    assert xml.find(f"{NAR}contentMeta/{NAR}headline").text == "Chuyên trang hành chính công kỳ 1"
    assert xml.find(f"{NAR}itemMeta/{NAR}embargoed").text == "2099-01-01T00:00:00Z"
    assert (folder / f"{base}.img1.jpg").read_bytes() == b"\xff\xd8jpeg-bytes"
    assert row["rendition_seq"] == 1
    assert row["remote_id"] == f"bao-binh-duong/{base}.newsml.xml"
    with sqlite_db.session() as s:
        stored = s.execute(select(renditions)).mappings().one()
    assert (stored["channel"], stored["item_version"], stored["sequence"]) == (
        "press",
        item["version"],
        1,
    )
    ok = events_of(sqlite_db, "publishing.delivery_succeeded")
    assert ok[0]["channel"] == "press"
    published = events_of(sqlite_db, "publishing.item_published")
    assert published[0]["item_id"] == item["id"] and published[0]["channels"] == ["press"]


def test_press_to_s3_and_a_dead_worker_is_checked_not_resent(
    sqlite_db: Database, store: Any, s3_puts: list[tuple[str, str]]
) -> None:
    endpoint = os.environ["LOA_TEST_S3_ENDPOINT"]
    key, secret = os.environ["LOA_TEST_S3_ACCESS_KEY"], os.environ["LOA_TEST_S3_SECRET_KEY"]
    prefix = f"bbd-{uuid.uuid4().hex[:8]}"
    target = f"s3://{key}:{secret}@{endpoint}/press-drop/{prefix}"
    d = dispatcher(sqlite_db, store, press_target=target)
    item = approved_item(sqlite_db)
    row = deliver(sqlite_db, d, item["id"], "press")
    assert row["status"] == "succeeded", row["reason"]
    drop = S3ObjectStore(endpoint=endpoint, access_key=key, secret_key=secret, bucket="press-drop")
    names = [o.key for o in drop.list(f"{prefix}/")]
    base = f"{prefix}/loa-{item['id']}-v{item['version']}"
    assert names == sorted([f"{base}.newsml.xml", f"{base}.ninjs.json"])
    assert sorted(s3_puts) == [("press-drop", n) for n in names]  # the spy sees the uploads
    # A worker sent the files then died before recording it: the lease expires, the next
    # worker asks the drop first and records success without a second upload.
    with sqlite_db.session() as s:
        s.execute(
            update(deliveries).where(deliveries.c.id == row["id"]).values(
                status="sending", lease_until=datetime.now(UTC) - timedelta(seconds=1),
                sent_at=None,
            )
        )  # fmt: skip
    s3_puts.clear()
    assert d.run_once() == 1
    after = schedule_row(sqlite_db, row["id"])
    assert after["status"] == "succeeded" and after["attempts"] == 2
    assert s3_puts == []  # checked with stat(), nothing uploaded again
    assert [o.key for o in drop.list(f"{prefix}/")] == names


def test_portal_feeds_are_valid_and_in_vietnamese(sqlite_db: Database, store: Any) -> None:
    d = dispatcher(sqlite_db, store)
    first = approved_item(sqlite_db, title="Dịch vụ công mức độ 3, 4", tags=["dịch vụ công"])
    second = approved_item(sqlite_db, title="Tổng đài 1022 hoạt động 24/7")
    for it in (first, second):
        assert deliver(sqlite_db, d, it["id"], "portal")["status"] == "succeeded"
    rss = ET.fromstring(portal.feed(sqlite_db, "rss", "http://loa.test", "http://loa.test/portal"))
    titles = [i.findtext("title") for i in rss.iter("item")]
    assert rss.tag == "rss" and rss.get("version") == "2.0"
    assert set(titles) == {"Dịch vụ công mức độ 3, 4", "Tổng đài 1022 hoạt động 24/7"}
    assert rss.find("channel/language").text == "vi"
    atom = ET.fromstring(
        portal.feed(sqlite_db, "atom", "http://loa.test", "http://loa.test/portal")
    )
    ns = "{http://www.w3.org/2005/Atom}"
    assert len(atom.findall(f"{ns}entry")) == 2
    assert all(
        e.find(f"{ns}id").text.startswith("http://loa.test/portal/")
        for e in atom.findall(f"{ns}entry")
    )
    with sqlite_db.session() as s:
        items.transition(s, first["id"], "withdraw", P, sqlite_db.record_event, "hết hiệu lực")
    assert [e["title"] for e in portal.listing(sqlite_db)] == ["Tổng đài 1022 hoạt động 24/7"]


def _seed_units(db: Database) -> None:
    from services.publishing.domain.plan import units_seed

    with db.session() as s:
        seed = units_seed()
        for u in seed:
            audience.upsert_unit(s, audience.UnitInput(**{**u, "successor_id": None}))
        for u in seed:
            audience.upsert_unit(s, audience.UnitInput(**u))


def test_ebulletin_by_smtp_to_the_unit_tree_with_working_unsubscribe(
    sqlite_db: Database, store: Any, smtp_server: dict[str, Any]
) -> None:
    _seed_units(sqlite_db)
    with sqlite_db.session() as s:
        subs = {email: audience.subscribe(s, audience.SubscriberInput(email=email, unit_id=unit))
                for email, unit in [("so@bd.gov.vn", "bd-so-tttt"),
                                    ("phuong@bd.gov.vn", "bd-phu-cuong"),
                                    ("tinh@bd.gov.vn", "binh-duong")]}  # fmt: skip
    # Since July 2025 the ward and the department live on under their successors.
    assert subs["phuong@bd.gov.vn"]["unit_id"] == "hcm-thu-dau-mot"
    assert subs["so@bd.gov.vn"]["unit_id"] == "hcm"
    d = dispatcher(sqlite_db, store, smtp_host="127.0.0.1", smtp_port=smtp_server["port"])
    news = approved_item(sqlite_db, title="Tin: Bộ phận một cửa cấp xã")
    deliver(sqlite_db, d, news["id"], "portal")
    bulletin = approved_item(sqlite_db, kind="bulletin", title="Bản tin điện tử tháng 3",
                             body="<p>Kính gửi quý cơ quan</p>")  # fmt: skip
    # Addressed to Bình Dương: today that is Hồ Chí Minh City and every unit below it.
    at = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    with sqlite_db.session() as s:
        row = schedule.schedule_delivery(
            s, bulletin["id"], "ebulletin", P, d.transmitter_for.cfg, sqlite_db.record_event,
            at=at, options={"unit_id": "binh-duong"},
        )  # fmt: skip
    with sqlite_db.session() as s:  # due now (avoid waiting a second)
        s.execute(update(deliveries).where(deliveries.c.id == row["id"]).values(
            next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))  # fmt: skip
    d.run_once()
    assert schedule_row(sqlite_db, row["id"])["status"] == "succeeded"
    box = mailbox.Maildir(smtp_server["maildir"], create=False)
    messages = list(box)
    assert sorted(m["To"] for m in messages) == ["phuong@bd.gov.vn", "so@bd.gov.vn",
                                                 "tinh@bd.gov.vn"]  # fmt: skip
    msg = messages[0]
    assert str(make_header(decode_header(msg["Subject"]))) == "Bản tin điện tử tháng 3"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in msg.walk()
             if not p.is_multipart()}  # fmt: skip
    assert "Kính gửi quý cơ quan" in parts["text/plain"]
    assert "Tin: Bộ phận một cửa cấp xã" in parts["text/html"]
    link = "".join(msg["List-Unsubscribe"].split()).strip("<>")
    assert link in parts["text/plain"] and link in parts["text/html"]
    token = link.rsplit("/", 1)[1]
    with sqlite_db.session() as s:
        audience.unsubscribe(s, token)
        assert s.execute(select(mail_sends)).all().__len__() == 3
    # The next bulletin skips who unsubscribed.
    again = approved_item(sqlite_db, kind="bulletin", title="Bản tin tháng 4")
    with sqlite_db.session() as s:
        row2 = schedule.schedule_delivery(
            s, again["id"], "ebulletin", P, d.transmitter_for.cfg, sqlite_db.record_event,
            options={"unit_id": "binh-duong"},
        )  # fmt: skip
    d.run_once()
    assert schedule_row(sqlite_db, row2["id"])["remote_id"] == "2 recipients"
    assert len(list(mailbox.Maildir(smtp_server["maildir"], create=False))) == 5


def _tv_clip(db: Database, store: Any) -> dict[str, Any]:
    clip = b"\x00\x00\x00\x18ftypmp42tv-rendition" * 100
    store.put("renditions/tv1/tv.mp4", clip, content_type="video/mp4")
    renditions = {"tv": "renditions/tv1/tv.mp4", "web": "renditions/tv1/web.mp4"}
    with db.session() as s:
        schedule.on_asset_ready(
            s, {"asset_id": "tv1", "title": "Clip", "duration_s": 95, "renditions": renditions}
        )
    return approved_item(db, kind="video_post", asset_id="tv1", title="Phóng sự một cửa",
                         summary="Người dân nộp hồ sơ tại Trung tâm")  # fmt: skip


def _check_tv_package(names: list[str], read: Any, item: dict[str, Any]) -> None:
    base = f"loa-{item['id']}-v{item['version']}"
    assert names == [f"{base}.mp4", f"{base}.json"]  # the clip first, the sidecar last
    assert read(f"{base}.mp4").startswith(b"\x00\x00\x00\x18ftypmp42tv-rendition")
    sidecar = json.loads(read(f"{base}.json").decode("utf-8"))
    assert sidecar["title"] == "Phóng sự một cửa" and sidecar["duration_s"] == 95
    assert sidecar["summary"] == "Người dân nộp hồ sơ tại Trung tâm"
    assert sidecar["suggested_air_time"] == "2099-03-01T19:45:00+07:00"
    assert sidecar["video_file"] == f"{base}.mp4"


def test_tv_clip_and_sidecar_to_the_ftp_watch_folder(
    sqlite_db: Database, store: Any, ftp_server: dict[str, Any], ftp_commands: list[str]
) -> None:
    item = _tv_clip(sqlite_db, store)
    target = ftp_server["url"].replace("bao-binh-duong", "dai-ptth/watch")
    d = dispatcher(sqlite_db, store, tv_target=target)
    row = deliver(sqlite_db, d, item["id"], "tv", options={"air_time": "2099-03-01T19:45:00+07:00"})
    assert row["status"] == "succeeded", row["reason"]
    folder = ftp_server["root"] / "dai-ptth" / "watch"
    # The order the server was told: each file stored under a temporary name, then renamed.
    files = [c for c in ftp_commands if c.split(" ", 1)[0] in ("STOR", "RNFR", "RNTO")]
    names = [c.split(" ", 1)[1] for c in files if c.startswith("RNTO ")]
    assert files == [
        step for n in names for step in (f"STOR .{n}.part", f"RNFR .{n}.part", f"RNTO {n}")
    ]
    _check_tv_package(names, lambda n: (folder / n).read_bytes(), item)
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)  # no .part left
    assert row["remote_id"] == f"dai-ptth/watch/loa-{item['id']}-v{item['version']}.json"


def test_tv_clip_and_sidecar_to_an_s3_watch_folder(
    sqlite_db: Database, store: Any, s3_puts: list[tuple[str, str]]
) -> None:
    endpoint = os.environ["LOA_TEST_S3_ENDPOINT"]
    key, secret = os.environ["LOA_TEST_S3_ACCESS_KEY"], os.environ["LOA_TEST_S3_SECRET_KEY"]
    prefix = f"watch-{uuid.uuid4().hex[:8]}"
    item = _tv_clip(sqlite_db, store)
    d = dispatcher(sqlite_db, store, tv_target=f"s3://{key}:{secret}@{endpoint}/tv-drop/{prefix}")
    row = deliver(sqlite_db, d, item["id"], "tv", options={"air_time": "2099-03-01T19:45:00+07:00"})
    assert row["status"] == "succeeded", row["reason"]
    drop = S3ObjectStore(endpoint=endpoint, access_key=key, secret_key=secret, bucket="tv-drop")
    uploads = [k for b, k in s3_puts if b == "tv-drop"]  # in the order they were sent
    assert sorted(uploads) == [o.key for o in drop.list(f"{prefix}/")]
    names = [k.split("/", 1)[1] for k in uploads]

    def read(name: str) -> bytes:
        with drop.open(f"{prefix}/{name}") as reader:
            return bytes(reader.read())

    _check_tv_package(names, read, item)
