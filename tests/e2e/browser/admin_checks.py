"""Issue 7's named gaps in a real browser: administration (units, an officer account), the unit's
own officer answering a hotline ticket and the citizen seeing the answer, another unit's officer
refused, an expired session, the API reference, the renditions' previews, the public portal
page and moving a delivery on the calendar (drag and drop, and the keyboard form)."""

from __future__ import annotations

import re
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from playwright.sync_api import expect

from tests.e2e.browser.conftest import Api, System, login, shot

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def _vn_today() -> date:
    return datetime.now(UTC).astimezone(VN).date()


def _create_unit_on_screen(page: Any, unit_id: str, name: str, parent: str = "") -> None:
    form = page.locator("#f-unit")
    form.get_by_label("Mã đơn vị").fill(unit_id)
    form.get_by_label("Tên đơn vị").fill(name)
    if parent:
        form.get_by_label("Đơn vị cấp trên").select_option(parent)
    form.get_by_role("button", name="Lưu").click()
    expect(page.locator(f"#unit-tree li[data-unit='{unit_id}']")).to_be_visible()


def _officer_on_screen(page: Any, username: str, unit_id: str) -> str:
    """Create an officer account on the admin screen; returns the generated password."""
    form = page.locator("#f-create")
    form.get_by_label("Tên đăng nhập").fill(username)
    form.get_by_label("Họ tên hiển thị").fill(f"Cán bộ {username}")
    form.get_by_label("Vai trò").select_option("officer")
    form.get_by_label("Đơn vị (bắt buộc với cán bộ đơn vị)").select_option(unit_id)
    form.get_by_role("button", name="Tạo tài khoản").dblclick()  # one account, not two
    password = page.locator("#c-password-out")
    expect(password).not_to_be_empty()
    expect(page.locator(f"#users tr[data-username='{username}']")).to_be_visible()
    return password.inner_text().strip()


