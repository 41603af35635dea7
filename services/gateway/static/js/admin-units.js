// Administration of units: the tree with validity dates, create/rename, dissolve with successor.
import { api, el, flash, onSubmitOnce, showError, t } from "./api.js";
import { UNITS, fillUnitSelects, isCurrent, loadUnits, treeOrder } from "./units.js";

const tree = document.getElementById("unit-tree");
const treeError = document.getElementById("tree-error");
const showEnded = document.getElementById("u-show-ended");
const unitForm = document.getElementById("f-unit");
const dissolveForm = document.getElementById("f-dissolve");
const dissolveResult = document.getElementById("d-result");

function day(v) {
  return v ? String(v).slice(0, 10) : "";
}

function edit(u) {
  unitForm.unit_id.value = u.id;
  unitForm.name.value = u.name;
  unitForm.parent_id.value = u.parent_id || "";
  unitForm.valid_from.value = day(u.valid_from);
  unitForm.name.focus();
}

function draw() {
  const rows = treeOrder().filter(([u]) => showEnded.checked || isCurrent(u));
  if (!rows.length) {
    tree.replaceChildren(el("p", { text: t("units.empty") }));
    return;
  }
  // nested lists from the flat, ordered (unit, depth) pairs
  const rootList = el("ul", { class: "tree" });
  const stack = [rootList];
  for (const [u, depth] of rows) {
    while (stack.length > depth + 1) stack.pop();
    while (stack.length < depth + 1) {
      const parentLi = stack[stack.length - 1].lastElementChild;
      const sub = el("ul", {});
      (parentLi || stack[stack.length - 1]).append(sub);
      stack.push(sub);
    }
    const dates = [];
    if (u.valid_from) dates.push(`${t("units.from")} ${day(u.valid_from)}`);
    if (u.valid_to) dates.push(`${t("units.to")} ${day(u.valid_to)}`);
    const ended = !isCurrent(u);
    stack[stack.length - 1].append(
      el(
        "li",
        { "data-unit": u.id, class: ended ? "ended" : "" },
        el("strong", { text: u.name }),
        " ",
        el("code", { text: u.id }),
        dates.length ? el("span", { class: "muted", text: ` · ${dates.join(" ")}` }) : null,
        ended ? el("span", { class: "badge failed", text: t("units.ended") }) : null,
        u.successor_id ? el("span", { class: "muted", text: ` ${t("units.to_successor")} ${u.successor_id}` }) : null,
        " ",
        el("button", { type: "button", class: "small", text: t("admin.edit"), "aria-label": `${t("admin.edit")} ${u.name}`, onclick: () => edit(u) }),
      ),
    );
  }
  tree.replaceChildren(rootList);
}

async function refresh() {
  try {
    await loadUnits();
    showError(treeError, null);
  } catch (err) {
    showError(treeError, err);
  }
  fillUnitSelects(document, { includeEnded: false });
  draw();
}

function missing(detail, field) {
  const err = new Error(detail);
  err.problem = { title: t("error"), detail, field };
  return err;
}

onSubmitOnce(unitForm, async () => {
  const id = unitForm.unit_id.value.trim();
  const name = unitForm.name.value.trim();
  if (!id || !name) throw missing(t("units.missing"), !id ? "unit_id" : "name");
  const body = { name, parent_id: unitForm.parent_id.value || null };
  if (unitForm.valid_from.value) body.valid_from = unitForm.valid_from.value;
  await api("PUT", `/api/feedback/units/${encodeURIComponent(id)}`, { json: body });
  flash(`${t("saved")}: ${name}`);
  unitForm.reset();
  await refresh();
});

onSubmitOnce(dissolveForm, async () => {
  const id = dissolveForm.unit_id.value;
  if (!id || !dissolveForm.valid_to.value) throw missing(t("units.pick"), !id ? "unit_id" : "valid_to");
  const body = { valid_to: dissolveForm.valid_to.value, successor_id: dissolveForm.successor_id.value || null };
  const out = await api("POST", `/api/feedback/units/${encodeURIComponent(id)}/dissolve`, { json: body });
  dissolveResult.textContent = `${t("units.dissolved")} ${out.moved_tickets}`;
  dissolveResult.hidden = false;
  dissolveForm.reset();
  await refresh();
});

showEnded.addEventListener("change", draw);
void UNITS;
refresh();
