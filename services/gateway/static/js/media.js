// Media page: drag-and-drop resumable uploads, the asset list with live transcode progress,
// one asset's jobs (queue position, failure reason, retry) and a player for the web version.
import { T, api, badge, busyButton, bytes, el, flash, onSubmitOnce, showError, t, when } from "./api.js";
import { TusUpload, UploadRefused } from "./tus.js";

const MEDIA_EXT = /\.(mp4|m4v|mov|mkv|mxf|mts|m2ts|avi|webm|mpg|mpeg|ts|3gp|wmv|flv|mp3|wav|m4a|aac|flac|ogg|opus|wma)$/i;
const dropzone = document.getElementById("dropzone");
const input = document.getElementById("file-input");
const titleInput = document.getElementById("upload-title");
const uploads = document.getElementById("uploads");
const uploadError = document.getElementById("upload-error");
const tbody = document.querySelector("#assets tbody");
const filter = document.getElementById("asset-filter");
const detail = document.getElementById("asset-detail");
const detailBody = document.getElementById("asset-body");
const editForm = document.getElementById("asset-edit");
let selected = detail.dataset.asset || "";
let editing = "";
let activeUploads = 0;
let lastDetailJson = "";

function isMedia(file) {
  return /^(video|audio)\//.test(file.type) || MEDIA_EXT.test(file.name);
}

function startUpload(file) {
  const name = el("span", { class: "name", text: file.name });
  const bar = el("progress", { max: 100, value: 0, "aria-label": `${t("media.uploading")} ${file.name}` });
  const pct = el("span", { class: "pct", text: "0%" });
  const state = el("span", { class: "state", text: t("media.uploading") });
  const toggle = el("button", { type: "button", text: t("media.pause") });
  const item = el("li", { class: "upload", "data-file": file.name }, name, " ", bytes(file.size), bar, pct, " · ", state, " ", toggle);
  uploads.prepend(item);
  const metadata = titleInput.value.trim() ? { title: titleInput.value.trim() } : {};
  const upload = new TusUpload(file, {
    endpoint: "/api/media/uploads",
    metadata,
    onProgress: (sent, total) => {
      const p = total ? Math.floor((sent / total) * 100) : 100;
      bar.value = p;
      pct.textContent = `${p}%`;
    },
    onState: (s) => {
      item.dataset.state = s;
      state.textContent = { resuming: t("media.resuming"), paused: t("media.pause"), uploading: t("media.uploading") }[s] || s;
    },
  });
  toggle.addEventListener("click", () => {
    if (upload.paused) {
      upload.resume();
      toggle.textContent = t("media.pause");
    } else {
      upload.pause();
      toggle.textContent = t("media.resume");
    }
  });
  activeUploads += 1;
  upload
    .start()
    .then(async (url) => {
      toggle.remove();
      bar.value = 100;
      pct.textContent = "100%";
      item.dataset.state = "done";
      state.textContent = t("media.uploaded");
      const id = url.split("/").pop();
      for (let i = 0; i < 20; i += 1) {
        const status = await api("GET", `/api/media/uploads/${id}/status`).catch(() => null);
        if (status?.state === "rejected" || status?.reason) {
          item.dataset.state = "rejected";
          state.textContent = `${t("media.rejected")}: ${status.reason || ""}`;
          break;
        }
        if (status?.asset_id) {
          item.dataset.asset = status.asset_id;
          if (!selected) select(status.asset_id);
          break;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      refresh();
    })
    .catch((err) => {
      toggle.remove();
      item.dataset.state = "failed";
      state.textContent = `${t("error")}: ${err.problem?.detail || err.message}`;
      if (err instanceof UploadRefused) showError(uploadError, err);
    })
    .finally(() => {
      activeUploads -= 1;
    });
}

function takeFiles(files) {
  showError(uploadError, null);
  for (const file of files) {
    if (!isMedia(file)) {
      showError(uploadError, { problem: { title: t("media.wrong_type"), detail: file.name } });
      continue;
    }
    startUpload(file);
  }
  input.value = "";
}

input.addEventListener("change", () => takeFiles(Array.from(input.files || [])));
for (const ev of ["dragenter", "dragover"]) {
  dropzone.addEventListener(ev, (e) => {
    e.preventDefault();
    dropzone.classList.add("over");
  });
}
for (const ev of ["dragleave", "drop"]) {
  dropzone.addEventListener(ev, () => dropzone.classList.remove("over"));
}
dropzone.addEventListener("drop", (e) => {
  e.preventDefault();
  takeFiles(Array.from(e.dataTransfer?.files || []));
});

function jobProgress(jobs) {
  if (!jobs?.length) return null;
  const total = jobs.reduce((s, j) => s + (j.state === "done" ? 100 : j.percent || 0), 0);
  return Math.round(total / jobs.length);
}

const progressCache = new Map();

async function refresh() {
  const q = filter.value.trim();
  let page;
  try {
    page = await api("GET", `/api/media/assets?limit=50${q ? `&q=${encodeURIComponent(q)}` : ""}`);
  } catch (err) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "error", text: err.message })));
    return false;
  }
  const processing = page.items.filter((a) => a.status === "processing").slice(0, 10);
  await Promise.all(
    processing.map(async (a) => {
      const d = await api("GET", `/api/media/assets/${a.id}`).catch(() => null);
      if (d) progressCache.set(a.id, jobProgress(d.jobs));
    }),
  );
  if (!page.items.length) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 4, text: t("media.empty") })));
  } else {
    tbody.replaceChildren(
      ...page.items.map((a) => {
        const p = a.status === "processing" ? progressCache.get(a.id) ?? 0 : a.status === "ready" ? 100 : null;
        const link = el("a", {
          href: `/console/media?asset=${a.id}`,
          text: a.title || a.filename || a.id,
          onclick: (e) => {
            e.preventDefault();
            select(a.id);
          },
        });
        return el(
          "tr",
          { "data-asset": a.id, "data-status": a.status, class: a.id === selected ? "selected" : "" },
          el("td", {}, link),
          el("td", {}, badge(a.status)),
          el("td", {}, p === null ? "—" : el("progress", { max: 100, value: p, "aria-label": `${p}%` }), p === null ? "" : ` ${p}%`),
          el("td", { text: when(a.created_at) }),
        );
      }),
    );
  }
  return page.items.some((a) => a.status === "processing");
}

