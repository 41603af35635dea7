"""Errors the users can act on, one hierarchy for every service.

Each error knows its HTTP status and renders as RFC 9457 problem details at the gateway. They are
plain exceptions (args = detail, field) so they survive nameko RPC and are re-raised as themselves
in the caller (see shared.rpc).
"""

from __future__ import annotations

from typing import Any, ClassVar


class LoaError(Exception):
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Lỗi hệ thống / Internal error"
    slug: ClassVar[str] = "internal"

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail, field)
        self.detail = detail
        self.field = field

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        problem: dict[str, Any] = {
            "type": f"https://loa.example/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field:
            problem["errors"] = [{"field": self.field, "message": self.detail}]
        if instance:
            problem["instance"] = instance
        return problem


class InvalidInput(LoaError):
    status = 422
    title = "Dữ liệu không hợp lệ / Invalid input"
    slug = "invalid-input"


class BadRequest(LoaError):
    status = 400
    title = "Yêu cầu không hợp lệ / Bad request"
    slug = "bad-request"


class NotFound(LoaError):
    status = 404
    title = "Không tìm thấy / Not found"
    slug = "not-found"


class Conflict(LoaError):
    status = 409
    title = "Xung đột / Conflict"
    slug = "conflict"


class Forbidden(LoaError):
    status = 403
    title = "Không có quyền / Forbidden"
    slug = "forbidden"


class Unauthorized(LoaError):
    status = 401
    title = "Chưa đăng nhập / Unauthorized"
    slug = "unauthorized"


class PayloadTooLarge(LoaError):
    status = 413
    title = "Dữ liệu quá lớn / Payload too large"
    slug = "payload-too-large"


class Unavailable(LoaError):
    status = 503
    title = "Tạm thời không phục vụ được / Service unavailable"
    slug = "unavailable"


ALL_ERRORS: tuple[type[LoaError], ...] = (
    LoaError,
    InvalidInput,
    BadRequest,
    NotFound,
    Conflict,
    Forbidden,
    Unauthorized,
    PayloadTooLarge,
    Unavailable,
)
