"""What happens after an upload and inside a transcode job: plain Python over the database, the
object store and ffmpeg (no nameko here; the service's entrypoints call in).

Outputs are written to a private scratch folder, then copied to a fresh storage folder (a
"generation") that nothing points at yet; only the database commit that marks the job done makes
them visible. A worker killed at any moment therefore leaves no partial rendition behind, and the
next attempt sweeps the orphaned generation away.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from services.media.adapters.ffmpeg import Cancelled, Ffmpeg, FfmpegError, Loudness, Progress
from services.media.config import MediaSettings
from services.media.domain import details, export, extras, library, profiles, uploads
from services.media.domain.probe import (
    PROBE_DEMUXERS,
    TAIL_S,
    LoudnessInfo,
    ProbeResult,
    Rejected,
    check_usable,
    parse,
    reason_for_probe_failure,
    tail_start,
)
from shared.db import Database
from shared.errors import Conflict, InvalidInput, LoaError
from shared.ids import new_id
from shared.offload import off_hub
from shared.storage.base import ObjectStore
from shared.storage.local import LocalObjectStore

log = logging.getLogger(__name__)
PROGRESS_EVENT_EVERY_S = 2.0
LOUDNESS_TOLERANCE = {"tv": 0.5, "social": 1.0}
LOUDNESS_PROFILES = ("social", "tv")
"""Profiles whose loudnorm uses the source's measurement (made after ingest, or by the job)."""


_LOCAL_RUNS: dict[tuple[str, int], threading.Event] = {}
"""Job attempts running in this process (green threads under nameko)."""


class InputMissing(Exception):
    """A file the job needs (logo, subtitles) is not in storage; said to the editor as is."""


@dataclass(frozen=True)
class _Run:
    """One run of a job: its attempt and the claim that lets it (and no other run) commit."""

    job_id: str
    attempt: int
    token: str


def source_of(store: ObjectStore, key: str) -> str:
    """Where ffmpeg reads an object: the file itself on the local store, a signed URL on S3."""
    if isinstance(store, LocalObjectStore):
        return str(store.file_path(key))
    return store.url(key, timedelta(hours=12))


