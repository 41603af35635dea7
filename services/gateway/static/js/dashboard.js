// Dashboard: inline SVG bar charts (with their numbers in a table beside each).
import { api, el, parseTime, t } from "./api.js";

const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#b3261e", "#1f6feb", "#1e7a3c", "#9a6700"];

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/**
 * A grouped bar chart. labels: category names; series: [{name, values}] (same length as labels).
 * `max` fixes the scale (e.g. 1 for rates); `format` turns a value into its label.
 */
export function barChart(labels, series, { max, format = (v) => String(v) } = {}) {
  const W = 640, H = 260, left = 40, bottom = 60, top = 16;
  const plotW = W - left - 8, plotH = H - bottom - top;
  const all = series.flatMap((s) => s.values.filter((v) => v != null));
  const top_ = max ?? Math.max(1, ...all);
  const groupW = plotW / Math.max(1, labels.length);
  const barW = Math.max(2, (groupW * 0.8) / series.length);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": series.map((s) => s.name).join(", ") });
  for (let i = 0; i <= 4; i += 1) {
    const y = top + plotH - (plotH * i) / 4;
    root.append(svg("line", { x1: left, x2: W - 8, y1: y, y2: y, stroke: "#d6dae0" }));
    root.append(svg("text", { x: left - 4, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#5b6470" }, format((top_ * i) / 4)));
  }
  labels.forEach((label, gi) => {
    const gx = left + gi * groupW + groupW * 0.1;
    series.forEach((s, si) => {
      const v = s.values[gi];
      if (v == null) return;
      const h = (plotH * v) / top_;
      const rect = svg("rect", { x: gx + si * barW, y: top + plotH - h, width: barW - 1, height: Math.max(0, h), fill: COLORS[si % COLORS.length] });
      rect.append(svg("title", {}, `${label} · ${s.name}: ${format(v)}`));
      root.append(rect);
    });
    const tx = left + gi * groupW + groupW / 2;
    const short = label.length > 14 ? label.slice(0, 13) + "…" : label;
    root.append(svg("text", { x: tx, y: H - bottom + 14, "text-anchor": "end", "font-size": 11, transform: `rotate(-35 ${tx} ${H - bottom + 14})` }, short));
  });
  return root;
}

function table(labels, series, format, firstHeader) {
  return el(
    "details",
    {},
    el("summary", { text: t("dash.table") }),
    el(
      "div",
      { class: "table-wrap" },
      el(
        "table",
        {},
        el("thead", {}, el("tr", {}, el("th", { scope: "col", text: firstHeader }), ...series.map((s) => el("th", { scope: "col", text: s.name })))),
        el("tbody", {}, ...labels.map((l, i) => el("tr", {}, el("th", { scope: "row", text: l }), ...series.map((s) => el("td", { text: s.values[i] == null ? "—" : format(s.values[i]) }))))),
      ),
    ),
  );
}

function legend(series) {
  return el("div", { class: "legend" }, ...series.map((s, i) => el("span", {}, el("span", { class: "swatch", style: `background:${COLORS[i % COLORS.length]}` }), s.name)));
}

function put(id, labels, series, opts = {}, firstHeader = "") {
  const box = document.querySelector(`#${id} .plot`);
  if (!labels.length) {
    box.replaceChildren(el("p", { class: "muted", text: t("dash.nodata") }));
    return;
  }
  const format = opts.format || ((v) => String(Math.round(v * 100) / 100));
  box.replaceChildren(legend(series), barChart(labels, series, { ...opts, format }), table(labels, series, format, firstHeader));
}

function failed(id, err) {
  document.querySelector(`#${id} .plot`).replaceChildren(el("p", { class: "error", role: "alert", text: err.message }));
}

const now = new Date();
const year = now.getFullYear();
const month = `${year}-${String(now.getMonth() + 1).padStart(2, "0")}`;

api("GET", `/api/publishing/plan?from=${year}-01&to=${year}-12`)
  .then((plan) => {
    const months = (plan.tasks[0]?.months || []).map((m) => m.month);
    const planned = months.map((_, i) => plan.tasks.reduce((s, task) => s + (task.months[i]?.planned || 0), 0));
    const published = months.map((_, i) => plan.tasks.reduce((s, task) => s + (task.months[i]?.published || 0), 0));
    put("chart-plan", months, [{ name: t("dash.planned"), values: planned }, { name: t("dash.published"), values: published }], {}, t("dash.month"));
  })
  .catch((err) => failed("chart-plan", err));

api("GET", `/api/feedback/reports/${month}`)
  .then((rows) => {
    const labels = rows.map((r) => r.unit_name || r.unit_id || "—");
    const pct = (v) => `${Math.round(v * 100)}%`;
    put("chart-ontime", labels, [{ name: t("dash.rate"), values: rows.map((r) => r.on_time_rate) }], { max: 1, format: pct }, t("dash.unit"));
    put("chart-satisfaction", labels, [{ name: t("dash.satisfaction"), values: rows.map((r) => r.mean_rating) }], { max: 5 }, t("dash.unit"));
  })
  .catch((err) => {
    failed("chart-ontime", err);
    failed("chart-satisfaction", err);
  });

(async () => {
  const page = await api("GET", "/api/media/assets?limit=50");
  const details = await Promise.all(page.items.slice(0, 30).map((a) => api("GET", `/api/media/assets/${a.id}`).catch(() => null)));
  const days = [];
  const day = 86400000;
  for (let i = 13; i >= 0; i -= 1) days.push(new Date(Date.now() - i * day).toISOString().slice(0, 10));
  const counts = new Map(days.map((d) => [d, 0]));
  for (const d of details) {
    for (const j of d?.jobs || []) {
      const f = j.state === "done" && parseTime(j.finished_at);
      if (f) {
        const key = f.toISOString().slice(0, 10);
        if (counts.has(key)) counts.set(key, counts.get(key) + 1);
      }
    }
  }
  put("chart-throughput", days.map((d) => d.slice(5)), [{ name: t("dash.jobs"), values: days.map((d) => counts.get(d)) }], {}, t("dash.day"));
})().catch((err) => failed("chart-throughput", err));
