"""Transcode profiles as ffmpeg command lines: pure functions of the probe and the settings.

Every profile decodes the source once and feeds all of its outputs through `split`, so a web
ladder of four rungs costs one decode, not four. Threads are bounded per job so parallel jobs
share the cores instead of fighting over them.

TV deliverable: XDCAM HD422-style MPEG-2 4:2:2 long-GOP at 50 Mb/s CBR, 1920x1080 25p, in MXF
OP1a with 24-bit 48 kHz PCM. Why: it is the file format broadcast playout and ingest servers
(Sony XDCAM, Grass Valley K2, Harmonic, and the stations' own archive) accept without
re-encoding; PCM avoids a second lossy audio generation before the station's own processing,
CBR and a closed 12-frame GOP are what their ingest checks expect, and MPEG-2 encodes several
times faster than H.264 at that bitrate.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from services.media.domain.probe import ProbeResult

WEB_LADDER: tuple[tuple[int, int], ...] = ((1080, 5000), (720, 2800), (480, 1400), (360, 800))
"""(short side in pixels, video kbit/s) of the HLS rungs."""
WEB_MP4_SHORT_SIDE = 720
AUDIO_KBPS = 128
TV_SIZE = (1920, 1080)
TV_FPS = 25
SOCIAL_SIZES = {"vertical": (1080, 1920), "square": (1080, 1080)}
SILENCE_LUFS = -70.0
"""ebur128 reports silence as -70 LUFS: nothing to normalize."""
PREVIEW_PRESET = "superfast"
"""x264 preset of the preview (High profile kept): it must be ready long before the rest."""
X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
    "veryslow", "placebo",
)  # fmt: skip
STANDARD_RATES = tuple(
    Fraction(n, d)
    for n, d in ((24000, 1001), (24, 1), (25, 1), (30000, 1001), (30, 1), (48, 1), (50, 1),
                 (60000, 1001), (60, 1))
)  # fmt: skip
LOGO_SHORT_SIDE = 0.18
"""Logo width as a share of the picture's short side (placed top right, margin 4 %)."""
LOGO_MARGIN = 0.04
SUBTITLE_FONT = "DejaVu Sans"
"""A font with every Vietnamese letter (fonts-dejavu-core on Debian)."""
LANGUAGES = {"vi": ("vie", "Tiếng Việt"), "en": ("eng", "English")}
"""BCP 47 code → (ISO 639-2 code for containers, name shown in players)."""


@dataclass(frozen=True)
class Output:
    """One published file of a job (HLS segments travel with their playlist's folder)."""

    name: str
    path: str
    content_type: str
    info: dict[str, Any] = field(default_factory=dict)
    folder: bool = False


@dataclass
class Plan:
    profile: str
    args: list[str]
    outputs: list[Output]
    duration_s: float
    loudness_target: float | None = None
    true_peak_max: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    """The settings a plan depends on (a subset of MediaSettings)."""

    threads: int = 2
    x264_preset: str = "veryfast"
    hls_segment_s: int = 4
    social_lufs: float = -14.0
    tv_lufs: float = -23.0
    tv_true_peak: float = -1.0
    logo: str | None = None
    """Local path of the logo image to overlay (web and social), or None."""
    subtitles: str | None = None
    """Local path of the clip's WebVTT subtitles, or None."""
    subtitle_lang: str = "vi"
    burn_subtitles: bool = False
    """Social: render the subtitles into the picture (feeds autoplay muted)."""


def even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def out_rate(probe: ProbeResult, cap: int = 60) -> Fraction:
    """Constant output rate (every output is CFR, so VFR phone clips play smoothly).

    The source's average rate, or for a variable-rate clip its nominal rate (a phone that drops
    to 15 fps in low light is still a 30 fps clip); snapped to the nearest standard rate when
    within 2 %; above cap, divided by the smallest whole number that fits (50 → 25, not 30,
    so motion keeps an even cadence).
    """
    v = probe.video
    rate = Fraction(v.fps).limit_denominator(1001) if v and v.fps > 0 else Fraction(25)
    if v and v.variable_frame_rate and v.nominal_fps:
        nominal = Fraction(v.nominal_fps).limit_denominator(1001)
        if rate <= nominal * Fraction(102, 100) and nominal <= rate * Fraction(5, 2):
            rate = nominal
    nearest = min(STANDARD_RATES, key=lambda r: abs(r - rate))
    if abs(nearest - rate) <= nearest * Fraction(2, 100):
        rate = nearest
    if rate > cap:
        rate = rate / math.ceil(rate / cap)
    return rate