def test_admin_officer_answers_and_the_citizen_sees_it(
    page: Any, browser: Any, system: System
) -> None:
    tag = uuid.uuid4().hex[:6]
    unit_a, unit_b = f"e2e-phong-a-{tag}", f"e2e-phong-b-{tag}"
    login(page, to="/console/admin/units")
    expect(page.get_by_role("heading", level=1)).to_have_text("Quản trị đơn vị")
    _create_unit_on_screen(page, unit_a, f"Phòng Quản lý đô thị {tag}")
    _create_unit_on_screen(page, unit_b, f"Phòng Tài nguyên {tag}", parent=unit_a)
    expect(
        page.locator(f"#unit-tree li[data-unit='{unit_a}'] li[data-unit='{unit_b}']")
    ).to_be_visible()
    shot(page, "12-admin-units")

    page.goto("/console/admin/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("Quản trị tài khoản")
    # a form with missing and hostile fields: a clear message, nothing made
    form = page.locator("#f-create")
    form.get_by_label("Vai trò").select_option("officer")
    form.get_by_label("Tên đăng nhập").fill("can-bo-thieu-don-vi")
    form.get_by_role("button", name="Tạo tài khoản").click()
    expect(form.get_by_role("alert")).to_contain_text("Cán bộ đơn vị cần chọn đơn vị")
    expect(form.get_by_label("Đơn vị (bắt buộc với cán bộ đơn vị)")).to_be_focused()
    form.get_by_label("Vai trò").select_option("viewer")
    form.get_by_label("Tên đăng nhập").fill("<script>alert(1)</script>")
    form.get_by_role("button", name="Tạo tài khoản").click()
    expect(form.get_by_role("alert")).to_contain_text("Tên đăng nhập gồm 2–64 ký tự")
    expect(form.get_by_label("Tên đăng nhập")).to_have_attribute("aria-invalid", "true")
    api = Api(page.context)
    names = [u["username"] for u in api.get("/api/admin/users")["items"]]
    assert "can-bo-thieu-don-vi" not in names and not [n for n in names if "script" in n]

    officer_a = f"can-bo-a-{tag}"
    password_a = _officer_on_screen(page, officer_a, unit_a)
    names = [u["username"] for u in api.get("/api/admin/users")["items"]]
    assert names.count(officer_a) == 1
    row = page.locator(f"#users tr[data-username='{officer_a}']")
    expect(row).to_contain_text(unit_a)
    expect(page.locator("#user-edit")).to_be_visible()
    shot(page, "13-admin-users")
    officer_b = f"can-bo-b-{tag}"
    password_b = "Mat-khau-phong-B-2026!"
    api.post(
        "/api/admin/users",
        {"username": officer_b, "role": "officer", "unit_id": unit_b, "password": password_b},
    )

    # the hotline turns a call into a ticket; the desk routes it to unit A
    call_id = f"call-{uuid.uuid4().hex[:8]}"
    system.hotline({"event": "call.new", "call_id": call_id, "caller": "0987 654 321"})
    category = api.get("/api/feedback/categories")[0]["code"]
    ticket = api.post(
        f"/api/feedback/calls/{call_id}/ticket",
        {"category": category, "description": f"Hỏi về cấp phép đào đường {tag}",
         "is_public": True},
    )  # fmt: skip
    api.post(f"/api/feedback/staff/tickets/{ticket['id']}/assign", {"unit_id": unit_a})
    code = ticket["public_id"]  # officers never see the secret tracking code

    # the unit's own officer answers on the screen
    officer = browser.new_context(base_url=system.url, locale="vi-VN")
    try:
        op = officer.new_page()
        login(op, officer_a, password_a, to="/console/feedback/inbox")
        expect(op.get_by_role("navigation").get_by_role("link", name="Quản trị")).to_have_count(0)
        op.locator(f"#inbox tr[data-code='{code}']").get_by_role("link", name=code).click()
        expect(op.locator("#t-code")).to_have_text(code)
        answer = f"Đơn vị A trả lời: nộp hồ sơ cấp phép đào đường tại bộ phận một cửa {tag}."
        op.get_by_label("Trả lời", exact=True).fill(answer)
        op.get_by_role("button", name="Gửi trả lời").click()
        expect(op.locator("#t-status")).to_have_attribute("data-status", "answered")
        op.get_by_role("button", name="Công khai câu trả lời").click()
        expect(op.locator("#flash")).to_contain_text("Đã công khai")
        shot(op, "14-officer-answer")
        op.goto("/console/admin/users")  # not theirs: a clear refusal page
        expect(op.locator("#forbidden")).to_contain_text("admin")
    finally:
        officer.close()

    # an officer of another unit is refused, clearly
    other = browser.new_context(base_url=system.url, locale="vi-VN")
    try:
        ob = other.new_page()
        login(ob, officer_b, password_b, to="/console/feedback/inbox")
        expect(ob.locator(f"#inbox tr[data-code='{code}']")).to_have_count(0)
        ob.goto(f"/console/feedback/tickets/{ticket['id']}")
        refusal = ob.locator("#ticket-error")
        expect(refusal).to_be_visible()
        expect(refusal).to_contain_text(re.compile(unit_b + "|không|not", re.I))
        expect(ob.get_by_label("Trả lời", exact=True)).to_be_hidden()  # no action offered
        shot(ob, "15-officer-other-unit-refused")
        resp = ob.context.request.post(
            f"/api/feedback/staff/tickets/{ticket['id']}/answer",
            data={"answer": "không phải việc của tôi"},
            headers={"X-CSRF-Token": Api(other).csrf},
        )
        assert resp.status in (403, 404), resp.text()
    finally:
        other.close()

    citizen = browser.new_context(base_url=system.url)
    try:
        public = citizen.new_page()
        public.goto(f"/console/track?code={ticket['code']}")  # the caller's secret code
        public.get_by_role("button", name="Tra cứu").click()
        expect(public.locator("#tr-answer")).to_contain_text("Đơn vị A trả lời")
        expect(public.locator("#tr-status")).to_have_text("Đã trả lời")
        shot(public, "16-public-answer")
    finally:
        citizen.close()
    assert page.js_errors == []


def test_expired_session_goes_to_sign_in_and_nothing_is_half_done(
    page: Any, browser: Any, system: System
) -> None:
    login(page, to="/console/admin/users")
    admin = Api(page.context)
    name = f"bien-tap-{uuid.uuid4().hex[:6]}"
    password = "Mat-khau-bien-tap-2026!"
    admin.post("/api/admin/users", {"username": name, "role": "publisher", "password": password})
    ctx = browser.new_context(base_url=system.url, locale="vi-VN")
    try:
        p = ctx.new_page()
        password = login(p, name, password, to="/console/publishing")  # changed as it must be
        title = f"Bài không được lưu {uuid.uuid4().hex[:6]}"
        p.get_by_label("Tiêu đề", exact=True).fill(title)
        p.get_by_label("Nội dung", exact=True).fill("Nội dung gõ trước khi phiên hết hạn.")
        assert system.expire_sessions(name) >= 1  # as if the working day had ended
        p.get_by_role("button", name="Lưu").click()
        expect(p.locator("#flash")).to_contain_text("Phiên đăng nhập đã hết hạn")
        p.wait_for_url(re.compile(r".*/console/login\?next=%2Fconsole%2Fpublishing.*expired=1"))
        expect(p.get_by_role("status").filter(has_text="hết hạn")).to_be_visible()
        shot(p, "17-session-expired")
        titles = [i["title"] for i in admin.get("/api/publishing/items?limit=200")]
        assert title not in titles  # nothing half-done
        # a page opened with the dead cookie goes to the sign-in page too, saying why
        p.goto("/console/media")
        p.wait_for_url(re.compile(r".*/console/login\?next=/console/media&expired=1$"))
        login_again = p.locator("#login-form")
        login_again.get_by_label("Tên đăng nhập").fill(name)
        login_again.get_by_label("Mật khẩu").fill(password)
        login_again.get_by_role("button", name="Đăng nhập").click()
        p.wait_for_url("**/console/media")
    finally:
        ctx.close()


def test_api_reference_page(page: Any) -> None:
    page.goto("/docs/api")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tài liệu API")
    op = page.locator('article.op[data-method="POST"][data-path="/api/admin/users"]')
    expect(op).to_contain_text("Vai trò: admin")
    expect(op.locator("table.fields").first).to_contain_text("username")
    op.locator("details.example summary").first.click()
    expect(op.locator("details.example pre").first).to_contain_text('"role"')
    expect(page.locator("#schema-Problem")).to_be_attached()
    shot(page, "18-api-reference")
    page.goto("/docs/api?lang=en")
    expect(page.get_by_role("heading", level=1)).to_have_text("API reference")
    assert page.js_errors == []


def _ready_asset(api: Api) -> dict[str, Any] | None:
    for a in api.get("/api/media/assets?limit=50&status=ready")["items"]:
        detail = api.get(f"/api/media/assets/{a['id']}")
        if {r["profile"] for r in detail["renditions"]} >= {"social", "tv"}:
            return dict(detail)
    return None


def test_social_and_tv_previews(page: Any, tmp_path: Path) -> None:
    login(page, to="/console/media")
    api = Api(page.context)
    asset = _ready_asset(api)
    if asset is None:  # run on its own: upload one
        clip = tmp_path / "clip-xem-truoc.mp4"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
             "-f", "lavfi", "-i", "sine=frequency=440", "-t", "2", "-c:v", "libx264",
             "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip)],
            check=True,
        )  # fmt: skip
        page.locator("#file-input").set_input_files(str(clip))
        expect(page.locator("li.upload").first).to_have_attribute("data-state", "done")
        page.wait_for_timeout(500)
        for _ in range(120):
            asset = _ready_asset(api)
            if asset:
                break
            page.wait_for_timeout(1000)
        assert asset, "no asset became ready"
    page.goto(f"/console/media?asset={asset['id']}")
    social = page.locator("#social-preview")
    expect(social.locator("figure.phone.vertical video")).to_have_attribute(
        "src", re.compile(r"/files/social/.*vertical\.mp4$")
    )
    expect(social.locator("figure.phone.square video")).to_have_attribute(
        "src", re.compile(r"/files/social/.*square\.mp4$")
    )
    box = social.locator("figure.phone.vertical video").bounding_box()
    assert box and box["height"] > box["width"] * 1.5  # framed upright, as on a phone
    tv = page.locator("#tv-preview")
    expect(tv).to_contain_text("Trình duyệt không phát được tệp MXF")
    expect(tv.locator("#tv-facts")).to_contain_text("LUFS")
    expect(tv.locator("#tv-facts")).to_contain_text("dBTP")
    expect(tv.locator("#tv-facts")).to_contain_text("1920×1080")
    expect(tv.get_by_role("link", name=re.compile("Tải bản truyền hình"))).to_have_attribute(
        "href", re.compile(r"/files/tv/.*\.mxf$")
    )
    expect(tv.locator("img")).to_have_attribute("src", re.compile(r"/files/thumbnails/"))
    playable = social.locator("figure.phone.vertical video").evaluate(
        "v => new Promise(r => { if (v.readyState >= 1) return r(true);"
        " setTimeout(() => r(false), 15000); v.onloadedmetadata = () => r(true);"
        " v.onerror = () => r(false); v.load(); })"
    )
    assert playable
    shot(page, "19-media-social-tv")
    assert page.js_errors == []


