"""Moving a scheduled delivery to another time (the calendar's drag and drop, or its form).

Publishing has no "move" of its own: a move is a new delivery of the same item on the same
channel at the new time, then the old one cancelled. The new time is checked by publishing as any
schedule is (past, embargo, channel); if it is refused nothing changed. If the old delivery was
sent in the meantime the new one is cancelled again and the move is refused (409), so an item
never goes out twice because of a move.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.http import RequestContext, route
from services.gateway.routes.publishing import actor
from shared.errors import Conflict
from shared.runtime.rpc import as_loa_error

MOVABLE = ("scheduled", "waiting_media")
NOT_COPIED = ("article_id",)
"""Options publishing adds itself when scheduling (not the author's choice)."""


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: str = Field(
        min_length=10,
        max_length=40,
        description="New time: ISO wall clock in the delivery's time zone unless it has an offset",
        examples=["2026-03-02T07:30"],
    )


class Rescheduled(BaseModel):
    delivery: dict[str, Any] = Field(description="The delivery at the new time")
    replaced: str = Field(description="Id of the cancelled delivery it replaces")


@route(
    "POST",
    "/api/publishing/deliveries/<delivery_id>/reschedule",
    summary="Move a delivery not yet sent to another time (the calendar's drag and drop)",
    tags=["publishing"],
    request_model=RescheduleIn,
    response_model=Rescheduled,
    responses={
        200: "Moved",
        404: "No such delivery",
        409: "Already sent, sending or cancelled",
        422: "The new time is in the past, under embargo or malformed",
    },
)
def reschedule(ctx: RequestContext, delivery_id: str) -> Any:
    body = ctx.json(RescheduleIn)
    who = actor(ctx)
    old = ctx.services.call("publishing", "get_delivery", delivery_id)
    if old["status"] not in MOVABLE:
        raise Conflict(
            f"Chỉ đổi lịch được lượt chưa gửi (lượt này: {old['status']}) / only deliveries not "
            f"yet sent can be moved (this one is {old['status']})",
            "status",
        )
    options = {k: v for k, v in (old.get("options") or {}).items() if k not in NOT_COPIED}
    new = ctx.services.call(
        "publishing", "schedule", old["item_id"], old["channel"], who,
        at=body.at, tz=old.get("tz") or "Asia/Ho_Chi_Minh", options=options,
    )  # fmt: skip
    try:
        ctx.services.call("publishing", "cancel_delivery", delivery_id, who)
    except Exception as exc:  # noqa: BLE001 - undo the new one whatever went wrong
        ctx.services.call("publishing", "cancel_delivery", new["id"], who)
        known = as_loa_error(exc)
        if known is None or known.status != 409:
            raise
        raise Conflict(
            "Lượt gửi vừa được gửi đi nên không đổi lịch được / the delivery was sent meanwhile, "
            "so it cannot be moved any more",
            "status",
        ) from None
    return Rescheduled(delivery=new, replaced=delivery_id)
