"""What each channel accepts and how hard it is retried: data, not code paths."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024
ALL_KINDS = frozenset({"article", "bulletin", "video_post", "document"})


@dataclass(frozen=True)
class ChannelPolicy:
    name: str
    label: str
    kinds: frozenset[str]
    max_image_bytes: int
    max_images: int
    inline_attempts: int
    """Tries within one send (tenacity), for blips that clear in seconds."""
    backoff_s: float
    """First delay before the delivery is tried again later; doubles each time."""
    backoff_cap_s: float
    max_attempts: int
    """After this many scheduled attempts a transient failure becomes permanent."""


CHANNELS: dict[str, ChannelPolicy] = {
    p.name: p
    for p in (
        ChannelPolicy("press", "Báo Bình Dương", frozenset({"article", "bulletin", "document"}),
                      20 * MiB, 10, 3, 30, 1800, 8),
        ChannelPolicy("tv", "Đài PTTH Bình Dương", frozenset({"video_post"}),
                      20 * MiB, 1, 3, 60, 3600, 8),
        ChannelPolicy("facebook", "Facebook Page", ALL_KINDS, 4 * MiB, 10, 3, 60, 3600, 6),
        ChannelPolicy("zalo", "Zalo OA", ALL_KINDS, 1 * MiB, 1, 3, 60, 3600, 6),
        ChannelPolicy("youtube", "YouTube", frozenset({"video_post"}), 2 * MiB, 1, 3, 120,
                      7200, 6),
        ChannelPolicy("portal", "Cổng thông tin", ALL_KINDS, 5 * MiB, 20, 2, 5, 300, 10),
        ChannelPolicy("ebulletin", "Bản tin điện tử", frozenset({"bulletin"}), 1 * MiB, 10, 2,
                      60, 3600, 6),
    )
}  # fmt: skip
