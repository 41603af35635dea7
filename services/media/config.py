"""The media service's own settings (LOA_MEDIA_*), validated at start like shared.config.

They live here rather than in shared.config because only media reads them; a test or a runner
can hand a ready MediaSettings to the container under MEDIA_SETTINGS_KEY instead of using env.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MEDIA_SETTINGS_KEY = "LOA_MEDIA_SETTINGS"
KNOWN_PROFILES = ("preview", "thumbnails", "web", "social", "tv")


class MediaSettings(BaseSettings):
    """Limits, tools and transcode defaults of the media service."""

    model_config = SettingsConfigDict(env_prefix="LOA_MEDIA_", extra="ignore", frozen=True)

    max_upload_bytes: int = Field(16 * 1024**3, ge=1, description="Largest upload accepted")
    max_form_upload_bytes: int = Field(
        200 * 1024**2, ge=1, description="Largest plain multipart/form-data upload"
    )
    max_duration_s: float = Field(4 * 3600, gt=0, description="Longest clip accepted (seconds)")
    upload_expiry_s: int = Field(24 * 3600, ge=60, description="Unfinished uploads expire after")
    part_size: int = Field(
        8 * 1024**2, ge=5 * 1024**2, le=256 * 1024**2, description="Bytes per storage part"
    )
    ffmpeg: str = Field("ffmpeg", description="ffmpeg binary")
    ffprobe: str = Field("ffprobe", description="ffprobe binary")
    workers: int = Field(1, ge=1, le=32, description="Jobs one media process runs at once")
    ffmpeg_threads: int = Field(
        0, ge=0, le=64, description="Threads per ffmpeg job; 0 = cores / workers"
    )
    profiles: str = Field(
        ",".join(KNOWN_PROFILES), description="Profiles made for every asset, preview first"
    )
    x264_preset: str = Field("veryfast", description="x264 preset of web/social/preview")
    hls_segment_s: int = Field(4, ge=1, le=20, description="HLS segment length")
    social_lufs: float = Field(-14.0, ge=-40, le=-5, description="Social loudness target")
    tv_lufs: float = Field(-23.0, ge=-40, le=-5, description="TV loudness target (EBU R128)")
    tv_true_peak: float = Field(-1.0, ge=-9, le=0, description="TV true-peak ceiling (dBTP)")
    logo_key: str | None = Field(
        None,
        description="Object key of the center's logo (PNG with transparency), overlaid on the "
        "logo profiles unless a clip says otherwise; a clip may name another key under branding/",
    )
    logo_profiles: str = Field("web,social", description="Profiles that carry the logo")
    scratch_dir: Path | None = Field(None, description="Where jobs write before publishing")
    job_timeout_s: int = Field(6 * 3600, ge=10, description="An ffmpeg run longer than this fails")

    @field_validator("profiles")
    @classmethod
    def _profiles(cls, value: str) -> str:
        names = [p.strip() for p in value.split(",") if p.strip()]
        unknown = [n for n in names if n not in KNOWN_PROFILES]
        if unknown:
            raise ValueError(f"unknown profiles {unknown}; known: {list(KNOWN_PROFILES)}")
        return ",".join(names)

    @field_validator("logo_profiles")
    @classmethod
    def _logo_profiles(cls, value: str) -> str:
        names = [p.strip() for p in value.split(",") if p.strip()]
        unknown = [n for n in names if n not in ("web", "social")]
        if unknown:
            raise ValueError(f"the logo goes on web and social only, not {unknown}")
        return ",".join(names)

    @property
    def logo_profile_list(self) -> list[str]:
        return [p for p in self.logo_profiles.split(",") if p]

    @property
    def profile_list(self) -> list[str]:
        """Profiles in the order jobs are queued: preview always first, so editors see it soon."""
        names = self.profiles.split(",") if self.profiles else []
        return sorted(names, key=lambda n: (n != "preview", KNOWN_PROFILES.index(n)))

    @property
    def threads(self) -> int:
        if self.ffmpeg_threads:
            return self.ffmpeg_threads
        return max(1, (os.cpu_count() or 1) // self.workers)


def media_settings_of(config: dict[str, Any]) -> MediaSettings:
    """From the nameko config if a runner or test put them there, else from the environment."""
    value = config.get(MEDIA_SETTINGS_KEY)
    if isinstance(value, MediaSettings):
        return value
    return MediaSettings()
