"""What a file is (from ffprobe's JSON) and whether loa can use it, with reasons people can act on.

Parsing and judging are pure functions of the probe data so every rule is testable without
ffmpeg; the pipeline runs the tools and feeds them in.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from pydantic import BaseModel

STILL_IMAGE_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "gif", "bmp_pipe", "tiff")
ACCEPTED_DEMUXERS = (
    "mov",  # mov, mp4, m4a, 3gp, 3g2, mj2: phones, cameras, editors' exports
    "matroska",  # mkv, webm
    "avi",
    "mpegts",  # ts, m2ts (AVCHD cameras)
    "mpeg",  # mpg, vob, mod (program streams)
    "mxf",  # broadcast
    "flv",
    "asf",  # wmv, wma
    "dv",
    "wav",
    "w64",
    "aiff",
    "mp3",
    "ogg",
    "flac",
    "aac",
)
"""The containers loa accepts, by ffmpeg demuxer name. None of them opens another file or URL
(a playlist, concat list or reference demuxer would: HLS, DASH, concat, image2 sequences...).
ffprobe is told to use these demuxers only, and parse() checks what it found again."""
PROBE_DEMUXERS = ACCEPTED_DEMUXERS + ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "gif",
                                      "bmp_pipe", "tiff_pipe")  # fmt: skip
"""What ffprobe may recognise in an upload: the accepted containers, and still images so that
the editor is told the file is a picture rather than an unknown format."""
FORMAT_REFUSED = (
    "Định dạng tệp không được nhận / loa does not accept this file format: upload a video or "
    "audio file (MP4, MOV, MKV, WebM, AVI, MPEG-TS, MXF, FLV, WMV, WAV, MP3, OGG, FLAC, AAC); "
    "playlists (HLS .m3u8), concat lists and other files that point to other files are refused"
)


def accepted(container: str) -> bool:
    """Whether ffprobe's format_name (e.g. "mov,mp4,m4a,3gp,3g2,mj2") is an accepted demuxer."""
    return any(name in ACCEPTED_DEMUXERS for name in container.split(","))
INTERLACED_ORDERS = ("tt", "bb", "tb", "bt")


