"""The envelope every event travels in: who, what, which version, when, and in which story."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.events.catalog import InvalidPayload, latest_version, validate_payload
from shared.ids import new_id


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=3, max_length=100, pattern=r"^[a-z_]+\.[a-z_]+$")
    version: int = Field(ge=1)
    occurred_at: datetime
    correlation_id: str | None = Field(None, max_length=100)
    producer: str = Field(min_length=1, max_length=50)
    payload: dict[str, Any]

    @classmethod
    def new(
        cls,
        event_type: str,
        payload: Any,
        *,
        producer: str,
        version: int | None = None,
        correlation_id: str | None = None,
    ) -> Envelope:
        version = version or latest_version(event_type)
        data = validate_payload(event_type, version, payload)
        return cls(
            id=new_id(),
            type=event_type,
            version=version,
            occurred_at=datetime.now(UTC),
            correlation_id=correlation_id,
            producer=producer,
            payload=data,
        )

    @classmethod
    def parse(cls, raw: Any) -> Envelope:
        """Validate a received message: envelope shape, known type and version, payload schema."""
        if isinstance(raw, (bytes, str)):
            try:
                raw = json.loads(raw)
            except ValueError as exc:
                raise InvalidPayload(f"message is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise InvalidPayload("message is not a JSON object")
        try:
            env = cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "envelope"
            raise InvalidPayload(f"envelope is invalid at {where}: {first['msg']}") from None
        validate_payload(env.type, env.version, env.payload)
        return env

    def to_json(self) -> str:
        return self.model_dump_json()
