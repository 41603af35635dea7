"""Per-clip extras: Vietnamese subtitles (SRT or WebVTT) and the center's logo overlay.

Pure rules (what a valid option or subtitle file is, which profiles an option touches); the
pipeline fetches the files and the profiles put them in the ffmpeg command lines.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from typing import Any

from shared.errors import InvalidInput, PayloadTooLarge

LOGO_PREFIX = "branding/"
"""Logo images live here in object storage; a request may only name a key under it."""
LOGO_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
LOGO_MAX_BYTES = 2 * 1024 * 1024
LOGO_MAX_SIDE = 4096
LOGO_CODECS = {"png": ".png", "mjpeg": ".jpg", "webp": ".webp"}
"""ffprobe's codec name of an accepted logo image → the suffix it is stored under."""
_LOGO_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SUBTITLE_MAX_BYTES = 2 * 1024 * 1024
SUBTITLE_PROFILES = ("web",)
"""Profiles that carry the subtitles as text (social burns them in only when asked)."""
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def check_logo(value: str) -> str:
    """'default' (LOA_MEDIA_LOGO_KEY), 'none', or an image key under branding/."""
    value = value.strip()
    if value in ("default", "none"):
        return value
    if (
        not value.startswith(LOGO_PREFIX)
        or ".." in value.split("/")
        or not value.lower().endswith(LOGO_SUFFIXES)
        or len(value) > 300
        or any(unicodedata.category(ch)[0] == "C" for ch in value)
    ):
        raise InvalidInput(
            f"logo must be 'default', 'none' or an image key under {LOGO_PREFIX} "
            f"({', '.join(LOGO_SUFFIXES)})",
            "logo",
        )
    return value


def check_logo_name(name: str) -> str:
    """A logo's name is a short slug (it becomes part of an object key, never a path)."""
    if not _LOGO_NAME.match(name or ""):
        raise InvalidInput(
            "Tên logo chỉ gồm chữ thường không dấu, số và dấu gạch ngang (tối đa 63 ký tự) / "
            "a logo name is lower-case letters, digits and hyphens (up to 63)",
            "name",
        )
    return name


def check_logo_image(data: bytes, streams: list[dict[str, Any]]) -> str:
    """The suffix a logo is stored under, from what ffprobe saw in its bytes (the client's
    Content-Type is not trusted); a reason the editor can act on otherwise."""
    if not data:
        raise InvalidInput("Tệp logo rỗng / the logo file is empty", "file")
    if len(data) > LOGO_MAX_BYTES:
        raise PayloadTooLarge(f"logo images are limited to {LOGO_MAX_BYTES // 1024} KiB", "file")
    video = [st for st in streams if st.get("codec_type") == "video"]
    codec = str(video[0].get("codec_name")) if len(video) == 1 else ""
    if codec not in LOGO_CODECS:
        raise InvalidInput(
            "Logo phải là ảnh PNG, JPEG hoặc WebP / the logo must be a PNG, JPEG or WebP image",
            "file",
        )
    width, height = int(video[0].get("width") or 0), int(video[0].get("height") or 0)
    if not (16 <= width <= LOGO_MAX_SIDE and 16 <= height <= LOGO_MAX_SIDE):
        raise InvalidInput(
            f"Logo phải từ 16 đến {LOGO_MAX_SIDE} điểm ảnh mỗi chiều / the logo must be 16 to "
            f"{LOGO_MAX_SIDE} pixels on each side (it is {width}x{height})",
            "file",
        )
    return LOGO_CODECS[codec]


def check_flag(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidInput(f"{field} must be true or false", field)


def options_from_meta(meta: dict[str, str]) -> dict[str, Any]:
    """Options given with the upload (tus Upload-Metadata or form fields): logo, burn_subtitles."""
    options: dict[str, Any] = {}
    if "logo" in meta:
        options["logo"] = check_logo(meta["logo"])
    if "burn_subtitles" in meta:
        options["burn_subtitles"] = check_flag(meta["burn_subtitles"], "burn_subtitles")
    return options


def logo_key(options: dict[str, Any], default_key: str | None) -> str | None:
    choice = options.get("logo", "default")
    if choice == "none":
        return None
    if choice == "default":
        return default_key or None
    return str(choice)


def check_lang(lang: str) -> str:
    if not _LANG.match(lang or ""):
        raise InvalidInput("lang must be a language code such as vi or en", "lang")
    return lang


def decode_subtitles(data: bytes) -> str:
    """Subtitle bytes as NFC text: UTF-8 (with or without BOM), UTF-16 with BOM, or the
    Windows Vietnamese code page 1258 that older editors still save in."""
    if not data.strip():
        raise InvalidInput("Tệp phụ đề rỗng / the subtitle file is empty", "file")
    if len(data) > SUBTITLE_MAX_BYTES:
        raise PayloadTooLarge(
            f"subtitle files are limited to {SUBTITLE_MAX_BYTES // 1024} KiB", "file"
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1258", errors="replace")
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    if "-->" not in text:
        raise InvalidInput(
            "Không phải tệp phụ đề SRT/WebVTT / not an SRT or WebVTT file (no cue timings)", "file"
        )
    return text


def subtitle_key(asset_id: str, lang: str) -> str:
    return f"assets/{asset_id}/subtitles/{lang}.vtt"


def cue_count(vtt: str) -> int:
    return sum(1 for line in vtt.splitlines() if "-->" in line)


def affected_profiles(
    before: dict[str, Any],
    after: dict[str, Any],
    logo_profiles: list[str],
    default_logo: str | None,
) -> list[str]:
    """Which profiles must be made again when a clip's options change."""
    touched: set[str] = set()
    if logo_key(before, default_logo) != logo_key(after, default_logo):
        touched.update(logo_profiles)
    subs_before, subs_after = before.get("subtitles"), after.get("subtitles")
    if subs_before != subs_after:
        touched.update(SUBTITLE_PROFILES)
        if before.get("burn_subtitles") or after.get("burn_subtitles"):
            touched.add("social")
    elif bool(before.get("burn_subtitles")) != bool(after.get("burn_subtitles")) and subs_after:
        touched.add("social")
    return sorted(touched)
