// Calendar of deliveries (Vietnam wall-clock days), month or week view, keyboard navigable.
import { api, el, showError, t } from "./api.js";

const root = document.getElementById("calendar");
const grid = document.getElementById("cal-grid");
const label = document.getElementById("cal-label");
const params = new URLSearchParams(location.search);
let view = root.dataset.view === "week" ? "week" : "month";
const DAY = 86400000;

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
          ...items.map((d) =>
            el(
              "li",
              { class: d.status, "data-status": d.status },
              el("a", { href: `/console/publishing/${d.item_id}`, text: `${(d.local_time || "").slice(11, 16)} ${d.channel}: ${titles.get(d.item_id) || d.item_id.slice(0, 8)}` }),
            ),
          ),
        ),
      ),
    );
  }
  grid.replaceChildren(...cells);
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

async function load() {
  try {
    const [rows, items] = await Promise.all([api("GET", "/api/publishing/deliveries"), api("GET", "/api/publishing/items?limit=200")]);
    deliveries = Array.isArray(rows) ? rows : rows.items || [];
    titles = new Map((Array.isArray(items) ? items : items.items || []).map((i) => [i.id, i.title]));
  } catch (err) {
    const box = el("div", { class: "error", role: "alert" });
    root.prepend(box);
    showError(box, err);
  }
  draw();
}
load();
