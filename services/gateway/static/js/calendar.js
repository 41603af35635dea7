// Calendar of deliveries (Vietnam wall-clock days), month or week view, keyboard navigable.
import { api, el, flash, onSubmitOnce, showError, t } from "./api.js";

const root = document.getElementById("calendar");
const grid = document.getElementById("cal-grid");
const label = document.getElementById("cal-label");
const params = new URLSearchParams(location.search);
let view = root.dataset.view === "week" ? "week" : "month";
const DAY = 86400000;
const MOVABLE = new Set(["scheduled", "waiting_media"]);
const errorBox = document.getElementById("cal-error");
const moveForm = document.getElementById("cal-move");
let moving = null; // the delivery whose move form is open

function vnToday() {
  const s = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Ho_Chi_Minh", year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
  return parseDay(s);
}
function parseDay(s) {
  const [y, m, d] = s.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}
function dayKey(d) {
  return d.toISOString().slice(0, 10);
}
function monday(d) {
  return new Date(d.getTime() - ((d.getUTCDay() + 6) % 7) * DAY);
}

let anchor = params.get("date") ? parseDay(params.get("date")) : vnToday();
let deliveries = [];
let titles = new Map();

function range() {
  if (view === "week") {
    const start = monday(anchor);
    return [start, new Date(start.getTime() + 7 * DAY)];
  }
  const first = new Date(Date.UTC(anchor.getUTCFullYear(), anchor.getUTCMonth(), 1));
  const start = monday(first);
  return [start, new Date(start.getTime() + 42 * DAY)];
}