def out_fps(probe: ProbeResult, cap: int = 60) -> float:
    return round(float(out_rate(probe, cap)), 3)


def rate_arg(rate: Fraction) -> str:
    return f"{rate.numerator}/{rate.denominator}"


def _prefix(probe: ProbeResult) -> str:
    """Deinterlace only what is flagged interlaced (bwdif: smooth motion, full frame rate)."""
    if probe.video and probe.video.interlaced:
        return "bwdif=mode=send_frame:parity=auto:deint=interlaced,"
    return ""


def scaled_size(probe: ProbeResult, short_side: int) -> tuple[int, int]:
    """Display size with its short side at short_side (never upscaled), both even."""
    assert probe.video is not None
    w, h = probe.video.display_width, probe.video.display_height
    short = min(w, h)
    target = min(short_side, short)
    factor = target / short
    return even(w * factor), even(h * factor)


def ladder(probe: ProbeResult) -> list[tuple[int, int]]:
    """Rungs at or below the source's short side; a small source gets one rung at its own size."""
    assert probe.video is not None
    short = min(probe.video.display_width, probe.video.display_height)
    rungs = [(s, kbps) for s, kbps in WEB_LADDER if s <= short]
    if not rungs:
        rungs = [(even(short), WEB_LADDER[-1][1])]
    return rungs


def _x264(opts: Options, kbps: int, gop: int, threads: int) -> list[str]:
    return [
        "-c:v",
        "libx264",
        "-preset",
        opts.x264_preset,
        "-profile:v",
        "high",
        "-pix_fmt",
        "yuv420p",
        "-b:v",
        f"{kbps}k",
        "-maxrate",
        f"{int(kbps * 1.07)}k",
        "-bufsize",
        f"{int(kbps * 1.5)}k",
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-sc_threshold",
        "0",
        "-threads",
        str(threads),
    ]


def _aac(kbps: int = AUDIO_KBPS) -> list[str]:
    return ["-c:a", "aac", "-b:a", f"{kbps}k", "-ar", "48000", "-ac", "2"]


def _loudnorm(probe: ProbeResult, target: float, true_peak: float) -> str:
    """Two-pass loudnorm from the probe's measurement (linear gain when the peak allows it)."""
    m = probe.loudness
    base = f"loudnorm=I={target}:TP={true_peak}:LRA=11"
    if m is None or m.integrated_lufs <= SILENCE_LUFS:
        return ""
    clamp = lambda v, lo, hi: min(max(v, lo), hi)  # noqa: E731
    return (
        f"{base}:measured_I={clamp(m.integrated_lufs, -99, 0)}"
        f":measured_TP={clamp(m.true_peak_dbtp, -99, 99)}"
        f":measured_LRA={clamp(m.lra_lu, 0, 99)}"
        f":measured_thresh={clamp(m.threshold_lufs, -99, 0)}:linear=true,"
    )


def _input(source: str, threads: int, fast: bool = False) -> list[str]:
    """Global options and the source, with every thread pool bounded (decoder, filters): a job
    uses the cores it is given and no more, so parallel jobs share instead of fighting.

    fast: skip the decoder's deblocking (H.264/HEVC); invisible once scaled down 3x, and the
    decode is most of a preview's cost.
    """
    pools = ["-filter_threads", str(threads), "-filter_complex_threads", str(threads)]
    decode = ["-threads", str(threads)] + (["-skip_loop_filter", "all"] if fast else [])
    return ["-y", "-v", "error", *pools, *decode, "-i", source]