function select(id) {
  selected = id;
  lastDetailJson = "";
  history.replaceState(null, "", `/console/media?asset=${encodeURIComponent(id)}`);
  tbody.querySelectorAll("tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.asset === id));
  loadDetail();
}

async function loadDetail() {
  if (!selected) return false;
  let a;
  try {
    a = await api("GET", `/api/media/assets/${selected}`);
  } catch (err) {
    detail.hidden = false;
    showError(detailBody, err);
    return false;
  }
  fillDetails(a);
  const json = JSON.stringify([a.status, a.jobs, a.renditions.length]);
  if (json === lastDetailJson) return a.status === "processing";
  lastDetailJson = json;
  detail.hidden = false;
  detail.dataset.status = a.status;
  document.getElementById("h-asset").replaceChildren(a.title || a.filename || a.id, " ", badge(a.status));
  const alertEl = el("div", { class: "error", role: "alert", hidden: true });
  const facts = el(
    "dl",
    { class: "facts" },
    el("dt", { text: t("media.duration") }),
    el("dd", { text: a.duration_s ? `${a.duration_s.toFixed(1)} s` : "—" }),
    el("dt", { text: t("media.size") }),
    el("dd", { text: `${bytes(a.size)}${a.width ? ` · ${a.width}×${a.height}` : ""}` }),
  );
  const mp4 =
    a.renditions.find((r) => r.profile === "web" && r.content_type === "video/mp4") ||
    a.renditions.find((r) => r.profile === "preview" && r.content_type === "video/mp4");
  const hls = a.renditions.find((r) => r.profile === "web" && r.key.endsWith("master.m3u8"));
  const poster =
    a.renditions.find((r) => r.profile === "thumbnails" && /poster\.(jpe?g|png)$/.test(r.key)) ||
    a.renditions.find((r) => r.profile === "thumbnails" && /image\//.test(r.content_type || ""));
  const player = [];
  if (mp4) {
    player.push(
      el("h3", { text: t("media.player") }),
      el("video", { id: "web-player", controls: true, preload: "metadata", src: mp4.play_url, poster: poster?.play_url, "aria-label": t("media.player") }),
    );
  }
  if (hls) player.push(el("p", {}, el("a", { href: hls.play_url, text: t("media.hls") })));
  player.push(...socialPreview(a), ...tvPreview(a, poster));
  const jobs = el(
    "table",
    { id: "jobs" },
    el("caption", { text: t("media.jobs") }),
    el(
      "thead",
      {},
      el("tr", {}, ...[t("media.profile"), t("status"), t("media.progress"), t("media.queue"), t("media.reason"), t("actions")].map((h) => el("th", { scope: "col", text: h }))),
    ),
    el(
      "tbody",
      {},
      ...a.jobs.map((j) => {
        const retry =
          j.state === "failed" || j.state === "cancelled"
            ? el("button", {
                type: "button",
                text: t("media.retry"),
                onclick: (e) =>
                  busyButton(
                    e.currentTarget,
                    async () => {
                      await api("POST", `/api/media/assets/${a.id}/retry`, { json: { profiles: [j.profile] } });
                      flash(t("media.retried"));
                      lastDetailJson = "";
                      poll();
                    },
                    alertEl,
                  ),
              })
            : "";
        return el(
          "tr",
          { "data-profile": j.profile, "data-state": j.state },
          el("td", { text: j.profile }),
          el("td", {}, badge(j.state)),
          el("td", {}, el("progress", { max: 100, value: j.state === "done" ? 100 : j.percent || 0 }), ` ${j.state === "done" ? 100 : Math.round(j.percent || 0)}%`),
          el("td", { text: j.queue_position ?? "—" }),
          el("td", { class: "reason", text: j.reason || "" }),
          el("td", {}, retry),
        );
      }),
    ),
  );
  const rends = el(
    "ul",
    {},
    ...a.renditions.map((r) => el("li", {}, el("a", { href: r.play_url, text: `${r.profile}: ${r.key.split("/").pop()}` }), ` (${bytes(r.size)})`)),
  );
  detailBody.replaceChildren(alertEl, facts, ...player, el("div", { class: "table-wrap" }, jobs), el("h3", { text: t("media.renditions") }), rends);
  return a.status === "processing";
}

// The details form is filled once per asset, not on every progress poll (it would wipe typing).
function fillDetails(a) {
  if (editing === a.id) return;
  editing = a.id;
  editForm.hidden = a.status === "deleted";
  editForm.elements.title.value = a.title || "";
  editForm.elements.description.value = a.description || "";
  editForm.elements.tags.value = (a.tags || []).join(", ");
  editForm.elements.unit_id.value = a.unit_id || "";
}

onSubmitOnce(editForm, async () => {
  const f = editForm.elements;
  const tags = f.tags.value.split(",").map((x) => x.trim()).filter(Boolean);
  const body = { title: f.title.value, description: f.description.value, tags, unit_id: f.unit_id.value.trim() || null };
  const a = await api("PATCH", `/api/media/assets/${editing}`, { json: body });
  editing = "";
  fillDetails(a);
  lastDetailJson = "";
  flash(t("media.saved"));
  loadDetail();
  refresh();
});

function loudnessFacts(info) {
  const facts = [];
  if (info?.loudness_lufs != null) facts.push([t("media.loudness"), `${Number(info.loudness_lufs).toFixed(1)} LUFS`]);
  if (info?.true_peak_dbtp != null) facts.push([t("media.true_peak"), `${Number(info.true_peak_dbtp).toFixed(1)} dBTP`]);
  return facts;
}

function factList(rows, id) {
  return el("dl", { class: "facts", id }, ...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
}

/** The social versions, framed as a phone shows them (vertical 9:16, square 1:1). */
function socialPreview(a) {
  const versions = ["vertical", "square"]
    .map((name) => [name, a.renditions.find((r) => r.profile === "social" && r.name === name && r.content_type === "video/mp4")])
    .filter(([, r]) => r);
  if (!versions.length) return [];
  return [
    el("h3", { text: t("media.social") }),
    el(
      "div",
      { class: "renditions-preview", id: "social-preview" },
      ...versions.map(([name, r]) => {
        const info = r.info || {};
        const size = info.width ? `${info.width}×${info.height}` : "";
        const loud = loudnessFacts(info).map(([k, v]) => `${k} ${v}`).join(" · ");
        return el(
          "figure",
          { class: `phone ${name}`, "data-version": name },
          el("video", { controls: true, preload: "metadata", playsinline: true, muted: true, src: r.play_url, "aria-label": `${t("media.social")}: ${t(`media.social_${name}`)}` }),
          el("figcaption", {}, `${t(`media.social_${name}`)} ${size}`, loud ? el("br") : null, loud, el("br"), el("a", { href: r.play_url, download: "", text: `${t("media.download")} (${bytes(r.size)})` })),
        );
      }),
    ),
  ];
}

/** The TV version: MXF does not play in a browser, so its poster, measured facts and a link. */
function tvPreview(a, poster) {
  const mxf = a.renditions.find((r) => r.profile === "tv");
  if (!mxf) return [];
  const info = mxf.info || {};
  const rows = [
    [t("media.tv_format"), `MXF · ${info.video || "?"} · ${info.audio || "?"}`],
    [t("media.tv_picture"), info.width ? `${info.width}×${info.height}${info.fps ? ` · ${info.fps} fps` : ""}` : "—"],
    ...loudnessFacts(info),
    [t("media.duration"), info.duration_s ? `${Number(info.duration_s).toFixed(1)} s` : "—"],
    [t("media.size"), bytes(mxf.size)],
  ];
  return [
    el("h3", { text: t("media.tv") }),
    el(
      "div",
      { class: "tv-preview", id: "tv-preview" },
      poster ? el("img", { src: poster.play_url, alt: t("media.tv_poster") }) : el("p", { class: "muted", text: t("media.tv_no_poster") }),
      el(
        "div",
        {},
        el("p", { class: "notice", text: t("media.tv_note") }),
        factList(rows, "tv-facts"),
        el("p", {}, el("a", { class: "button", href: mxf.play_url, download: "", text: `${t("media.tv_download")} (${bytes(mxf.size)})` })),
      ),
    ),
  ];
}

let timer = null;
async function poll() {
  clearTimeout(timer);
  const busyList = await refresh();
  const busyDetail = await loadDetail();
  timer = setTimeout(poll, busyList || busyDetail || activeUploads ? 1500 : 8000);
}

let filterTimer = null;
filter.addEventListener("input", () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(refresh, 300);
});
void T;
poll();
