"""The console in a real browser (Debian's Chromium via Playwright) against the whole system.

Each test does what a person does on the screen and checks what the screen shows, with the API
used only to set up or to check what is not on the screen (that one item was made, not two).
"""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import Route, expect

from tests.e2e.browser.conftest import (
    Api,
    System,
    admin_password,
    change_first_password,
    login,
    shot,
)


def test_sign_in_wrong_password_then_right(page: Any) -> None:
    page.goto("/console/media")
    page.wait_for_url("**/console/login?next=/console/media")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    page.get_by_label("Tên đăng nhập").fill("admin")
    page.get_by_label("Mật khẩu").fill("not-the-password")
    page.get_by_role("button", name="Đăng nhập").click()
    alert = page.locator("#login-error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("Sai tên đăng nhập hoặc mật khẩu")
    assert page.evaluate("document.activeElement.id") == "password"
    shot(page, "01-login-wrong-password")
    page.get_by_label("Mật khẩu").fill(admin_password())
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_function(
        "() => document.getElementById('password-form') || location.pathname !== '/console/login'"
    )
    if page.locator("#password-form").count():  # this run's first sign-in as admin
        change_first_password(page)
    page.wait_for_url("**/console/media")
    expect(page.get_by_role("heading", level=1)).to_have_text("Video, âm thanh")
    assert page.js_errors == []


def test_keyboard_skip_link_and_english(page: Any) -> None:
    login(page)
    page.goto("/console/calendar")  # a page without autofocus: Tab starts at the top
    page.locator("body").press("Tab")  # from the top of the document
    assert page.evaluate("document.activeElement.className") == "skip"
    expect(page.locator("a.skip")).to_be_in_viewport()  # shown when focused
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("navigation").get_by_role("link", name="Media")).to_be_visible()
    page.goto("/console/search")  # the choice is kept in a cookie
    expect(page.get_by_role("heading", level=1)).to_have_text("Search")
    page.goto("/console/search?lang=vi")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tìm kiếm")


def test_upload_resumes_after_a_dropped_connection_and_becomes_ready(
    page: Any, context: Any, tmp_path: Path
) -> None:
    clip = tmp_path / "clip-mot-cua.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440", "-t", "2", "-c:v", "libx264",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip)],
        check=True,
    )  # fmt: skip
    dropped: list[str] = []

    def drop_first_patch(route: Route) -> None:
        if route.request.method == "PATCH" and not dropped:
            dropped.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    context.route(re.compile(r".*/api/media/uploads/[^/]+$"), drop_first_patch)
    login(page, to="/console/media")
    title = f"Clip e2e {uuid.uuid4().hex[:6]}"
    page.get_by_label("Tiêu đề (không bắt buộc)").fill(title)
    page.locator("#file-input").set_input_files(str(clip))
    upload = page.locator("li.upload").first
    expect(upload).to_have_attribute("data-state", "done", timeout=30_000)
    assert dropped, "the first PATCH was to be dropped"
    expect(upload.locator("progress")).to_have_attribute("value", "100")
    row = page.locator("#assets tbody tr", has_text=title)
    expect(row).to_have_attribute("data-status", "ready", timeout=120_000)
    row.get_by_role("link").click()
    detail = page.locator("#asset-detail")
    expect(detail).to_have_attribute("data-status", "ready")
    video = detail.locator("#web-player")  # the social previews are videos too
    expect(video).to_have_attribute("src", re.compile(r"/files/(web|preview)/.*\.mp4$"))
    expect(detail.get_by_role("link", name=re.compile("HLS"))).to_have_attribute(
        "href", re.compile(r"master\.m3u8$")
    )
    expect(detail.locator("#jobs tbody tr[data-state=done]")).not_to_have_count(0)
    shot(page, "02-media")

    # the details people search by: saved, then the clip is found by them without diacritics
    tag = f"giấy phép lái xe {uuid.uuid4().hex[:6]}"
    form = page.locator("#asset-edit")
    form.get_by_label("Mô tả").fill("Hướng dẫn đổi <b>giấy phép</b> trực tuyến")
    form.get_by_label("Từ khoá (cách nhau bằng dấu phẩy)").fill(f"{tag}, một cửa")
    form.get_by_label("Mã đơn vị").fill("../etc")  # refused by the page's own check first
    form.get_by_role("button", name="Lưu thông tin").click()
    assert page.eval_on_selector("#edit-unit", "e => e.validity.valid") is False
    form.get_by_label("Mã đơn vị").fill("so-gtvt")
    form.get_by_role("button", name="Lưu thông tin").click()
    expect(page.get_by_text("Đã lưu; tìm kiếm sẽ thấy ngay")).to_be_visible()
    page.goto("/console/search")
    box = page.get_by_label("Tìm trong mọi bài viết, video và câu trả lời")
    folded = tag.replace("ấ", "a").replace("é", "e").replace("á", "a")
    for _ in range(30):
        box.fill(folded)
        box.press("Enter")
        expect(page.locator("#h-results")).not_to_be_empty()
        if page.locator("#results li", has_text=title).count():
            break
        page.wait_for_timeout(1000)
    expect(page.locator("#results li", has_text=title)).to_have_count(1)
    assert page.js_errors == []