def _faster(preset: str, other: str) -> str:
    rank = {name: i for i, name in enumerate(X264_PRESETS)}
    return min(preset, other, key=lambda p: rank.get(p, len(rank)))


def _logo_chain(index: int, width: int, height: int, label: str) -> str:
    """The logo input scaled for a width x height picture, as [label] (for overlay_expr)."""
    logo_w = even(min(width, height) * LOGO_SHORT_SIDE)
    return f"[{index}:v]scale={logo_w}:-2,format=rgba[{label}]"


def _logo_xy(width: int, height: int) -> str:
    margin = even(min(width, height) * LOGO_MARGIN)
    return f"x=W-w-{margin}:y={margin}"


def escape_filter_path(path: str) -> str:
    """A file name as a filter option inside a filtergraph: escaped for the option parser, then
    again for the graph parser (ffmpeg-filters(1), "Notes on filtergraph escaping")."""
    option = re.sub(r"([\\':])", r"\\\1", path)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option)


def language(code: str) -> tuple[str, str]:
    return LANGUAGES.get(code, ("und", code))


def preview(probe: ProbeResult, source: str, out: Path, opts: Options) -> Plan:
    """A small 360p MP4 made first and fast, so the editor can check the clip right away.

    The fast path: the decoder skips deblocking, the 3x downscale is fast_bilinear, x264 runs
    its superfast preset (High profile, CABAC kept), all on the job's threads. The decode of
    the source is what is left, and it is unavoidable: every frame is kept.
    """
    args = _input(source, opts.threads, fast=True)
    outputs = []
    if probe.video:
        w, h = scaled_size(probe, 360)
        rate = out_rate(probe, 30)
        vf = (
            f"{_prefix(probe)}fps={rate_arg(rate)},scale={w}:{h}:flags=fast_bilinear,"
            "setsar=1,format=yuv420p"
        )
        preset = _faster(opts.x264_preset, PREVIEW_PRESET)
        args += ["-map", "0:v:0", "-vf", vf, "-c:v", "libx264", "-preset", preset]
        args += ["-profile:v", "high", "-crf", "28", "-maxrate", "900k", "-bufsize", "1800k"]
        args += ["-pix_fmt", "yuv420p", "-threads", str(opts.threads)]
        info = {"width": w, "height": h, "fps": round(float(rate), 3)}
    else:
        info = {}
    if probe.audio:
        args += ["-map", "0:a:0", *_aac(64)]
    args += ["-movflags", "+faststart", str(out / "preview.mp4")]
    outputs.append(Output("mp4", "preview.mp4", "video/mp4", info))
    return Plan("preview", args, outputs, probe.duration_s)


