"""Moving a scheduled delivery to another time (the calendar's drag and drop, or its form).

Publishing does the move in one transaction (the old delivery cancelled, a new one of the same
item, channel and options at the new time): a refused time (past, embargo) or a delivery claimed
for sending meanwhile (409) changes nothing, so an item never goes out twice because of a move.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.http import RequestContext, route
from services.gateway.routes.publishing import actor


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
    moved = ctx.services.call("publishing", "reschedule_delivery", delivery_id, actor(ctx), body.at)
    return Rescheduled(**moved)
