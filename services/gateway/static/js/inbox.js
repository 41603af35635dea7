// The unit's inbox: open tickets sorted by deadline, overdue ones marked.
import { ME, api, badge, el, parseTime, showError, t, when } from "./api.js";

const OPEN = "received,assigned,in_progress,waiting_for_citizen,reopened";
const tbody = document.querySelector("#inbox tbody");
const unitSelect = document.getElementById("inbox-unit");
const all = document.getElementById("inbox-all");
const errorBox = document.getElementById("inbox-error");
let units = new Map();

async function loadUnits() {
  const rows = await api("GET", "/api/feedback/units");
  units = new Map(rows.map((u) => [u.id, u.name]));
  unitSelect.append(...rows.filter((u) => !u.valid_to).map((u) => el("option", { value: u.id, text: u.name })));
  if (ME?.role === "officer" && ME.unit_id) {
    unitSelect.value = ME.unit_id;
    unitSelect.disabled = true;
  }
}

async function load() {
  showError(errorBox, null);
  const q = new URLSearchParams({ limit: "500" });
  if (!all.checked) q.set("status", OPEN);
  if (unitSelect.value) q.set("unit_id", unitSelect.value);
  let rows;
  try {
    rows = await api("GET", `/api/feedback/staff/tickets?${q}`);
  } catch (err) {
    showError(errorBox, err);
    return;
  }
  const now = Date.now();
  rows.sort((a, b) => (parseTime(a.deadline_at)?.getTime() ?? Infinity) - (parseTime(b.deadline_at)?.getTime() ?? Infinity));
  tbody.replaceChildren(
    ...(rows.length
      ? rows.map((tk) => {
          const deadline = parseTime(tk.deadline_at);
          const open = OPEN.split(",").includes(tk.status);
          const overdue = open && deadline && deadline.getTime() < now;
          return el(
            "tr",
            { class: overdue ? "overdue" : "", "data-code": tk.code || tk.public_id, "data-overdue": overdue ? "true" : "false" },
            el("td", {}, when(tk.deadline_at), overdue ? [" ", el("span", { class: "badge overdue", text: t("inbox.overdue") })] : ""),
            el("td", {}, el("a", { href: `/console/feedback/tickets/${encodeURIComponent(tk.public_id)}`, class: "code", text: tk.code || tk.public_id })),
            el("td", { text: tk.title || "" }),
            el("td", { text: tk.category }),
            el("td", { text: units.get(tk.unit_id) || tk.unit_id || "—" }),
            el("td", { text: tk.channel }),
            el("td", {}, badge(tk.status, "tk.")),
          );
        })
      : [el("tr", {}, el("td", { colspan: 7, text: t("none") }))]),
  );
}

unitSelect.addEventListener("change", load);
all.addEventListener("change", load);
loadUnits()
  .catch((err) => showError(errorBox, err))
  .then(load);
setInterval(load, 30000);