function draw() {
  const [start, end] = range();
  const today = dayKey(vnToday());
  const fmt = new Intl.DateTimeFormat(document.body.dataset.lang === "vi" ? "vi-VN" : "en-GB", { timeZone: "UTC", month: "long", year: "numeric" });
  label.textContent = view === "week" ? `${dayKey(start)} – ${dayKey(new Date(end.getTime() - DAY))}` : fmt.format(anchor);
  root.querySelectorAll(".segmented button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.view === view)));
  const byDay = new Map();
  for (const d of deliveries) {
    if (d.status === "cancelled") continue; // moved or called off: the item's page keeps them
    const key = (d.local_time || d.due_at || "").slice(0, 10);
    if (!byDay.has(key)) byDay.set(key, []);
    byDay.get(key).push(d);
  }
  const cells = t("cal.days").split(",").map((name) => el("div", { class: "dow", "aria-hidden": "true", text: name }));
  for (let day = start; day < end; day = new Date(day.getTime() + DAY)) {
    const key = dayKey(day);
    const items = (byDay.get(key) || []).sort((a, b) => (a.local_time || "").localeCompare(b.local_time || ""));
    const other = view === "month" && day.getUTCMonth() !== anchor.getUTCMonth();
    cells.push(
      el(
        "div",
        { class: `cal-day${other ? " other" : ""}${key === today ? " today" : ""}`, "data-day": key, role: "group", "aria-label": key },
        el("div", { class: "muted", text: String(day.getUTCDate()) }),
        el(
          "ul",
          {},
          ...items.map((d) => item(d)),
        ),
      ),
    );
  }
  grid.replaceChildren(...cells);
  grid.querySelectorAll(".cal-day").forEach(dropTarget);
  const url = new URL(location.href);
  url.searchParams.set("view", view);
  url.searchParams.set("date", dayKey(anchor));
  history.replaceState(null, "", url);
}

function move(step) {
  if (view === "week") anchor = new Date(anchor.getTime() + step * 7 * DAY);
  else anchor = new Date(Date.UTC(anchor.getUTCFullYear(), anchor.getUTCMonth() + step, 1));
  draw();
}

document.getElementById("cal-prev").addEventListener("click", () => move(-1));
document.getElementById("cal-next").addEventListener("click", () => move(1));
document.getElementById("cal-today").addEventListener("click", () => {
  anchor = vnToday();
  draw();
});
root.querySelectorAll(".segmented button").forEach((b) =>
  b.addEventListener("click", () => {
    view = b.dataset.view;
    draw();
  }),
);

function label_(d) {
  return `${(d.local_time || "").slice(11, 16)} ${d.channel}: ${titles.get(d.item_id) || d.item_id.slice(0, 8)}`;
}

/** One delivery in a day: a link; if not yet sent, draggable and with a move button. */
function item(d) {
  const movable = MOVABLE.has(d.status);
  const li = el(
    "li",
    { class: `${d.status}${moving?.id === d.id ? " moving" : ""}`, "data-status": d.status, "data-delivery": d.id, draggable: movable ? "true" : null },
    el("a", { href: `/console/publishing/${d.item_id}`, text: label_(d), draggable: "false" }),
  );
  if (movable) {
    li.append(
      " ",
      el("button", {
        type: "button",
        class: "cal-move",
        text: "↔",
        title: t("cal.move"),
        "aria-label": `${t("cal.move")}: ${label_(d)}`,
        onclick: () => openMove(d),
      }),
    );
    li.addEventListener("dragstart", (e) => {
      e.dataTransfer.setData("application/x-loa-delivery", d.id);
      e.dataTransfer.setData("text/plain", d.id);
      e.dataTransfer.effectAllowed = "move";
    });
  }
  return li;
}

function dropTarget(cell) {
  const accepts = (e) => Array.from(e.dataTransfer?.types || []).includes("application/x-loa-delivery");
  cell.addEventListener("dragover", (e) => {
    if (!accepts(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    cell.classList.add("drop-target");
  });
  cell.addEventListener("dragleave", () => cell.classList.remove("drop-target"));
  cell.addEventListener("drop", (e) => {
    cell.classList.remove("drop-target");
    if (!accepts(e)) return;
    e.preventDefault();
    const d = deliveries.find((x) => x.id === e.dataTransfer.getData("application/x-loa-delivery"));
    if (!d || (d.local_time || "").slice(0, 10) === cell.dataset.day) return;
    const time = (d.local_time || "T08:00").slice(11, 16) || "08:00";
    reschedule(d, `${cell.dataset.day}T${time}`).catch((err) => showError(errorBox, err));
  });
}

/** Ask the server to move d to `at` (wall clock of its time zone); it refuses invalid times. */
async function reschedule(d, at) {
  showError(errorBox, null);
  const out = await api("POST", `/api/publishing/deliveries/${encodeURIComponent(d.id)}/reschedule`, { json: { at } });
  flash(`${t("cal.moved")} ${(out.delivery.local_time || at).replace("T", " ").slice(0, 16)}`);
  closeMove();
  await load();
  const moved = grid.querySelector(`li[data-delivery="${CSS.escape(out.delivery.id)}"] .cal-move`);
  if (moved) moved.focus();
}

function openMove(d) {
  moving = d;
  moveForm.hidden = false;
  document.getElementById("cal-move-title").textContent = `${t("cal.moving")} ${label_(d)}`;
  moveForm.date.value = (d.local_time || "").slice(0, 10);
  moveForm.time.value = (d.local_time || "").slice(11, 16);
  moveForm.date.focus();
}

function closeMove() {
  const was = moving;
  moving = null;
  moveForm.hidden = true;
  showError(moveForm.querySelector('[role="alert"]'), null);
  return was;
}

onSubmitOnce(moveForm, async () => {
  if (!moving) return;
  if (!moveForm.date.value || !moveForm.time.value) {
    const field = !moveForm.date.value ? "date" : "time";
    throw Object.assign(new Error(t("cal.move_date")), { problem: { title: t("error"), detail: `${t("cal.move_date")} / ${t("cal.move_time")}`, field } });
  }
  await reschedule(moving, `${moveForm.date.value}T${moveForm.time.value}`);
});
document.getElementById("cal-move-cancel").addEventListener("click", () => {
  const was = closeMove();
  if (was) grid.querySelector(`li[data-delivery="${CSS.escape(was.id)}"] .cal-move`)?.focus();
});
moveForm.addEventListener("keydown", (e) => {
  if (e.key === "Escape") document.getElementById("cal-move-cancel").click();
});

async function load() {
  try {
    const [rows, items] = await Promise.all([api("GET", "/api/publishing/deliveries"), api("GET", "/api/publishing/items?limit=200")]);
    deliveries = Array.isArray(rows) ? rows : rows.items || [];
    titles = new Map((Array.isArray(items) ? items : items.items || []).map((i) => [i.id, i.title]));
  } catch (err) {
    showError(errorBox, err);
  }
  draw();
}
load();