class Rejected(Exception):
    """The file is not usable; reason is shown to the editor as is (Vietnamese / English)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VideoInfo(BaseModel):
    codec: str
    profile: str | None = None
    width: int
    height: int
    display_width: int
    display_height: int
    rotation: int = 0
    fps: float
    """Average frame rate (frames / duration)."""
    nominal_fps: float | None = None
    """Base rate (ffprobe's r_frame_rate): a VFR phone clip's 30 while it averages 24."""
    variable_frame_rate: bool = False
    pix_fmt: str | None = None
    bit_depth: int = 8
    interlaced: bool = False
    field_order: str | None = None


class AudioInfo(BaseModel):
    codec: str
    channels: int
    channel_layout: str | None = None
    sample_rate: int


class LoudnessInfo(BaseModel):
    integrated_lufs: float
    threshold_lufs: float
    lra_lu: float
    true_peak_dbtp: float


class ProbeResult(BaseModel):
    container: str
    duration_s: float
    size: int
    bit_rate: int | None = None
    video: VideoInfo | None = None
    audio: AudioInfo | None = None
    audio_streams: int = 0
    loudness: LoudnessInfo | None = None

    @property
    def kind(self) -> str:
        return "video" if self.video else "audio"


def _rate(text: str | None) -> float:
    try:
        value = Fraction(text or "0")
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(value) if value > 0 else 0.0


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return int(round(float(side["rotation"]))) % 360
    tag = (stream.get("tags") or {}).get("rotate")
    return int(tag) % 360 if tag and str(tag).lstrip("-").isdigit() else 0


def _bit_depth(stream: dict[str, Any]) -> int:
    raw = stream.get("bits_per_raw_sample")
    if raw and str(raw).isdigit():
        return int(raw)
    pix = stream.get("pix_fmt") or ""
    for depth in (16, 14, 12, 10):
        if f"p{depth}" in pix:
            return depth
    return 8


def parse(data: dict[str, Any], size: int) -> ProbeResult:
    """The facts loa keeps about a file; Rejected when ffprobe found nothing playable."""
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    container = str(fmt.get("format_name") or "unknown")
    if not accepted(container) and container not in STILL_IMAGE_FORMATS + PROBE_DEMUXERS:
        raise Rejected(f"{FORMAT_REFUSED} ({container})")
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    if not videos and not audios:
        raise Rejected(
            "Tệp không có hình hay tiếng / the file has no video or audio stream "
            f"(container: {container})"
        )
    if container in STILL_IMAGE_FORMATS or (videos and not audios and container.endswith("_pipe")):
        raise Rejected(
            "Đây là ảnh tĩnh, không phải video / this is a still image, not a video "
            f"({container}); upload a video or audio clip"
        )
    duration = _rate(str(fmt.get("duration") or "0"))
    if duration <= 0:
        durations = [_rate(str(s.get("duration") or "0")) for s in videos + audios]
        duration = max(durations, default=0.0)
    video = None
    if videos:
        v = videos[0]
        width, height = int(v.get("width") or 0), int(v.get("height") or 0)
        if width <= 0 or height <= 0:
            raise Rejected("Video không có kích thước / the video stream has no picture size")
        rotation = _rotation(v)
        swap = rotation in (90, 270)
        avg, real = _rate(v.get("avg_frame_rate")), _rate(v.get("r_frame_rate"))
        fps = avg or real
        field_order = v.get("field_order")
        video = VideoInfo(
            codec=str(v.get("codec_name") or "unknown"),
            profile=v.get("profile"),
            width=width,
            height=height,
            display_width=height if swap else width,
            display_height=width if swap else height,
            rotation=rotation,
            fps=round(fps, 3),
            nominal_fps=round(real, 3) if real else None,
            variable_frame_rate=bool(avg and real and abs(avg - real) > 0.01 * real),
            pix_fmt=v.get("pix_fmt"),
            bit_depth=_bit_depth(v),
            interlaced=field_order in INTERLACED_ORDERS,
            field_order=field_order,
        )
    audio = None
    if audios:
        a = audios[0]
        audio = AudioInfo(
            codec=str(a.get("codec_name") or "unknown"),
            channels=int(a.get("channels") or 0),
            channel_layout=a.get("channel_layout"),
            sample_rate=int(a.get("sample_rate") or 0),
        )
    bit_rate = fmt.get("bit_rate")
    return ProbeResult(
        container=container,
        duration_s=round(duration, 3),
        size=size,
        bit_rate=int(bit_rate) if bit_rate and str(bit_rate).isdigit() else None,
        video=video,
        audio=audio,
        audio_streams=len(audios),
    )


def reason_for_probe_failure(tool_message: str) -> str:
    """ffprobe's complaint turned into what the editor should do about it."""
    low = tool_message.lower()
    if "not on whitelist" in low:
        return FORMAT_REFUSED
    if "moov atom not found" in low or "partial file" in low or "end of file" in low:
        return (
            "Tệp bị cắt cụt (tải lên dở hoặc ghi hình chưa xong) / the file is cut off: the "
            f"upload or the recording did not finish; upload the complete file ({tool_message})"
        )
    return (
        "Không phải tệp video hay âm thanh đọc được / not a video or audio file loa can read; "
        f"check that it is the right file ({tool_message})"
    )


TAIL_S = 2.0
"""The check decode covers the clip's last seconds."""
TAIL_SLACK_S = 0.75


def tail_start(duration_s: float) -> float:
    return max(duration_s - TAIL_S, 0.0)


def check_usable(
    probe: ProbeResult,
    max_duration_s: float,
    decode_errors: list[str],
    tail_decoded_s: float | None = None,
) -> None:
    """Rejected unless the clip has a length within limits and decodes to its end.

    tail_decoded_s: how much of the last TAIL_S seconds decoded. A file cut off after its index
    (moov first, as phones' "optimized" exports write it) probes fine and only stops short.
    """
    if probe.duration_s <= 0:
        raise Rejected("Không xác định được thời lượng / the clip has no duration")
    if probe.duration_s > max_duration_s:
        raise Rejected(
            f"Clip dài {probe.duration_s:.0f}s, vượt giới hạn {max_duration_s:.0f}s / the clip "
            f"lasts {probe.duration_s:.0f}s, longer than the {max_duration_s:.0f}s allowed; "
            "cut it into shorter parts"
        )
    serious = [e for e in decode_errors if _is_serious(e)]
    if serious:
        raise Rejected(reason_for_probe_failure(serious[-1].strip()))
    expected = probe.duration_s - tail_start(probe.duration_s)
    if tail_decoded_s is not None and tail_decoded_s < expected - TAIL_SLACK_S:
        raise Rejected(
            "Tệp bị cắt cụt (tải lên dở hoặc ghi hình chưa xong) / the file is cut off: its last "
            f"{expected - tail_decoded_s:.1f}s cannot be read; upload the complete file"
        )


def _is_serious(line: str) -> bool:
    low = line.lower()
    return any(
        word in low
        for word in ("partial file", "invalid data", "error while decoding", "end of file")
    )