def web(probe: ProbeResult, source: str, out: Path, opts: Options) -> Plan:
    """HLS ladder (one decode, split) and a progressive 720p MP4; master playlist written after.

    With a logo it is laid over the picture once, before the split. With subtitles the MP4
    carries them as a text track (mov_text, the MP4 kind) and the HLS master gets a WebVTT
    subtitles rendition (written after the encode, when the segments' start time is known).
    """
    if probe.video is None:
        args = _input(source, opts.threads) + ["-map", "0:a:0", *_aac(), "-movflags", "+faststart"]
        args.append(str(out / "audio.m4a"))
        return Plan("web", args, [Output("m4a", "audio.m4a", "audio/mp4")], probe.duration_s)
    rungs = ladder(probe)
    rate = out_rate(probe)
    fps = round(float(rate), 3)
    gop = max(1, round(float(rate) * opts.hls_segment_s))
    mp4_size = scaled_size(probe, WEB_MP4_SHORT_SIDE)
    branches = len(rungs) + 1
    threads = max(1, math.ceil(opts.threads / branches))
    labels = "".join(f"[s{i}]" for i in range(branches))
    inputs = _input(source, opts.threads)
    base = f"[0:v]{_prefix(probe)}fps={rate_arg(rate)},format=yuv420p"
    graph = []
    if opts.logo:
        inputs += ["-i", opts.logo]
        dw, dh = probe.video.display_width, probe.video.display_height
        graph.append(_logo_chain(1, dw, dh, "logo"))
        graph.append(f"{base}[base]")
        graph.append(
            f"[base][logo]overlay={_logo_xy(dw, dh)}:format=auto,format=yuv420p,"
            f"split={branches}{labels}"
        )
    else:
        graph.append(f"{base},split={branches}{labels}")
    subtitle_input = None
    if opts.subtitles:
        subtitle_input = 2 if opts.logo else 1
        inputs += ["-i", opts.subtitles]
    args: list[str] = []
    outputs: list[Output] = []
    variants: list[dict[str, Any]] = []
    for i, (short, kbps) in enumerate(rungs):
        w, h = scaled_size(probe, short)
        graph.append(f"[s{i}]scale={w}:{h},setsar=1[v{i}]")
        name = f"{min(w, h)}p"
        folder = out / "hls" / name
        folder.mkdir(parents=True, exist_ok=True)
        args += ["-map", f"[v{i}]"]
        if probe.audio:
            args += ["-map", "0:a:0"]
        args += _x264(opts, kbps, gop, threads)
        if probe.audio:
            args += _aac()
        args += [
            "-f",
            "hls",
            "-hls_time",
            str(opts.hls_segment_s),
            "-hls_playlist_type",
            "vod",
            "-hls_flags",
            "independent_segments",
            "-hls_segment_filename",
            str(folder / "seg_%05d.ts"),
            str(folder / "index.m3u8"),
        ]
        info = {"width": w, "height": h, "fps": fps, "video_kbps": kbps}
        outputs.append(
            Output(
                f"hls_{name}",
                f"hls/{name}/index.m3u8",
                "application/vnd.apple.mpegurl",
                info,
                folder=True,
            )
        )
        variants.append({"path": f"{name}/index.m3u8", **info})
    last = branches - 1
    w, h = mp4_size
    graph.append(f"[s{last}]scale={w}:{h},setsar=1[v{last}]")
    args += ["-map", f"[v{last}]"]
    if probe.audio:
        args += ["-map", "0:a:0"]
    args += _x264(opts, 2800, gop, threads)
    if probe.audio:
        args += _aac()
    mp4_info: dict[str, Any] = {"width": w, "height": h}
    if subtitle_input is not None:
        code, label = language(opts.subtitle_lang)
        args += ["-map", f"{subtitle_input}:s:0", "-c:s", "mov_text"]
        args += ["-metadata:s:s:0", f"language={code}", "-metadata:s:s:0", f"title={label}"]
        mp4_info["subtitles"] = opts.subtitle_lang
    args += ["-movflags", "+faststart", str(out / f"web_{min(w, h)}p.mp4")]
    outputs.append(Output("mp4", f"web_{min(w, h)}p.mp4", "video/mp4", mp4_info))
    outputs.append(Output("hls", "hls/master.m3u8", "application/vnd.apple.mpegurl"))
    plan = Plan(
        "web", [*inputs, "-filter_complex", ";".join(graph), *args], outputs, probe.duration_s
    )
    plan.extra["variants"] = variants
    plan.extra["has_audio"] = probe.audio is not None
    if opts.subtitles:
        lang = opts.subtitle_lang
        plan.extra["subtitles"] = {"lang": lang, "label": language(lang)[1], "path": opts.subtitles}
        plan.outputs.insert(
            -1,
            Output(
                "subtitles",
                f"hls/subs/{lang}.vtt",
                "text/vtt",
                {"lang": lang, "label": language(lang)[1], "playlist": f"hls/subs/{lang}.m3u8"},
                folder=True,
            ),
        )
    return plan


