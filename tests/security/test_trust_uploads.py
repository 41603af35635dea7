"""Issue 13, low finding: any editor could PATCH, HEAD, DELETE or commit another's tus upload.
An upload now belongs to the account that created it (media records its id and checks it on
every call, with the actor the gateway signed); an admin may look at and cancel any upload, never
write into it. Two real editor accounts, through the gateway, on the real media service."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests

from services.gateway.auth.testing import issue_token, signed_rpc
from shared.errors import Forbidden
from tests.media import conftest as media

media_env_factory = media.media_env_factory  # the fixture

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


class Editor:
    def __init__(self, env: Any, role: str, username: str) -> None:
        self.base = env.base
        token = issue_token(env.settings, role, username=username)
        self.headers = {"Authorization": "Bearer " + token, **TUS}

    def send(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        return requests.request(method, self.base + path, headers=headers, timeout=30, **kw)

    def create(self, length: int) -> str:
        name = base64.b64encode(b"phong-su.mp4").decode()
        headers = {"Upload-Length": str(length), "Upload-Metadata": f"filename {name}"}
        resp = self.send("POST", "/api/media/uploads", headers=headers)
        assert resp.status_code == 201, resp.text
        return "/api/media/uploads/" + resp.headers["Location"].rsplit("/", 1)[-1]

    def patch(self, path: str, offset: int, data: bytes) -> requests.Response:
        headers = {"Content-Type": OCTETS, "Upload-Offset": str(offset)}
        return self.send("PATCH", path, data=data, headers=headers)


@pytest.fixture
def env(media_env_factory: Any) -> Any:
    return media_env_factory()


def test_an_upload_is_only_its_creators(env: Any) -> None:
    an, binh = Editor(env, "editor", "bien-tap-an"), Editor(env, "editor", "bien-tap-binh")
    path = an.create(10)
    assert an.patch(path, 0, b"12345").status_code == 204
    for answer in (
        binh.send("HEAD", path),
        binh.patch(path, 5, b"67890"),
        binh.send("GET", path + "/status"),
        binh.send("DELETE", path),
    ):
        assert answer.status_code == 403, (answer.request.method, answer.text)
    head = an.send("HEAD", path)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == "5"
    # straight to media's commit with another editor's signed actor: refused there too
    upload_id = path.rsplit("/", 1)[-1]
    binh_actor = {"sub": "bien-tap-binh-id", "role": "editor"}
    with signed_rpc("media", env.settings) as media:
        with pytest.raises(Forbidden):
            media.upload_begin_patch(upload_id, 5, actor=binh_actor)
        with pytest.raises(Forbidden):
            media.upload_commit(upload_id, "lease", [], None, 0, 10, actor=binh_actor)
        with pytest.raises(Forbidden):
            media.upload_terminate(upload_id, actor=binh_actor)
    assert an.patch(path, 5, b"67890").status_code == 204


def test_an_admin_may_cancel_but_not_write(env: Any) -> None:
    an, admin = Editor(env, "editor", "bien-tap-an"), Editor(env, "admin", "quan-tri")
    path = an.create(10)
    assert admin.patch(path, 0, b"12345").status_code == 403
    assert admin.send("HEAD", path).status_code == 200
    assert admin.send("DELETE", path).status_code == 204
    assert an.send("HEAD", path).status_code == 410


def test_a_form_upload_is_its_creators_too(env: Any) -> None:
    an, binh = Editor(env, "editor", "bien-tap-an"), Editor(env, "editor", "bien-tap-binh")
    resp = an.send("POST", "/api/media/assets", files={"file": ("a.mp4", b"not really a clip")})
    assert resp.status_code == 202, resp.text
    status = f"/api/media/uploads/{resp.json()['id']}/status"
    assert an.send("GET", status).status_code == 200
    assert binh.send("GET", status).status_code == 403