def _approved_item(api: Api, title: str, body: str = "Nội dung.") -> dict[str, Any]:
    item = api.post(
        "/api/publishing/items",
        {"kind": "article", "title": title, "summary": "Tóm tắt cho cổng.", "body": body},
    )
    for action in ("submit", "approve"):
        api.post(f"/api/publishing/items/{item['id']}/transitions", {"action": action})
    return dict(item)


def test_portal_page_escaped_and_404(page: Any, system: System) -> None:
    login(page, to="/console/publishing")
    api = Api(page.context)
    title = f"Lịch tiếp dân <b>tháng 3</b> {uuid.uuid4().hex[:6]}"
    item = _approved_item(api, title, "<p>Tiếp công dân tại <strong>bộ phận một cửa</strong>.</p>")
    api.post(f"/api/publishing/items/{item['id']}/deliveries", {"channel": "portal"})
    page.goto(f"/console/publishing/{item['id']}")
    row = page.locator("#deliveries tbody tr[data-channel=portal]")
    expect(row).to_have_attribute("data-status", "succeeded", timeout=30_000)
    href = row.get_by_role("link").get_attribute("href")
    assert href and href.endswith(f"/portal/{item['id']}")
    page.goto(href)
    entry = page.locator("#portal-entry")
    expect(entry.get_by_role("heading", level=1)).to_have_text(title)  # the tags as text
    expect(entry.locator(".body strong")).to_have_text("bộ phận một cửa")
    shot(page, "20-portal-entry")
    page.goto("/portal")
    expect(page.locator(f"#portal-list li[data-item='{item['id']}']")).to_be_visible()
    missing = requests.get(f"{system.url}/portal/{uuid.uuid4()}", timeout=20)
    assert missing.status_code == 404 and "Không tìm thấy bài viết" in missing.text
    api.post(
        f"/api/publishing/items/{item['id']}/transitions",
        {"action": "withdraw", "note": "Sai lịch"},
    )
    gone = requests.get(f"{system.url}/portal/{item['id']}", timeout=20)
    assert gone.status_code == 404, gone.text[:300]
    assert page.js_errors == []