def master_playlist(
    variants: list[dict[str, Any]], has_audio: bool, subtitles: dict[str, str] | None = None
) -> str:
    """HLS master playlist, best rung first (what players pick from)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    codecs = "avc1.640028,mp4a.40.2" if has_audio else "avc1.640028"
    group = ""
    if subtitles:
        lang, label = subtitles["lang"], subtitles["label"]
        lines.append(
            f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="{label}",LANGUAGE="{lang}",'
            f'DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="subs/{lang}.m3u8"'
        )
        group = ',SUBTITLES="subs"'
    for v in variants:
        bandwidth = int((v["video_kbps"] * 1.07 + (AUDIO_KBPS if has_audio else 0)) * 1000)
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={v['width']}x{v['height']},"
            f'FRAME-RATE={v["fps"]:.3f},CODECS="{codecs}"{group}'
        )
        lines.append(v["path"])
    return "\n".join(lines) + "\n"


def subtitle_playlist(vtt_name: str, duration_s: float) -> str:
    """A one-segment WebVTT media playlist (the whole file is the segment)."""
    return "\n".join(
        [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{max(1, math.ceil(duration_s))}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-PLAYLIST-TYPE:VOD",
            f"#EXTINF:{duration_s:.3f},",
            vtt_name,
            "#EXT-X-ENDLIST",
            "",
        ]
    )


def hls_webvtt(vtt: str, first_pts_s: float) -> str:
    """The WebVTT file with the X-TIMESTAMP-MAP HLS needs: cue time 0 is the first segment's
    MPEG-TS time (ffmpeg starts TS output past 0), so cues stay in sync with the picture."""
    mpegts = round(first_pts_s * 90000)
    header, _, rest = vtt.partition("\n")
    lines = [line for line in rest.split("\n") if not line.startswith("X-TIMESTAMP-MAP=")]
    return f"{header}\nX-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000\n" + "\n".join(lines)


def _burn_in(opts: Options, width: int, height: int) -> str:
    """The subtitles filter for a width x height frame: text about 5 % of the width high,
    above the bottom band that the apps cover with their own buttons on vertical video."""
    play_res_y = 288  # libass' default script height for SRT/WebVTT
    size = max(6, round(width * 0.05 * play_res_y / height))
    margin = round((0.12 if height > width else 0.05) * play_res_y)
    style = (
        f"FontName={SUBTITLE_FONT},FontSize={size},Outline=2,Shadow=0,BorderStyle=1,"
        f"MarginV={margin}"
    )
    assert opts.subtitles is not None
    return f"subtitles=filename={escape_filter_path(opts.subtitles)}:force_style='{style}'"


def social(probe: ProbeResult, source: str, out: Path, opts: Options) -> Plan:
    """Vertical 1080x1920 and square 1080x1080, blurred-background fill, loudness normalized;
    the logo on top and, if asked, the subtitles burnt in (feeds autoplay without sound)."""
    if probe.video is None:
        raise ValueError("social needs a video")
    rate = out_rate(probe, 30)
    gop = max(1, round(float(rate) * 2))
    threads = max(1, math.ceil(opts.threads / 2))
    inputs = _input(source, opts.threads)
    graph = [f"[0:v]{_prefix(probe)}fps={rate_arg(rate)},format=yuv420p,split=4[a][b][c][d]"]
    if opts.logo:
        inputs += ["-i", opts.logo]
        w, h = SOCIAL_SIZES["square"]  # both sizes are 1080 on the short side: one logo size
        graph.append(f"{_logo_chain(1, w, h, 'lg')};[lg]split=2[lgvertical][lgsquare]")
    burn = bool(opts.burn_subtitles and opts.subtitles)
    outputs = []
    args: list[str] = []
    pairs = (("vertical", "a", "b"), ("square", "c", "d"))
    for name, bg, fg in pairs:
        w, h = SOCIAL_SIZES[name]
        # the background is blurred at quarter size: same look, a sixteenth of the work
        graph.append(
            f"[{bg}]scale={w // 4}:{h // 4}:force_original_aspect_ratio=increase,"
            f"crop={w // 4}:{h // 4},boxblur=10:2,scale={w}:{h},setsar=1[{bg}bg]"
        )
        graph.append(
            f"[{fg}]scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
            f"setsar=1[{fg}fg]"
        )
        chain = f"[{bg}bg][{fg}fg]overlay=(W-w)/2:(H-h)/2,format=yuv420p"
        if opts.logo:
            chain += f"[{name}pic];[{name}pic][lg{name}]overlay={_logo_xy(w, h)}:format=auto"
            chain += ",format=yuv420p"
        if burn:
            chain += "," + _burn_in(opts, w, h)
        graph.append(chain + f"[{name}]")
    if probe.audio:
        norm = _loudnorm(probe, opts.social_lufs, -1.5)
        graph.append(f"[0:a:0]{norm}aresample=48000,asplit=2[a1][a2]")
    for i, (name, _, _) in enumerate(pairs):
        w, h = SOCIAL_SIZES[name]
        args += ["-map", f"[{name}]"]
        if probe.audio:
            args += ["-map", f"[a{i + 1}]"]
        args += _x264(opts, 6000 if name == "vertical" else 4500, gop, threads)
        if probe.audio:
            args += _aac(192)
        args += ["-movflags", "+faststart", str(out / f"{name}.mp4")]
        info: dict[str, Any] = {"width": w, "height": h, "logo": bool(opts.logo)}
        if burn:
            info["burnt_subtitles"] = opts.subtitle_lang
        outputs.append(Output(name, f"{name}.mp4", "video/mp4", info))
    plan = Plan(
        "social", [*inputs, "-filter_complex", ";".join(graph), *args], outputs, probe.duration_s
    )
    if probe.audio:
        plan.loudness_target = opts.social_lufs
        plan.true_peak_max = -1.0
    return plan


def tv(probe: ProbeResult, source: str, out: Path, opts: Options) -> Plan:
    """1920x1080 25p XDCAM HD422-style MXF; -23 LUFS / -1 dBTP; silent stereo if no audio.

    No logo and no burnt subtitles: the station puts its own graphics on air."""
    if probe.video is None:
        raise ValueError("tv needs a video")
    w, h = TV_SIZE
    args = _input(source, opts.threads)
    if not probe.audio:
        args += ["-f", "lavfi", "-t", f"{probe.duration_s:.3f}", "-i", "anullsrc=r=48000:cl=stereo"]
    graph = [
        f"[0:v]{_prefix(probe)}fps={TV_FPS},scale={w}:{h}:force_original_aspect_ratio=decrease,"
        f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv422p[v]"
    ]
    if probe.audio:
        norm = _loudnorm(probe, opts.tv_lufs, opts.tv_true_peak - 1.0)
        graph.append(f"[0:a:0]{norm}aresample=48000,aformat=channel_layouts=stereo[a]")
        audio_map = "[a]"
    else:
        audio_map = "1:a:0"
    args += ["-filter_complex", ";".join(graph), "-map", "[v]", "-map", audio_map]
    args += [
        "-c:v",
        "mpeg2video",
        "-profile:v",
        "0",
        "-level:v",
        "2",
        "-pix_fmt",
        "yuv422p",
        "-b:v",
        "50M",
        "-minrate",
        "50M",
        "-maxrate",
        "50M",
        "-bufsize",
        "17825792",
        "-g",
        "12",
        "-bf",
        "2",
        "-flags",
        "+cgop",
        "-sc_threshold",
        "1000000000",
        "-intra_vlc",
        "1",
        "-non_linear_quant",
        "1",
        "-qmin",
        "1",
        "-qmax",
        "12",
        "-dc",
        "10",
        "-threads",
        str(opts.threads),
        "-c:a",
        "pcm_s24le",
        "-ar",
        "48000",
        "-shortest",
        "-f",
        "mxf",
        str(out / "tv.mxf"),
    ]
    info = {
        "width": w,
        "height": h,
        "fps": TV_FPS,
        "video": "mpeg2video 4:2:2 50M",
        "audio": "pcm_s24le",
    }
    plan = Plan("tv", args, [Output("mxf", "tv.mxf", "application/mxf", info)], probe.duration_s)
    if probe.audio:
        plan.loudness_target = opts.tv_lufs
        plan.true_peak_max = opts.tv_true_peak
    return plan


SPRITE_W, SPRITE_H, SPRITE_COLS, MAX_THUMBS = 160, 90, 10, 100
POSTER_CANDIDATES = 6


def thumbnails(probe: ProbeResult, source: str, out: Path, opts: Options) -> Plan:
    """Poster candidates (scored after by brightness and contrast) and a sprite for scrubbing."""
    if probe.video is None:
        raise ValueError("thumbnails need a video")
    duration = max(probe.duration_s, 0.04)
    step = duration / POSTER_CANDIDATES
    interval = max(1.0, duration / MAX_THUMBS)
    count = max(1, math.ceil(duration / interval))
    rows = math.ceil(count / SPRITE_COLS)
    cols = min(SPRITE_COLS, count)
    stats = out / "candidates.txt"
    graph = (
        f"[0:v]{_prefix(probe)}setsar=1,split=2[p][s];"
        f"[p]select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,{step:.3f})',"
        f"scale='min(1280,iw)':-2,signalstats,metadata=print:file={stats}[pc];"
        f"[s]fps=1/{interval:.3f},scale={SPRITE_W}:{SPRITE_H}:force_original_aspect_ratio=decrease,"
        f"pad={SPRITE_W}:{SPRITE_H}:(ow-iw)/2:(oh-ih)/2,tile={cols}x{rows}[sp]"
    )
    args = _input(source, opts.threads) + ["-filter_complex", graph, "-threads", str(opts.threads)]
    args += ["-map", "[pc]", "-fps_mode", "passthrough", "-q:v", "3", str(out / "cand_%02d.jpg")]
    args += ["-map", "[sp]", "-frames:v", "1", "-q:v", "4", str(out / "sprite.jpg")]
    outputs = [
        Output("poster", "poster.jpg", "image/jpeg"),
        Output("sprite", "sprite.jpg", "image/jpeg", {"cols": cols, "rows": rows}),
        Output("vtt", "thumbnails.vtt", "text/vtt"),
    ]
    plan = Plan("thumbnails", args, outputs, probe.duration_s)
    plan.extra.update(interval=interval, count=count, cols=cols, stats=str(stats))
    return plan


def sprite_vtt(count: int, interval: float, cols: int, duration: float) -> str:
    """WebVTT thumbnails track: each cue points at its tile of sprite.jpg (#xywh)."""

    def stamp(t: float) -> str:
        ms = int(round(t * 1000))
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"

    lines = ["WEBVTT", ""]
    for i in range(count):
        start, end = i * interval, min((i + 1) * interval, duration)
        if end <= start:
            break
        x, y = (i % cols) * SPRITE_W, (i // cols) * SPRITE_H
        lines += [
            f"{stamp(start)} --> {stamp(end)}",
            f"sprite.jpg#xywh={x},{y},{SPRITE_W},{SPRITE_H}",
            "",
        ]
    return "\n".join(lines)


def pick_poster(stats_text: str) -> int:
    """Index of the best candidate: not black, not washed out, with the most contrast."""
    frames: list[dict[str, float]] = []
    for line in stats_text.splitlines():
        if line.startswith("frame:"):
            frames.append({})
        elif line.startswith("lavfi.signalstats.") and frames:
            key, _, value = line[len("lavfi.signalstats.") :].partition("=")
            try:
                frames[-1][key] = float(value)
            except ValueError:
                continue

    def score(f: dict[str, float]) -> float:
        avg = f.get("YAVG", 0.0)
        spread = f.get("YHIGH", 0.0) - f.get("YLOW", 0.0)
        if avg < 24 or avg > 240:
            return spread / 100  # black or white frames only when nothing better exists
        return 100 + spread

    if not frames:
        return 0
    return max(range(len(frames)), key=lambda i: score(frames[i]))


BUILDERS = {"preview": preview, "web": web, "social": social, "tv": tv, "thumbnails": thumbnails}


def applies(profile: str, probe: ProbeResult) -> bool:
    """Audio-only files get preview and web (audio) only."""
    return probe.video is not None or profile in ("preview", "web")
