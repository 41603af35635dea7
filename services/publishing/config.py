"""Channel credentials and knobs, from the environment only (LOA_PUB_*).

Kept beside the service rather than in shared/config.py: no other service needs a Facebook page
token. A channel whose credentials are missing cannot be scheduled, and says so.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChannelSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOA_PUB_", extra="ignore", frozen=True)

    press_target: str | None = Field(
        None,
        description="Newspaper drop: ftpes://user:pass@host:port/dir (FTP over explicit TLS, "
        "certificate verified) or s3s://access:secret@host:port/bucket/prefix",
    )
    allow_plain_ftp: bool = Field(
        False,
        description="Accept ftp:// drops, whose password and files travel in clear (only on a "
        "network where nobody can listen)",
    )
    tv_target: str | None = Field(None, description="TV watch folder, same forms as press_target")
    facebook_graph_url: str = Field("https://graph.facebook.com/v21.0")
    facebook_page_id: str | None = None
    facebook_page_token: str | None = None
    zalo_api_url: str = Field("https://openapi.zalo.me")
    zalo_access_token: str | None = None
    zalo_cover_url: str | None = Field(
        None, description="Cover photo of Zalo articles whose item has no image"
    )
    youtube_api_url: str = Field("https://www.googleapis.com")
    youtube_access_token: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: Literal["starttls", "smtps", "none"] = Field(
        "starttls",
        description="TLS to the e-bulletin's SMTP server, certificate verified (LOA_TLS_CA_FILE): "
        "starttls (required, not 'if offered'), smtps (implicit), or none (only without a login)",
    )
    smtp_from: str = "Ban tin Hanh chinh cong <bantin@loa.example>"
    portal_url: str | None = Field(None, description="Public base URL of item pages")
    allow_self_approval: bool = Field(
        False,
        description="Let a publisher approve an item they wrote or edited (a one-person center)",
    )
    attention_after: int = Field(3, ge=1, description="Permanent failures before 'needs attention'")
    lease_s: float = Field(30.0, gt=0, description="How long a claimed delivery stays claimed")
    http_timeout_s: float = Field(20.0, gt=0)
    scheduler_interval_s: float = Field(0.2, gt=0)
    scheduler_batch: int = Field(200, ge=1)

    def configured(self, channel: str) -> bool:
        """Whether a channel has what it needs to transmit."""
        return {
            "press": bool(self.press_target),
            "tv": bool(self.tv_target),
            "facebook": bool(self.facebook_page_id and self.facebook_page_token),
            "zalo": bool(self.zalo_access_token),
            "youtube": bool(self.youtube_access_token),
            "ebulletin": bool(self.smtp_host),
            "portal": True,
        }.get(channel, False)