class Pipeline:
    def __init__(self, db: Database, store: ObjectStore, settings: MediaSettings) -> None:
        self.db = db
        self.store = store
        self.settings = settings
        self.ffmpeg = Ffmpeg(settings.ffmpeg, settings.ffprobe)
        self.scratch = Path(settings.scratch_dir or tempfile.gettempdir()) / "loa-media"

    # ------------------------------------------------------------------ ingest

    def ingest(self, upload_id: str) -> None:
        """Assemble, quick probe, hash, dedup; then the asset and its jobs, or a rejection.

        Only what decides whether the clip is usable runs before its jobs are queued: ffprobe's
        stream facts, and a decode of its last seconds that runs in its own process while this
        one hashes the bytes. The loudness measurement (a decode of all the audio) comes after
        the commit, so the preview job starts while it runs.
        """
        with self.db.session() as s:
            upload = uploads.get(s, upload_id)
        if upload["state"] != uploads.RECEIVED:
            return  # already handled (a redelivered message)
        key = upload["storage_key"]
        if upload["length"] == 0:
            self._reject(upload, "Tệp rỗng (0 byte) / the file is empty (0 bytes)")
            return
        if upload["multipart_id"]:
            with self.db.session() as s:
                parts = uploads.parts_of(s, upload_id)
            try:
                self._off_hub(self.store.complete_multipart, key, upload["multipart_id"], parts)
            except Exception:
                if not self.store.exists(key):  # not a redelivery after a completed assembly
                    raise
        source = source_of(self.store, key)
        try:
            data = self.ffmpeg.probe(source, formats=PROBE_DEMUXERS)
            duration = parse(data, int(upload["length"])).duration_s
        except FfmpegError as exc:
            self._reject(upload, reason_for_probe_failure(exc.summary))
            return
        except Rejected as exc:
            self._reject(upload, exc.reason)
            return
        check = self.ffmpeg.start_decode_check(source, tail_start(duration), TAIL_S + 1.0)
        try:
            sha, size = self._off_hub(self._hash, key)
            tail = check.errors()
        finally:
            check.stop()
        with self.db.session() as s:
            existing = library.find_by_sha256(s, sha)
        if existing:
            self._duplicate(upload, existing)
            return
        try:
            probe = parse(data, size)
            check_usable(probe, self.settings.max_duration_s, tail, check.decoded_s)
        except Rejected as exc:
            self._reject(upload, exc.reason)
            return
        meta = upload["meta"]
        filename = uploads.display_filename(meta)
        asset_id = new_id()
        try:
            options = extras.options_from_meta(meta)
        except LoaError:
            options = {}  # checked when the upload was created; never fail an ingest over it
        try:
            given = details.from_meta(meta)
        except LoaError:
            given = {}
        try:
            with self.db.session() as s:
                library.create_asset(
                    s,
                    asset_id=asset_id,
                    title=(meta.get("title") or filename)[:500],
                    filename=filename,
                    content_type=meta.get("filetype") or meta.get("content_type") or "",
                    size=size,
                    sha256=sha,
                    original_key=key,
                    probe=probe.model_dump(mode="json"),
                    upload_id=upload_id,
                    options=options,
                    details=given,
                )
                uploads.finish(s, upload_id, "done", asset_id, None)
                self.db.record_event(
                    s,
                    "media.asset_uploaded",
                    {
                        "asset_id": asset_id,
                        "title": (meta.get("title") or filename)[:500],
                        "filename": filename,
                        "size": size,
                        "sha256": sha,
                        "content_type": (meta.get("filetype") or "")[:200],
                    },
                )
                for name in self.settings.profile_list:
                    if profiles.applies(name, probe):
                        job = library.add_job(s, asset_id, name)
                        self.db.record_event(s, "media.transcode_requested", job)
        except IntegrityError:  # the same file finished uploading twice at the same moment
            with self.db.session() as s:
                existing = library.find_by_sha256(s, sha)
            if not existing:
                raise
            self._duplicate(upload, existing)
            return
        if probe.audio:
            try:
                self._ensure_loudness(asset_id, probe, source)
            except FfmpegError as exc:  # the jobs that need it measure again and say why
                log.warning("loudness of asset %s not measured: %s", asset_id, exc.summary)

    def _off_hub(self, fn: Any, *args: Any) -> Any:
        """Long blocking file work of the local store (joining the parts of a multi-GB upload,
        hashing it) in a real OS thread, so the service keeps answering RPCs and broker
        heartbeats meanwhile. S3 calls are green network I/O already and stay on the hub."""
        if isinstance(self.store, LocalObjectStore):
            return off_hub(fn, *args)
        return fn(*args)

    def _hash(self, key: str) -> tuple[str, int]:
        """SHA-256 and size of a stored object, read once (see _off_hub)."""
        digest = hashlib.sha256()
        size = 0
        with self.store.open(key) as reader:
            for chunk in reader:
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size

    def _ensure_loudness(self, asset_id: str, probe: ProbeResult, source: str) -> ProbeResult:
        """The probe with its loudness: measured (ebur128) and stored if it is not there yet."""
        if probe.audio is None or probe.loudness is not None:
            return probe
        measured = probe.model_copy(
            update={"loudness": _loudness_info(self.ffmpeg.loudness(source))}
        )
        with self.db.session() as s:
            library.set_probe(s, asset_id, measured.model_dump(mode="json"))
        return measured

    def probe(self, source: str, size: int) -> ProbeResult:
        """Everything ingest and the jobs learn about a file (ffprobe, the tail decode, the
        loudness) in one call; Rejected with a reason. For benchmarks and tools."""
        try:
            data = self.ffmpeg.probe(source, formats=PROBE_DEMUXERS)
        except FfmpegError as exc:
            raise Rejected(reason_for_probe_failure(exc.summary)) from None
        result = parse(data, size)
        start = tail_start(result.duration_s)
        tail, decoded = self.ffmpeg.decode_errors(source, start, TAIL_S + 1.0)
        check_usable(result, self.settings.max_duration_s, tail, decoded)
        if result.audio:
            try:
                m = self.ffmpeg.loudness(source)
            except FfmpegError as exc:
                raise Rejected(reason_for_probe_failure(exc.summary)) from None
            result = result.model_copy(update={"loudness": _loudness_info(m)})
        return result

    def _duplicate(self, upload: dict[str, Any], asset_id: str) -> None:
        with self.db.session() as s:
            if library.asset_row(s, asset_id).upload_id == upload["id"]:
                # the same upload ingested twice at once (a message delivered twice, e.g. by two
                # relays): the other run made the asset from these very bytes; keep them
                return
        self._remove_upload_bytes(upload)
        with self.db.session() as s:
            uploads.finish(s, upload["id"], "duplicate", asset_id, None)

    def _reject(self, upload: dict[str, Any], reason: str) -> None:
        self._remove_upload_bytes(upload)
        with self.db.session() as s:
            uploads.finish(s, upload["id"], "rejected", None, reason)
        log.info("upload %s rejected: %s", upload["id"], reason)

    def _remove_upload_bytes(self, upload: dict[str, Any]) -> None:
        if upload["multipart_id"]:
            self.store.abort_multipart(upload["storage_key"], upload["multipart_id"])
        if upload.get("tail_key"):
            self.store.delete(upload["tail_key"])
        self.store.delete(upload["storage_key"])

    def end_upload(self, upload_id: str, state: str) -> None:
        """Terminate (client) or expire (sweeper) an open upload and remove its bytes."""
        with self.db.session() as s:
            row = uploads.end(s, upload_id, state)
        if row.multipart_id:
            self.store.abort_multipart(row.storage_key, row.multipart_id)
        if row.tail_key:
            self.store.delete(row.tail_key)
        self.store.delete_prefix(f"uploads/{upload_id}/")

    # ------------------------------------------------------------------ jobs

    def run_job(self, job_id: str, attempt: int) -> None:
        """Run one attempt of a job. The same message delivered again while its run goes on in
        this process (the broker redelivers unacked messages after a connection drop) waits for
        that run instead of starting a second encode."""
        key = (job_id, attempt)
        running = _LOCAL_RUNS.get(key)
        if running is not None:
            running.wait()
            return
        done = threading.Event()
        _LOCAL_RUNS[key] = done
        try:
            self._run_job(job_id, attempt)
        finally:
            _LOCAL_RUNS.pop(key, None)
            done.set()

    def _run_job(self, job_id: str, attempt: int) -> None:
        token = secrets.token_hex(8)
        with self.db.session() as s:
            job = library.claim(s, job_id, attempt, token)
            if job is None:
                return  # stale attempt, cancelled, or done
            asset = library.asset_row(s, job.asset_id)
        if asset.status == "deleted":
            return
        profile = job.profile
        prefix = f"assets/{asset.id}/{profile}/"
        self._sweep_orphans(prefix, job.generation)
        work = self.scratch / f"{job_id}-{attempt}-{secrets.token_hex(4)}"
        work.mkdir(parents=True, exist_ok=True)
        run = _Run(job_id, attempt, token)
        try:
            probe = ProbeResult.model_validate(asset.probe)
            source = source_of(self.store, asset.original_key)
            if profile in LOUDNESS_PROFILES:
                probe = self._ensure_loudness(asset.id, probe, source)
            plan = self._plan(profile, probe, source, work, asset)
            self._encode(plan, run, asset.id)
            info = self._finish_outputs(plan, work)
            generation = f"{attempt}-{secrets.token_hex(6)}"
            items = self._publish(plan, work, prefix + generation + "/", info)
            self._commit(asset, run, profile, generation, items, prefix, job.generation)
        except Cancelled:
            log.info("job %s (%s) cancelled or superseded", job_id, profile)
            self._settle(asset.id)
        except (FfmpegError, ValueError) as exc:
            reason = exc.summary if isinstance(exc, FfmpegError) else str(exc)
            self._fail(asset.id, run, profile, f"ffmpeg: {reason}")
        except InputMissing as exc:
            self._fail(asset.id, run, profile, str(exc))
        except Exception as exc:  # noqa: BLE001 - a job never stays 'running' without a reason
            log.exception("job %s (%s) failed", job_id, profile)
            self._fail(asset.id, run, profile, f"{type(exc).__name__}: {exc}"[:1500])
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _plan(
        self, profile: str, probe: ProbeResult, source: str, work: Path, asset: Any = None
    ) -> profiles.Plan:
        opts = profiles.Options(
            threads=self.settings.threads,
            x264_preset=self.settings.x264_preset,
            hls_segment_s=self.settings.hls_segment_s,
            social_lufs=self.settings.social_lufs,
            tv_lufs=self.settings.tv_lufs,
            tv_true_peak=self.settings.tv_true_peak,
            **(self._extras(profile, asset, work) if asset is not None else {}),
        )
        return profiles.BUILDERS[profile](probe, source, work, opts)

    def _extras(self, profile: str, asset: Any, work: Path) -> dict[str, Any]:
        """The clip's logo and subtitles for this profile, as local files ffmpeg can read."""
        options = dict(asset.options or {})
        found: dict[str, Any] = {}
        if profile in self.settings.logo_profile_list:
            key = extras.logo_key(options, self.settings.logo_key)
            if key:
                found["logo"] = self._local_file(key, work / ("logo" + Path(key).suffix), "logo")
        subs = options.get("subtitles")
        burn = bool(options.get("burn_subtitles"))
        if subs and (profile in extras.SUBTITLE_PROFILES or (profile == "social" and burn)):
            lang = str(subs["lang"])
            found["subtitles"] = self._local_file(
                subs["key"], work / f"subs.{lang}.vtt", "subtitles"
            )
            found["subtitle_lang"] = lang
            found["burn_subtitles"] = burn
        return found

    def _local_file(self, key: str, dest: Path, what: str) -> str:
        if isinstance(self.store, LocalObjectStore):
            path = self.store.file_path(key)
            if path.is_file():
                return str(path)
        elif self.store.exists(key):
            with self.store.open(key) as reader, dest.open("wb") as f:
                for chunk in reader:
                    f.write(chunk)
            return str(dest)
        raise InputMissing(
            f"Không tìm thấy tệp {what} / the {what} file {key} is not in storage"
            + (" (LOA_MEDIA_LOGO_KEY)" if what == "logo" else "")
        )

    def _encode(self, plan: profiles.Plan, run: _Run, asset_id: str) -> None:
        last_event = 0.0

        def on_progress(p: Progress) -> None:
            nonlocal last_event
            with self.db.session() as s:
                library.set_progress(s, run.job_id, run.attempt, p.percent, p.speed, p.eta_s)
                if time.monotonic() - last_event >= PROGRESS_EVENT_EVERY_S or p.percent >= 100:
                    last_event = time.monotonic()
                    self.db.record_event(
                        s,
                        "media.transcode_progress",
                        {
                            "asset_id": asset_id,
                            "profile": plan.profile,
                            "percent": p.percent,
                            "speed": p.speed,
                            "eta_s": p.eta_s,
                        },
                    )

        def should_cancel() -> bool:
            with self.db.session() as s:
                return not library.still_wanted(s, run.job_id, run.attempt, run.token)

        self.ffmpeg.run(
            plan.args,
            duration_s=plan.duration_s,
            on_progress=on_progress,
            should_cancel=should_cancel,
            timeout_s=self.settings.job_timeout_s,
        )

    def _finish_outputs(self, plan: profiles.Plan, work: Path) -> dict[str, dict[str, Any]]:
        """Profile-specific last steps; returns extra info per output name."""
        info: dict[str, dict[str, Any]] = {}
        if plan.profile == "web" and "variants" in plan.extra:
            subs = plan.extra.get("subtitles")
            if subs:
                self._hls_subtitles(plan, work, subs)
            master = profiles.master_playlist(plan.extra["variants"], plan.extra["has_audio"], subs)
            (work / "hls" / "master.m3u8").write_text(master)
        if plan.profile == "thumbnails":
            stats = Path(plan.extra["stats"])
            best = profiles.pick_poster(stats.read_text() if stats.exists() else "")
            candidates = sorted(work.glob("cand_*.jpg"))
            if not candidates:
                raise FfmpegError("no frame could be taken from the video for a poster")
            candidates[min(best, len(candidates) - 1)].rename(work / "poster.jpg")
            vtt = profiles.sprite_vtt(
                plan.extra["count"], plan.extra["interval"], plan.extra["cols"], plan.duration_s
            )
            (work / "thumbnails.vtt").write_text(vtt)
        if plan.loudness_target is not None:
            for out in plan.outputs:
                info[out.name] = self._conform_loudness(plan, work / out.path)
        return info

    def _hls_subtitles(self, plan: profiles.Plan, work: Path, subs: dict[str, str]) -> None:
        """The WebVTT rendition of the HLS ladder, timed against the first segment's start."""
        rung = plan.extra["variants"][0]["path"].split("/")[0]
        first = work / "hls" / rung / "seg_00000.ts"
        start = float((self.ffmpeg.probe(str(first)).get("format") or {}).get("start_time") or 0)
        folder = work / "hls" / "subs"
        folder.mkdir(parents=True, exist_ok=True)
        lang = subs["lang"]
        vtt = Path(subs["path"]).read_text(encoding="utf-8")
        (folder / f"{lang}.vtt").write_text(profiles.hls_webvtt(vtt, start), encoding="utf-8")
        (folder / f"{lang}.m3u8").write_text(
            profiles.subtitle_playlist(f"{lang}.vtt", plan.duration_s)
        )

    def _conform_loudness(self, plan: profiles.Plan, path: Path) -> dict[str, Any]:
        """Measure after encoding; if off target, correct the audio (video copied) and measure
        again. Fails the job rather than deliver a file out of spec."""
        target = float(plan.loudness_target or 0)
        ceiling = float(plan.true_peak_max if plan.true_peak_max is not None else -1.0)
        tolerance = LOUDNESS_TOLERANCE.get(plan.profile, 1.0)
        m = self.ffmpeg.loudness(str(path))
        for _ in range(3):
            if m.integrated <= profiles.SILENCE_LUFS:
                break
            if abs(m.integrated - target) <= tolerance and m.true_peak <= ceiling:
                break
            gain = target - m.integrated
            limit_db = ceiling - 1.5
            fixed = path.with_name("fix-" + path.name)
            audio = (
                ["-c:a", "pcm_s24le", "-ar", "48000", "-f", "mxf"]
                if path.suffix == ".mxf"
                else ["-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-movflags", "+faststart"]
            )
            args = ["-y", "-v", "error", "-i", str(path), "-map", "0:v", "-c:v", "copy"]
            args += [
                "-map",
                "0:a",
                "-af",
                f"volume={gain:.2f}dB,alimiter=limit={10 ** (limit_db / 20):.4f}:level=false",
            ]
            args += [*audio, str(fixed)]
            self.ffmpeg.run(args, duration_s=plan.duration_s)
            fixed.replace(path)
            m = self.ffmpeg.loudness(str(path))
        if m.integrated > profiles.SILENCE_LUFS and (
            abs(m.integrated - target) > tolerance or m.true_peak > ceiling
        ):
            raise FfmpegError(
                f"loudness {m.integrated:.1f} LUFS / true peak {m.true_peak:.1f} dBTP could not be "
                f"brought to {target} LUFS ±{tolerance} / ≤ {ceiling} dBTP"
            )
        return {"loudness_lufs": m.integrated, "true_peak_dbtp": m.true_peak}

    def _publish(
        self, plan: profiles.Plan, work: Path, prefix: str, info: dict[str, dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Copy outputs into the new generation folder; returns the rendition rows to commit."""
        items = []
        for out in plan.outputs:
            path = work / out.path
            if out.folder:
                files = sorted(p for p in path.parent.iterdir() if p.is_file())
            else:
                files = [path]
            for file in files:
                rel = file.relative_to(work).as_posix()
                ctype = out.content_type if file == path else _content_type(file)
                with file.open("rb") as f:
                    self.store.put(prefix + rel, f, size=file.stat().st_size, content_type=ctype)
            items.append(
                {
                    "name": out.name,
                    "key": prefix + Path(out.path).as_posix(),
                    "content_type": out.content_type,
                    "size": path.stat().st_size,
                    "info": {**out.info, **info.get(out.name, {}), "duration_s": plan.duration_s},
                }
            )
        return items

    def _commit(
        self,
        asset: Any,
        run: _Run,
        profile: str,
        generation: str,
        items: list[dict[str, Any]],
        prefix: str,
        old_generation: str | None,
    ) -> None:
        with self.db.session() as s:
            if not library.finish_job(
                s, run.job_id, run.attempt, library.DONE, generation=generation, token=run.token
            ):
                published = False
            else:
                published = True
                library.replace_renditions(s, asset.id, profile, items)
                for item in items:
                    self.db.record_event(
                        s,
                        "media.rendition_ready",
                        {
                            "asset_id": asset.id,
                            "profile": profile,
                            "rendition": item["name"],
                            "key": item["key"],
                            "size": item["size"],
                            "duration_s": asset.duration_s,
                        },
                    )
                self._settle_in(s, asset.id)
        if not published:  # cancelled or superseded while we encoded: nothing becomes visible
            self.store.delete_prefix(prefix + generation + "/")
            return
        if old_generation and old_generation != generation:
            self.store.delete_prefix(prefix + old_generation + "/")

    def _sweep_orphans(self, prefix: str, keep: str | None) -> None:
        """Remove generations a killed worker left half-published (never the committed one)."""
        doomed = {
            info.key[len(prefix) :].split("/", 1)[0]
            for info in self.store.list(prefix)
            if info.key[len(prefix) :].split("/", 1)[0] != keep
        }
        for generation in doomed:
            self.store.delete_prefix(prefix + generation + "/")

    def _fail(self, asset_id: str, run: _Run, profile: str, reason: str) -> None:
        with self.db.session() as s:
            if library.finish_job(
                s, run.job_id, run.attempt, library.FAILED, reason=reason[:2000], token=run.token
            ):
                self.db.record_event(
                    s,
                    "media.transcode_failed",
                    {
                        "asset_id": asset_id,
                        "profile": profile,
                        "reason": reason[:2000],
                        "attempt": run.attempt,
                    },
                )
            self._settle_in(s, asset_id)

    def _settle(self, asset_id: str) -> None:
        with self.db.session() as s:
            self._settle_in(s, asset_id)

    def _settle_in(self, s: Any, asset_id: str) -> None:
        status = library.settle_asset(s, asset_id)
        if status != "ready":
            return
        self._record_ready(s, asset_id)

    def _record_ready(self, s: Any, asset_id: str) -> None:
        asset = library.asset_row(s, asset_id)
        detail = library.asset_detail(s, asset_id)
        files = {f"{r['profile']}/{r['name']}": r["key"] for r in detail["renditions"]}
        self.db.record_event(s, "media.asset_ready", export.ready_payload(asset, files))

    # ------------------------------------------------------------------ subtitles and options

    def set_subtitles(self, asset_id: str, data: bytes, lang: str) -> dict[str, Any]:
        """Store the clip's subtitles as WebVTT (SRT converted; checked by ffmpeg's own parser)
        and make the profiles that carry them again."""
        lang = extras.check_lang(lang)
        text = extras.decode_subtitles(data)
        self.scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.scratch) as tmp:
            src = Path(tmp) / ("in.vtt" if text.lstrip().startswith("WEBVTT") else "in.srt")
            src.write_text(text, encoding="utf-8")
            out = Path(tmp) / "out.vtt"
            args = ["-y", "-v", "error", "-i", str(src), "-map", "0:s:0", "-c:s", "webvtt"]
            try:
                self.ffmpeg.run([*args, "-f", "webvtt", str(out)], duration_s=None)
                vtt = out.read_text(encoding="utf-8")
            except (FfmpegError, OSError) as exc:
                detail = exc.summary if isinstance(exc, FfmpegError) else str(exc)
                raise InvalidInput(
                    f"Không đọc được tệp phụ đề / the subtitle file cannot be read ({detail})",
                    "file",
                ) from None
        cues = extras.cue_count(vtt)
        if not cues:
            raise InvalidInput(
                "Tệp phụ đề không có câu nào / the subtitle file has no cues", "file"
            )
        key = extras.subtitle_key(asset_id, lang)
        with self.db.session() as s:
            if library.asset_row(s, asset_id).status == "deleted":
                raise Conflict("Tài sản đã bị xoá / the asset was deleted", "asset_id")
        body = vtt.encode("utf-8")
        self.store.put(key, body, size=len(body), content_type="text/vtt")
        digest = hashlib.sha256(body).hexdigest()
        subtitles = {"lang": lang, "key": key, "cues": cues, "sha256": digest}
        text = details.subtitles_text(vtt)
        rerun, before = self._change_options(
            asset_id, lambda o: {**o, "subtitles": subtitles}, subtitles_text=text
        )
        old = before.get("subtitles")
        if old and old.get("key") != key:
            self.store.delete(old["key"])
        return {"lang": lang, "cues": cues, "rerun": rerun}

    def delete_subtitles(self, asset_id: str) -> dict[str, Any]:
        rerun, before = self._change_options(
            asset_id, lambda o: {k: v for k, v in o.items() if k != "subtitles"}, subtitles_text=""
        )
        old = before.get("subtitles")
        if old:
            self.store.delete(old["key"])
        return {"rerun": rerun}

    def set_options(
        self, asset_id: str, logo: str | None = None, burn_subtitles: Any = None
    ) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if logo is not None:
            changes["logo"] = extras.check_logo(logo)
        if burn_subtitles is not None:
            changes["burn_subtitles"] = extras.check_flag(burn_subtitles, "burn_subtitles")
        named = changes.get("logo") not in (None, "default", "none")
        if named and not self.store.exists(changes["logo"]):
            raise InvalidInput(f"no logo image {changes['logo']} in storage", "logo")
        rerun, _ = self._change_options(asset_id, lambda o: {**o, **changes})
        with self.db.session() as s:
            options = library.asset_detail(s, asset_id)["options"]
        return {"options": options, "rerun": rerun}

    def update_details(self, asset_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Title, description, tags, unit: a ready asset tells its consumers (search) at once,
        as a new version; one still processing tells them when it is ready."""
        checked = details.clean(changes)
        with self.db.session() as s:
            row = library.update_details(s, asset_id, checked)
            if row is not None and row.status == "ready":
                self._record_ready(s, asset_id)
            return library.asset_detail(s, asset_id)

    def put_logo(self, name: str, data: bytes) -> dict[str, Any]:
        """Store a logo image under branding/<name>.<ext>, checked by ffprobe (type, one frame,
        sensible size); clips then name it in their logo option, LOA_MEDIA_LOGO_KEY may too.
        Replacing an image of the same name does not re-make clips already encoded with it."""
        name = extras.check_logo_name(name)
        if len(data) > extras.LOGO_MAX_BYTES:
            extras.check_logo_image(data, [])  # the size message
        self.scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.scratch) as tmp:
            path = Path(tmp) / "logo.bin"
            path.write_bytes(data)
            try:
                streams = self.ffmpeg.probe(str(path)).get("streams", []) if data else []
            except FfmpegError:
                streams = []
        suffix = extras.check_logo_image(data, streams)
        key = f"{extras.LOGO_PREFIX}{name}{suffix}"
        for old in self.list_logos():
            if old["name"] == name and old["key"] != key:
                self.store.delete(old["key"])
        content_type = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}[suffix]
        self.store.put(key, data, size=len(data), content_type=content_type)
        return {"name": name, "key": key, "size": len(data)}

    def list_logos(self) -> list[dict[str, Any]]:
        found = []
        for info in self.store.list(extras.LOGO_PREFIX):
            stem = Path(info.key).stem
            default = info.key == self.settings.logo_key
            found.append({"name": stem, "key": info.key, "size": info.size, "default": default})
        return sorted(found, key=lambda logo: logo["name"])

    def _change_options(
        self, asset_id: str, change: Any, subtitles_text: str | None = None
    ) -> tuple[list[str], dict[str, Any]]:
        """Apply change(options) in one transaction and queue the profiles it touches (when they
        are made again the asset is ready again, as a new version, with its subtitles' words)."""
        with self.db.session() as s:
            row = library.asset_row(s, asset_id)
            before = dict(row.options or {})
            after = change(before)
            library.set_options(s, asset_id, after)
            if subtitles_text is not None:
                library.set_subtitles_text(s, asset_id, subtitles_text)
            touched = extras.affected_profiles(
                before, after, self.settings.logo_profile_list, self.settings.logo_key
            )
            messages = library.rerun(s, asset_id, touched) if touched else []
            for message in messages:
                self.db.record_event(s, "media.transcode_requested", message)
        return [m["profile"] for m in messages], before

    def delete_asset(self, asset_id: str) -> bool:
        with self.db.session() as s:
            row = library.mark_deleted(s, asset_id)
            if row is None:
                return False
            version = library.asset_row(s, asset_id).version
            self.db.record_event(
                s, "media.asset_deleted", {"asset_id": asset_id, "version": version}
            )
        if row.original_key:
            self.store.delete(row.original_key)
        self.store.delete_prefix(f"assets/{asset_id}/")
        if row.upload_id:
            self.store.delete_prefix(f"uploads/{row.upload_id}/")
        return True


def _loudness_info(m: Loudness) -> LoudnessInfo:
    return LoudnessInfo(
        integrated_lufs=m.integrated,
        threshold_lufs=m.threshold,
        lra_lu=m.lra,
        true_peak_dbtp=m.true_peak,
    )


def _content_type(path: Path) -> str:
    return {
        ".ts": "video/mp2t",
        ".m3u8": "application/vnd.apple.mpegurl",
        ".mp4": "video/mp4",
        ".jpg": "image/jpeg",
        ".vtt": "text/vtt",
    }.get(path.suffix, "application/octet-stream")
