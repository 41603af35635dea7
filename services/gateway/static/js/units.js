// The feedback service's unit tree (ids, names, validity, successors) for the admin screens.
import { api, el, t } from "./api.js";

export let UNITS = [];

/** Today in Vietnam as YYYY-MM-DD. */
export function vnToday() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Ho_Chi_Minh", year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
}

/** Whether a unit is in force today (valid_from ≤ today < valid_to). */
export function isCurrent(u, day = vnToday()) {
  return (!u.valid_from || String(u.valid_from).slice(0, 10) <= day) && (!u.valid_to || day < String(u.valid_to).slice(0, 10));
}

export async function loadUnits() {
  const rows = await api("GET", "/api/feedback/units");
  UNITS = Array.isArray(rows) ? rows : rows.items || [];
  return UNITS;
}

export function unitName(id) {
  const u = UNITS.find((x) => x.id === id);
  return u ? `${u.name} (${u.id})` : id;
}

/** Units in tree order with their depth (children under parents, by name). */
export function treeOrder(units = UNITS) {
  const byParent = new Map();
  const ids = new Set(units.map((u) => u.id));
  for (const u of units) {
    const parent = u.parent_id && ids.has(u.parent_id) ? u.parent_id : "";
    if (!byParent.has(parent)) byParent.set(parent, []);
    byParent.get(parent).push(u);
  }
  const out = [];
  const seen = new Set();
  const walk = (parent, depth) => {
    for (const u of (byParent.get(parent) || []).sort((a, b) => a.name.localeCompare(b.name, "vi"))) {
      if (seen.has(u.id)) continue;
      seen.add(u.id);
      out.push([u, depth]);
      walk(u.id, depth + 1);
    }
  };
  walk("", 0);
  return out;
}

/** Fill every select.unit-select under root (its first option is kept as the placeholder). */
export function fillUnitSelects(root, { includeEnded = false } = {}) {
  for (const select of root.querySelectorAll("select.unit-select")) {
    const keep = select.value;
    const first = select.options[0];
    const options = treeOrder()
      .filter(([u]) => includeEnded || isCurrent(u) || u.id === keep)
      .map(([u, depth]) =>
        el("option", { value: u.id, text: `${"\u00a0\u00a0".repeat(depth)}${u.name} (${u.id})${isCurrent(u) ? "" : ` — ${t("units.ended")}`}` }),
      );
    select.replaceChildren(...(first ? [first] : []), ...options);
    select.value = keep;
  }
}
