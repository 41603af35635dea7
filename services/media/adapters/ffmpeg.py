"""ffmpeg and ffprobe as subprocesses: probing, loudness measurement, and encodes with progress.

Under eventlet (the services' runtime) subprocess is green, so a long encode never blocks the
worker's heartbeats; reading `-progress` line by line gives percent, speed and ETA as they happen.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.media.domain.probe import PROBE_DEMUXERS

PROGRESS_EVERY_S = 1.0
WORK_DEMUXERS = PROBE_DEMUXERS + ("lavfi", "srt", "webvtt", "ass")
"""Every demuxer any input of loa's own ffmpeg runs may use: the accepted containers (originals,
loa's own outputs), still images (logos), subtitles, and lavfi sources loa writes itself."""


def protocols_for(source: str) -> str:
    """The only protocols ffmpeg may use for one input: the object store's URL itself (S3) or
    the local file. Whatever a file names inside it cannot be opened with another protocol."""
    if source.startswith("https://"):
        return "https,tls,tcp"
    if source.startswith("http://"):
        return "http,tcp"
    return "file"


def input_guard(source: str, formats: Sequence[str]) -> list[str]:
    """Options placed before an input: its protocols and the demuxers it may be read with."""
    return ["-protocol_whitelist", protocols_for(source), "-format_whitelist", ",".join(formats)]


def guard_inputs(args: Sequence[str], formats: Sequence[str]) -> list[str]:
    """args with input_guard() before each `-i`."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "-i" and i + 1 < len(args):
            out += input_guard(args[i + 1], formats)
        out.append(arg)
    return out


class FfmpegError(Exception):
    """ffmpeg or ffprobe failed; summary is the tool's own error, short enough to show people."""

    def __init__(self, summary: str, returncode: int | None = None) -> None:
        super().__init__(summary)
        self.summary = summary
        self.returncode = returncode


class Cancelled(Exception):
    """The job was cancelled while ffmpeg ran; the process was stopped."""


@dataclass(frozen=True)
class Progress:
    percent: float
    speed: float | None
    eta_s: float | None
    out_time_s: float


@dataclass(frozen=True)
class Loudness:
    """EBU R128 measurement: integrated (LUFS), its gate threshold, range (LU), true peak (dBTP)."""

    integrated: float
    threshold: float
    lra: float
    true_peak: float


_NOISE = re.compile(r"^(Press \[q\]|\s*$|Last message repeated)")


def summarize(stderr_lines: Sequence[str], limit: int = 400) -> str:
    """The last distinct error lines of a run, without the '[x @ 0x…]' prefixes people can't use."""
    picked: list[str] = []
    for raw in reversed(stderr_lines):
        line = re.sub(r"^\[[^\]]+ @ 0x[0-9a-f]+\]\s*", "", raw.strip())
        if not line or _NOISE.match(line) or line in picked:
            continue
        picked.append(line)
        if len(picked) == 3:
            break
    text = " / ".join(reversed(picked)) or "no error message"
    return text[:limit]


class DecodeCheck:
    """A check decode running in its own process (Ffmpeg.start_decode_check)."""

    def __init__(self, proc: subprocess.Popen[bytes], source: str = "") -> None:
        self.proc = proc
        self.source = source

    decoded_s: float | None = None
    """How far the decode got (ffmpeg's last 'time='), once errors() returned."""

    def errors(self, timeout: float = 300) -> list[str]:
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return []
        text = err.decode("utf-8", "replace")
        if self.source:  # a signed S3 URL is a credential: never in a stored reason
            text = text.replace(self.source, "input")
        reached = re.findall(r"time=\s*(\d+):(\d+):(\d+(?:\.\d+)?)", text)
        if reached:
            h, m, sec = reached[-1]
            self.decoded_s = int(h) * 3600 + int(m) * 60 + float(sec)
        lines = [
            x.strip()
            for x in re.split(r"[\r\n]+", text)
            if x.strip() and not re.match(r"^(frame|size)=", x.strip())
        ]
        if self.proc.returncode != 0 and not lines:
            lines = [f"ffmpeg exited with code {self.proc.returncode}"]
        return lines

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