def test_calendar_drag_and_keyboard_move(page: Any) -> None:
    login(page, to="/console/calendar")
    api = Api(page.context)
    today = _vn_today()
    monday = today + timedelta(days=7 - today.weekday() + 7)  # the week after next
    title = f"Lịch đổi ngày {uuid.uuid4().hex[:6]}"
    item = _approved_item(api, title)
    delivery = api.post(
        f"/api/publishing/items/{item['id']}/deliveries",
        {"channel": "portal", "at": f"{monday.isoformat()}T09:00"},
    )
    page.goto(f"/console/calendar?view=week&date={monday.isoformat()}")
    source = page.locator(f".cal-day[data-day='{monday}'] li[data-delivery='{delivery['id']}']")
    expect(source).to_be_visible()
    tuesday = monday + timedelta(days=1)
    source.drag_to(page.locator(f".cal-day[data-day='{tuesday}']"))
    expect(page.locator("#flash")).to_contain_text(f"Đã đổi lịch sang {tuesday} 09:00")
    moved = page.locator(f".cal-day[data-day='{tuesday}'] li", has_text=title[:20])
    expect(moved).to_have_attribute("data-status", "scheduled")
    rows = api.get(f"/api/publishing/deliveries?item_id={item['id']}")
    by_status = {r["status"]: r for r in rows}
    assert set(by_status) == {"cancelled", "scheduled"}, rows
    assert by_status["scheduled"]["local_time"].startswith(f"{tuesday}T09:00")
    shot(page, "21-calendar-moved")

    # the keyboard way: the ↔ button opens a form; a past time is refused by the server
    moved.get_by_role("button", name=re.compile("Đổi lịch")).focus()
    page.keyboard.press("Enter")
    form = page.locator("#cal-move")
    expect(form.get_by_label("Ngày mới")).to_be_focused()
    form.get_by_label("Ngày mới").fill((today - timedelta(days=1)).isoformat())
    form.get_by_label("Giờ mới").fill("08:00")
    form.get_by_role("button", name="Đổi lịch").click()
    expect(form.get_by_role("alert")).to_contain_text("đã qua")
    still = api.get(f"/api/publishing/deliveries?item_id={item['id']}")
    assert [r["status"] for r in still].count("scheduled") == 1  # nothing changed
    wednesday = monday + timedelta(days=2)
    form.get_by_label("Ngày mới").fill(wednesday.isoformat())
    form.get_by_label("Giờ mới").fill("10:15")
    form.get_by_role("button", name="Đổi lịch").click()
    expect(
        page.locator(f".cal-day[data-day='{wednesday}'] li", has_text=title[:20])
    ).to_be_visible()
    final = api.get(f"/api/publishing/deliveries?item_id={item['id']}")
    live = [r for r in final if r["status"] == "scheduled"]
    assert len(live) == 1 and live[0]["local_time"].startswith(f"{wednesday}T10:15")
    shot(page, "22-calendar-keyboard")
    assert page.js_errors == []