def test_wrong_file_type_is_refused_on_the_page(page: Any, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("không phải video")
    login(page, to="/console/media")
    page.locator("#file-input").set_input_files(str(text))
    expect(page.locator("#upload-error")).to_contain_text("không phải video hoặc âm thanh")
    expect(page.locator("li.upload")).to_have_count(0)


def test_a_leaflet_pdf_is_attached_and_its_text_read(page: Any, tmp_path: Path) -> None:
    from tests.publishing.pdfs import make_pdf

    leaflet = tmp_path / "to-roi.pdf"
    leaflet.write_bytes(make_pdf([["Hướng dẫn cấp đổi giấy phép lái xe trực tuyến"]]))
    notes = tmp_path / "ghi-chu.txt"
    notes.write_text("không phải PDF")
    login(page, to="/console/publishing")
    page.get_by_label("Loại").select_option("document")
    page.get_by_label("Tiêu đề", exact=True).fill(f"Tờ rơi {uuid.uuid4().hex[:6]}")
    page.get_by_role("button", name="Lưu").click()
    page.wait_for_url(re.compile(r".*/console/publishing/[0-9a-f-]{36}\?created=1$"))
    box = page.locator("#document-box")
    expect(box).to_be_visible()
    box.get_by_label("Tệp PDF của tài liệu (tờ rơi)").set_input_files(str(notes))
    page.get_by_role("button", name="Lưu").click()
    expect(page.locator("#item-form [role=alert]")).to_contain_text("Tệp phải là PDF")
    box.get_by_label("Tệp PDF của tài liệu (tờ rơi)").set_input_files(str(leaflet))
    page.get_by_role("button", name="Lưu").click()
    expect(page.locator("#document-state")).to_contain_text("to-roi.pdf")
    expect(page.locator("#document-state")).to_contain_text("đã được đưa vào tìm kiếm")
    shot(page, "23-publishing-leaflet")
    assert page.js_errors == []


def test_write_approve_schedule_and_see_it_on_the_portal(page: Any, context: Any) -> None:
    login(page, to="/console/publishing")
    title = f"Một cửa liên thông {uuid.uuid4().hex[:6]}"
    page.get_by_label("Tiêu đề", exact=True).fill(title)
    page.get_by_label("Tóm tắt").fill("Hướng dẫn nộp hồ sơ tại bộ phận một cửa.")
    page.get_by_label("Nội dung", exact=True).fill("Người dân nộp hồ sơ trực tuyến mức độ 3, 4.")
    page.locator("details[data-channel=facebook] summary").click()
    page.locator("#v-text-facebook").fill("Bản tin ngắn cho Facebook")
    expect(page.locator("[data-preview=facebook]")).to_contain_text("Bản tin ngắn cho Facebook")
    page.get_by_role("button", name="Lưu").dblclick()  # a double click makes one item
    page.wait_for_url(re.compile(r".*/console/publishing/[0-9a-f-]{36}\?created=1$"))
    api = Api(context)
    items = api.get("/api/publishing/items?limit=200")
    assert len([i for i in items if i["title"] == title]) == 1
    status = page.locator("#item-status")
    expect(status).to_have_attribute("data-status", "draft")
    expect(page.get_by_role("button", name="Duyệt", exact=True)).to_be_hidden()  # not yet
    page.get_by_role("button", name="Gửi duyệt").click()
    expect(status).to_have_attribute("data-status", "in_review")
    page.get_by_role("button", name="Duyệt", exact=True).click()
    expect(status).to_have_attribute("data-status", "approved")
    page.get_by_label("Kênh").select_option("portal")
    page.get_by_role("button", name="Lên lịch", exact=True).click()
    row = page.locator("#deliveries tbody tr[data-channel=portal]")
    expect(row).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(row.get_by_role("link")).to_have_attribute("href", re.compile(r"/portal/"))
    shot(page, "03-publishing")
    listing = api.get("/api/publishing/feeds/items.json")
    assert title in [i["title"] for i in listing["items"]]
    page.goto("/console/calendar")
    expect(page.locator(".cal-day li", has_text=title[:20]).first).to_be_visible()
    shot(page, "04-calendar")
    page.get_by_role("button", name="Tuần").click()
    expect(page.locator(".cal-day")).to_have_count(7)
    assert page.js_errors == []


def test_hotline_call_becomes_a_ticket_answered_and_public(
    page: Any, browser: Any, system: System
) -> None:
    call_id = f"call-{uuid.uuid4().hex[:8]}"
    system.hotline({"event": "call.new", "call_id": call_id, "caller": "0912 345 678"})
    login(page, to="/console/feedback/call")
    page.get_by_label("Mã cuộc gọi").fill(call_id)
    page.keyboard.press("Enter")
    expect(page.locator("#call-view")).to_be_visible()
    expect(page.locator("#c-category")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.type("Hỏi thủ tục cấp giấy phép xây dựng nhà ở riêng lẻ")
    page.get_by_label("Người gọi đồng ý công khai câu hỏi và trả lời").check()
    page.get_by_label("Nội dung người gọi trình bày").press("Control+Enter")
    code_el = page.locator("#ticket-code")
    expect(code_el).not_to_be_empty()
    code = code_el.inner_text().strip()
    shot(page, "05-hotline-call")

    page.goto("/console/feedback/inbox")
    row = page.locator(f"#inbox tr[data-code='{code}']")
    expect(row).to_be_visible()
    shot(page, "06-inbox")
    row.get_by_role("link", name=code).click()
    expect(page.locator("#t-code")).to_have_text(code)
    answer = "Hồ sơ gồm đơn đề nghị và bản vẽ thiết kế; nộp tại bộ phận một cửa cấp huyện."
    page.get_by_label("Trả lời", exact=True).fill(answer)
    page.get_by_role("button", name="Gửi trả lời").click()
    expect(page.locator("#t-status")).to_have_attribute("data-status", "answered")
    page.get_by_role("button", name="Công khai câu trả lời").click()
    expect(page.locator("#flash")).to_contain_text("Đã công khai")
    shot(page, "07-ticket")

    citizen = browser.new_context(base_url=system.url)
    try:
        public = citizen.new_page()
        public.goto("/console/track")
        public.get_by_label("Mã tra cứu").fill(code)
        public.get_by_role("button", name="Tra cứu").click()
        expect(public.locator("#tr-answer")).to_contain_text("bản vẽ thiết kế")
        expect(public.locator("#tr-status")).to_have_text("Đã trả lời")
        shot(public, "08-public-tracking")
    finally:
        citizen.close()
    assert page.js_errors == []


def test_search_without_diacritics(page: Any, context: Any) -> None:
    login(page, to="/console/search")
    api = Api(context)
    word = uuid.uuid4().hex[:8]
    item = api.post(
        "/api/publishing/items",
        {"kind": "article", "title": f"Cải cách thủ tục hành chính một cửa {word}",
         "summary": "Đường dây nóng 1022", "body": "Bộ phận tiếp nhận và trả kết quả."},
    )  # fmt: skip
    for action in ("submit", "approve"):
        api.post(f"/api/publishing/items/{item['id']}/transitions", {"action": action})
    api.post(f"/api/publishing/items/{item['id']}/deliveries", {"channel": "portal"})
    box = page.get_by_label("Tìm trong mọi bài viết, video và câu trả lời")

    def found() -> bool:
        box.fill(f"cai cach mot cua {word}")
        box.press("Enter")
        expect(page.locator("#h-results")).not_to_be_empty()
        return page.locator(f"#results li[data-id$='{item['id']}']").count() > 0

    deadline = 40
    while not found():
        deadline -= 1
        assert deadline, "the item never showed up in the search"
        page.wait_for_timeout(1000)
    hit = page.locator(f"#results li[data-id$='{item['id']}']")
    expect(hit.locator("mark").first).to_be_visible()
    marks = hit.locator(".hit-title mark").all_inner_texts()
    assert "một" in marks and "cửa" in marks, marks
    expect(page.locator("#facets fieldset[data-facet=type]")).to_be_visible()
    shot(page, "09-search")
    assert page.js_errors == []


def test_dashboard_draws_charts(page: Any) -> None:
    login(page, to="/console/dashboard")
    expect(page.locator("#chart-plan svg rect").first).to_be_attached()
    expect(page.locator("#chart-throughput svg")).to_be_attached()
    expect(page.locator("#chart-ontime .plot")).not_to_contain_text("Đang tải")
    shot(page, "10-dashboard")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "11-dashboard-phone")
    assert page.js_errors == []
