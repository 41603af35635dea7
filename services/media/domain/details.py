"""What an editor says about a clip (title, description, tags, owning unit) — the words people
search by later. Plain rules: what a valid value is, read from an upload's metadata or an edit.

Text is kept as typed (NFC, control characters dropped) and shown escaped; HTML is just text.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from shared.errors import InvalidInput

TITLE_MAX = 500
DESCRIPTION_MAX = 20000
TAGS_MAX = 20
TAG_MAX = 60
SUBTITLES_TEXT_MAX = 200000
_UNIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FIELDS = ("title", "description", "tags", "unit_id")


def _text(value: Any, field: str, limit: int, multiline: bool) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text", field)
    keep = "\n\t" if multiline else ""
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n"))
    text = "".join(ch for ch in text if ch in keep or unicodedata.category(ch)[0] != "C")
    text = text.strip()
    if len(text) > limit:
        raise InvalidInput(f"{field} is limited to {limit} characters", field)
    return text


def clean_title(value: Any) -> str:
    title = _text(value, "title", TITLE_MAX, multiline=False)
    if not title:
        raise InvalidInput("Tiêu đề không được để trống / the title must not be empty", "title")
    return title


def clean_tags(value: Any) -> list[str]:
    """A list, or one string separated by commas; trimmed, de-duplicated, order kept."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        raise InvalidInput("tags must be a list of words", "tags")
    tags: list[str] = []
    for raw in value:
        tag = _text(raw, "tags", TAG_MAX, multiline=False)
        if tag and tag.casefold() not in {t.casefold() for t in tags}:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise InvalidInput(f"a clip has at most {TAGS_MAX} tags", "tags")
    return tags


def clean_unit(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _UNIT.match(value):
        raise InvalidInput("unit_id must be a unit code (letters, digits, . _ -)", "unit_id")
    return value


def clean(changes: dict[str, Any]) -> dict[str, Any]:
    """Only the fields given, each checked; unknown fields are an error, not ignored."""
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]} (known: {', '.join(FIELDS)})", unknown[0])
    out: dict[str, Any] = {}
    if "title" in changes:
        out["title"] = clean_title(changes["title"])
    if "description" in changes:
        out["description"] = _text(
            changes["description"] or "", "description", DESCRIPTION_MAX, multiline=True
        )
    if "tags" in changes:
        out["tags"] = clean_tags(changes["tags"] or [])
    if "unit_id" in changes:
        out["unit_id"] = clean_unit(changes["unit_id"])
    return out


def from_meta(meta: dict[str, str]) -> dict[str, Any]:
    """Description, tags and unit given with an upload (tus Upload-Metadata or form fields)."""
    given = {k: meta[k] for k in ("description", "tags") if meta.get(k)}
    unit = meta.get("unit_id") or meta.get("unit")
    if unit:
        given["unit_id"] = unit
    return clean(given)


def subtitles_text(vtt: str) -> str:
    """The words of a WebVTT file (no header, cue numbers, timings or tags), for search."""
    lines = []
    for line in vtt.splitlines():
        line = line.strip()
        if not line or line.startswith(("WEBVTT", "NOTE", "STYLE", "REGION")) or "-->" in line:
            continue
        if line.isdigit():
            continue
        lines.append(re.sub(r"<[^>]*>", "", line))
    return "\n".join(lines)[:SUBTITLES_TEXT_MAX]