class Ffmpeg:
    """The two binaries and how to call them."""

    def __init__(
        self,
        ffmpeg: str = "ffmpeg",
        ffprobe: str = "ffprobe",
        formats: Sequence[str] = WORK_DEMUXERS,
    ) -> None:
        self.ffmpeg = ffmpeg
        self.ffprobe = ffprobe
        self.formats = tuple(formats)

    def probe(
        self, source: str, timeout: float = 120, formats: Sequence[str] | None = None
    ) -> dict:
        """ffprobe's JSON of format and streams, or FfmpegError with its reason.

        formats: the demuxers allowed for this file (an upload: PROBE_DEMUXERS); anything else
        fails with "not on whitelist" before the file's content is acted on."""
        cmd = [
            self.ffprobe,
            "-v",
            "error",
            "-hide_banner",
            *input_guard(source, formats or self.formats),
            "-show_format",
            "-show_streams",
            "-of",
            "json",
            source,
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise FfmpegError(f"ffprobe did not finish within {timeout:.0f}s") from None
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").splitlines()
            raise FfmpegError(summarize(lines).replace(source, "input"), done.returncode)
        return dict(json.loads(done.stdout or b"{}"))

    def start_decode_check(self, source: str, start_s: float, length_s: float) -> DecodeCheck:
        """Decode a stretch of the file in a process of its own (a cut-off file fails near its
        end); collect with .errors() once the caller has done its own work meanwhile."""
        cmd = [
            self.ffmpeg,
            "-nostdin",
            "-v",
            "error",
            "-stats",  # the last 'time=' says how far it got: a cut-off file stops short
            "-ss",
            f"{max(start_s, 0):.3f}",
            *input_guard(source, self.formats),
            "-i",
            source,
            "-t",
            f"{length_s:.3f}",
            "-f",
            "null",
            "-",
        ]
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        return DecodeCheck(proc, source)

    def decode_errors(
        self, source: str, start_s: float, length_s: float
    ) -> tuple[list[str], float | None]:
        """Errors met decoding a stretch of the file, and how far the decode got."""
        check = self.start_decode_check(source, start_s, length_s)
        return check.errors(), check.decoded_s

    def loudness(self, source: str, stream: str = "0:a:0", timeout: float = 3600) -> Loudness:
        """Measure with the ebur128 filter (true peak at 4x oversampling)."""
        cmd = [
            self.ffmpeg,
            "-nostdin",
            "-hide_banner",
            "-nostats",
            *input_guard(source, self.formats),
            "-i",
            source,
            "-map",
            stream,
            "-af",
            "ebur128=peak=true:framelog=verbose",
            "-f",
            "null",
            "-",
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise FfmpegError(
                f"loudness measurement did not finish within {timeout:.0f}s"
            ) from None
        text = done.stderr.decode("utf-8", "replace")
        if done.returncode != 0:
            summary = summarize(text.splitlines()).replace(source, "input")
            raise FfmpegError(summary, done.returncode)
        return parse_ebur128(text)

    def run(
        self,
        args: Sequence[str],
        *,
        duration_s: float | None,
        on_progress: Callable[[Progress], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
        timeout_s: float = 6 * 3600,
    ) -> None:
        """Run ffmpeg with args (everything after the binary); progress from `-progress pipe:1`.

        should_cancel is asked about once a second; True stops ffmpeg and raises Cancelled.
        """
        guarded = guard_inputs(args, self.formats)
        cmd = [self.ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-progress", "pipe:1", *guarded]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        tail: deque[str] = deque(maxlen=40)
        started = time.monotonic()

        def read_stderr() -> None:
            assert proc.stderr is not None
            for raw in proc.stderr:
                tail.append(raw.decode("utf-8", "replace").rstrip())

        reader = _spawn(read_stderr)
        last_report = 0.0
        block: dict[str, str] = {}
        cancelled = False
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                key, _, value = raw.decode("utf-8", "replace").strip().partition("=")
                block[key] = value
                if key != "progress":
                    continue
                now = time.monotonic()
                if now - started > timeout_s:
                    proc.kill()
                    raise FfmpegError(
                        f"the encode took longer than {timeout_s:.0f}s and was stopped"
                    )
                if now - last_report >= PROGRESS_EVERY_S or value == "end":
                    last_report = now
                    if should_cancel is not None and should_cancel():
                        cancelled = True
                        proc.kill()
                        break
                    if on_progress is not None:
                        on_progress(parse_progress(block, duration_s, now - started))
                block = {}
            returncode = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            _join(reader)
        if cancelled:
            raise Cancelled()
        if returncode != 0:
            summary = summarize(list(tail))
            for i, arg in enumerate(args[:-1]):
                if arg == "-i":  # a signed S3 URL is a credential: never in a stored error
                    summary = summary.replace(args[i + 1], "input")
            raise FfmpegError(summary, returncode)


def parse_progress(block: dict[str, str], duration_s: float | None, elapsed_s: float) -> Progress:
    out_us = block.get("out_time_us") or block.get("out_time_ms") or "0"
    try:
        out_s = max(int(out_us), 0) / 1_000_000
    except ValueError:
        out_s = 0.0
    speed_text = (block.get("speed") or "").rstrip("x").strip()
    try:
        speed: float | None = float(speed_text)
    except ValueError:
        speed = None
    if block.get("progress") == "end":
        return Progress(100.0, speed, 0.0, out_s)
    percent = min(99.9, 100 * out_s / duration_s) if duration_s else 0.0
    eta = None
    if duration_s and out_s > 0:
        eta = max(0.0, (duration_s - out_s) * elapsed_s / out_s)
    return Progress(round(percent, 1), speed, None if eta is None else round(eta, 1), out_s)


_SUMMARY_VALUE = r"(-?[0-9.]+|-?inf)"


def parse_ebur128(text: str) -> Loudness:
    """The numbers of ebur128's closing summary (the last 'Summary:' block of stderr)."""
    summary = text[text.rfind("Summary:") :]
    if "Summary:" not in text:
        raise FfmpegError("the loudness summary is missing from ffmpeg's output")

    def grab(label: str, after: str = "") -> float:
        part = summary[summary.find(after) :] if after else summary
        match = re.search(rf"{label}\s+{_SUMMARY_VALUE}", part)
        if not match:
            raise FfmpegError(f"the loudness summary has no {label.strip(':')}")
        return float(match.group(1))

    return Loudness(
        integrated=grab("I:"),
        threshold=grab("Threshold:"),
        lra=grab("LRA:"),
        true_peak=grab("Peak:", "True peak"),
    )


def _spawn(fn: Callable[[], None]) -> object:
    """A green thread under eventlet, a real one otherwise (benchmarks, scripts)."""
    try:
        import eventlet.patcher

        if eventlet.patcher.is_monkey_patched("thread"):
            import eventlet

            return eventlet.spawn(fn)
    except ImportError:  # pragma: no cover
        pass
    import threading

    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def _join(handle: object) -> None:
    wait = getattr(handle, "wait", None) or getattr(handle, "join", None)
    if callable(wait):
        wait()
