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
from dataclasses import dataclass, field
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


def even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def out_fps(probe: ProbeResult, cap: float = 60.0) -> float:
    """Constant output rate: the source's average rate (VFR phones included), at most cap."""
    fps = probe.video.fps if probe.video and probe.video.fps > 0 else 25.0
    return round(min(fps, cap), 3)


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


def _input(source: str) -> list[str]:
    return ["-y", "-v", "error", "-i", source]


def preview(probe: ProbeResult, source: str, out: Path, opts: Options) -> Plan:
    """A small 360p MP4, quick to make, so the editor can check the clip right away."""
    args = _input(source)
    outputs = []
    if probe.video:
        w, h = scaled_size(probe, 360)
        fps = out_fps(probe, 30)
        vf = f"{_prefix(probe)}fps={fps},scale={w}:{h},setsar=1,format=yuv420p"
        args += ["-map", "0:v:0", "-vf", vf, "-c:v", "libx264", "-preset", opts.x264_preset]
        args += ["-crf", "28", "-maxrate", "900k", "-bufsize", "1800k", "-pix_fmt", "yuv420p"]
        args += ["-threads", str(opts.threads)]
        info = {"width": w, "height": h, "fps": fps}
    else:
        info = {}
    if probe.audio:
        args += ["-map", "0:a:0", *_aac(64)]
    args += ["-movflags", "+faststart", str(out / "preview.mp4")]
    outputs.append(Output("mp4", "preview.mp4", "video/mp4", info))
    return Plan("preview", args, outputs, probe.duration_s)


def web(probe: ProbeResult, source: str, out: Path, opts: Options) -> Plan:
    """HLS ladder (one decode, split) and a progressive 720p MP4; master playlist written after."""
    if probe.video is None:
        args = _input(source) + ["-map", "0:a:0", *_aac(), "-movflags", "+faststart"]
        args.append(str(out / "audio.m4a"))
        return Plan("web", args, [Output("m4a", "audio.m4a", "audio/mp4")], probe.duration_s)
    rungs = ladder(probe)
    fps = out_fps(probe)
    gop = max(1, round(fps * opts.hls_segment_s))
    mp4_size = scaled_size(probe, WEB_MP4_SHORT_SIDE)
    branches = len(rungs) + 1
    threads = max(1, math.ceil(opts.threads / branches))
    labels = "".join(f"[s{i}]" for i in range(branches))
    graph = [f"[0:v]{_prefix(probe)}fps={fps},format=yuv420p,split={branches}{labels}"]
    args = _input(source)
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
    args += ["-movflags", "+faststart", str(out / f"web_{min(w, h)}p.mp4")]
    args[args.index("-i") + 2 : args.index("-i") + 2] = ["-filter_complex", ";".join(graph)]
    outputs.append(Output("mp4", f"web_{min(w, h)}p.mp4", "video/mp4", {"width": w, "height": h}))
    outputs.append(Output("hls", "hls/master.m3u8", "application/vnd.apple.mpegurl"))
    plan = Plan("web", args, outputs, probe.duration_s)
    plan.extra["variants"] = variants
    plan.extra["has_audio"] = probe.audio is not None
    return plan


def master_playlist(variants: list[dict[str, Any]], has_audio: bool) -> str:
    """HLS master playlist, best rung first (what players pick from)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    codecs = "avc1.640028,mp4a.40.2" if has_audio else "avc1.640028"
    for v in variants:
        bandwidth = int((v["video_kbps"] * 1.07 + (AUDIO_KBPS if has_audio else 0)) * 1000)
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={v['width']}x{v['height']},"
            f'FRAME-RATE={v["fps"]:.3f},CODECS="{codecs}"'
        )
        lines.append(v["path"])
    return "\n".join(lines) + "\n"


def social(probe: ProbeResult, source: str, out: Path, opts: Options) -> Plan:
    """Vertical 1080x1920 and square 1080x1080, blurred-background fill, loudness normalized."""
    if probe.video is None:
        raise ValueError("social needs a video")
    fps = out_fps(probe, 30)
    gop = max(1, round(fps * 2))
    threads = max(1, math.ceil(opts.threads / 2))
    graph = [f"[0:v]{_prefix(probe)}fps={fps},format=yuv420p,split=4[a][b][c][d]"]
    outputs = []
    args = _input(source)
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
        graph.append(f"[{bg}bg][{fg}fg]overlay=(W-w)/2:(H-h)/2,format=yuv420p[{name}]")
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
        outputs.append(Output(name, f"{name}.mp4", "video/mp4", {"width": w, "height": h}))
    args[args.index("-i") + 2 : args.index("-i") + 2] = ["-filter_complex", ";".join(graph)]
    plan = Plan("social", args, outputs, probe.duration_s)
    if probe.audio:
        plan.loudness_target = opts.social_lufs
        plan.true_peak_max = -1.0
    return plan


def tv(probe: ProbeResult, source: str, out: Path, opts: Options) -> Plan:
    """1920x1080 25p XDCAM HD422-style MXF; -23 LUFS / -1 dBTP; silent stereo if no audio."""
    if probe.video is None:
        raise ValueError("tv needs a video")
    w, h = TV_SIZE
    args = ["-y", "-v", "error", "-i", source]
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
    args = _input(source) + ["-filter_complex", graph, "-threads", str(opts.threads)]
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
