"""Documents (leaflets): a document item's PDF text is found by search, with or without
diacritics; a bad PDF does not stop the item being published and indexed (without that text);
and a rebuild from the owners brings the PDF text back."""

from __future__ import annotations

import base64
import logging
from typing import Any

from services.search.models import deliveries, documents
from services.search.models import metadata as search_metadata
from shared.db import Database
from shared.runtime.resources import forget_databases
from tests.conftest import wait_until
from tests.publishing.pdfs import encrypt, make_pdf
from tests.search.test_rebuild import (  # noqa: F401 - fixtures
    EDITOR,
    PUBLISHER,
    Stack,
    find,
    ids,
    settings,
    stack,
)

LEAFLET = [
    ["TỜ RƠI TUYÊN TRUYỀN", "Thủ tục cấp đổi giấy phép lái xe qua dịch vụ công trực tuyến"],
    ["Liên hệ tổng đài 1022 để được hướng dẫn."],
]


def publish_document(rpc: Any, title: str, pdf: bytes) -> str:
    item = rpc.create_item({"kind": "document", "title": title, "body": "<p>Tờ rơi</p>"}, EDITOR)
    attached = rpc.attach_document(item["id"], "to-roi.pdf", base64.b64encode(pdf).decode(), EDITOR)
    rpc.transition(item["id"], "submit", EDITOR)
    rpc.transition(item["id"], "approve", PUBLISHER)
    d = rpc.schedule(item["id"], "portal", PUBLISHER)
    wait_until(lambda: rpc.get_delivery(d["id"])["status"] == "succeeded", 20, what="published")
    return attached["document"]["text_status"]  # type: ignore[no-any-return]


def test_leaflet_pdf_text_is_searchable_and_survives_a_rebuild(
    stack: Stack,  # noqa: F811 - the fixture imported above
    caplog: Any,
) -> None:
    caplog.set_level(logging.WARNING)
    with stack.rpc("publishing") as pub, stack.rpc("search") as se:
        assert publish_document(pub, "Tờ rơi giấy phép lái xe", make_pdf(LEAFLET)) == "ok"
        secret = encrypt(make_pdf([["Nội dung mật: cấp đổi hộ chiếu phổ thông"]]))
        assert publish_document(pub, "Tờ rơi khoá mật khẩu", secret) == "encrypted"
        wait_until(lambda: find(se, "")["total"] == 2, 30, what="both documents indexed")

        def check() -> None:
            for q in (
                '"cấp đổi giấy phép lái xe"',
                '"cap doi giay phep lai xe"',
                "tong dai 1022",
                "dịch vụ công trực tuyến",
            ):
                hits = find(se, q)["hits"]
                assert [h["title"] for h in hits] == ["Tờ rơi giấy phép lái xe"], q
                assert hits[0]["type"] == "document"
            assert ids(se, "ho chieu") == set()  # the encrypted PDF's text was never read
            assert len(ids(se, "khoa mat khau")) == 1  # but its item is indexed

        check()
        assert "encrypted" in caplog.text and "hộ chiếu" not in caplog.text

        # search loses everything; the rebuild asks publishing, which sends the PDF text again
        stack.stop("search")
        db = Database("search", stack.settings.database_url("search"), search_metadata)
        with db.session() as session:
            session.execute(documents.delete())
            session.execute(deliveries.delete())
        db.dispose()
        forget_databases()
        from services.search.index.factory import make_index

        idx = make_index(stack.settings)
        idx.drop()
        idx.close()
        stack.start("search")
        assert find(se, "")["total"] == 0
        done = se.rebuild()
        assert done["owners"]["publishing"] == 4  # two items, two deliveries
        wait_until(lambda: find(se, "")["total"] == 2, 30, what="the rebuilt index")
        check()
