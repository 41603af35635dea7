// One ticket: facts, history; assign, answer, publish the answer, merge, close.
import { api, badge, el, flash, onSubmitOnce, showError, t, when } from "./api.js";

const root = document.getElementById("ticket");
const ref = root.dataset.ticket;
const errorBox = document.getElementById("ticket-error");
let ticket = null;

async function loadUnits() {
  const rows = await api("GET", "/api/feedback/units");
  document.getElementById("a-unit").replaceChildren(...rows.filter((u) => !u.valid_to).map((u) => el("option", { value: u.id, text: u.name })));
  return new Map(rows.map((u) => [u.id, u.name]));
}

function show(tk, units) {
  ticket = tk;
  // The secret tracking code is shown to the intake desk only (to read to the caller); others
  // see the ticket's public id.
  document.getElementById("t-code").textContent = tk.code || tk.public_id;
  const status = document.getElementById("t-status");
  status.replaceChildren(badge(tk.status, "tk."));
  status.dataset.status = tk.status;
  const contact = tk.contact || {};
  const facts = [
    [t("inbox.category"), tk.category],
    [t("inbox.channel"), tk.channel],
    [t("inbox.unit"), units.get(tk.unit_id) || tk.unit_id || "—"],
    [t("inbox.deadline"), when(tk.deadline_at)],
    [t("created"), when(tk.created_at)],
    [t("ticket.contact"), [contact.name, contact.phone, contact.email].filter(Boolean).join(" · ") || "—"],
  ];
  document.getElementById("t-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  document.getElementById("t-description").textContent = tk.description || "";
  document.getElementById("t-answer-box").hidden = !tk.answer;
  document.getElementById("t-answer").textContent = tk.answer || "";
  const pub = document.getElementById("t-public");
  pub.hidden = !tk.code;
  if (tk.code) pub.href = `/console/track?code=${encodeURIComponent(tk.code)}`;
  document.getElementById("t-history").replaceChildren(
    ...(tk.history || []).map((h) => el("li", { text: `${when(h.at)} · ${h.action || ""} ${h.from_status || ""} → ${h.to_status || ""} ${h.note || ""}` })),
  );
  const open = !["answered", "closed", "merged"].includes(tk.status);
  document.getElementById("f-assign").hidden = !open;
  document.getElementById("f-answer").hidden = !open;
  document.getElementById("f-merge").hidden = !open;
  document.getElementById("f-publish").hidden = !(tk.is_public && tk.answered_at);
  document.getElementById("f-close").hidden = !["answered", "waiting_for_citizen", "received"].includes(tk.status);
  if (tk.unit_id) document.getElementById("a-unit").value = tk.unit_id;
}

let unitsMap = new Map();
async function reload() {
  show(await api("GET", `/api/feedback/staff/tickets/${encodeURIComponent(ref)}`), unitsMap);
}

async function act(action, body, key) {
  await api("POST", `/api/feedback/staff/tickets/${encodeURIComponent(ticket.id)}/${action}`, { json: body, idempotencyKey: key });
  await reload();
}

onSubmitOnce(document.getElementById("f-assign"), async (key) => {
  await act("assign", { unit_id: document.getElementById("a-unit").value }, key);
  flash(t("tk.assigned"));
});
onSubmitOnce(document.getElementById("f-answer"), async (key) => {
  const answer = document.getElementById("a-answer").value.trim();
  if (!answer) throw { problem: { title: t("error"), detail: `${t("ticket.answer")}: ?`, field: "answer" } };
  if (ticket.status === "received") await act("assign", { unit_id: document.getElementById("a-unit").value }, null);
  await act("answer", { answer }, key);
  flash(t("tk.answered"));
});
onSubmitOnce(document.getElementById("f-publish"), async (key) => {
  await act("publish", {}, key);
  flash(t("ticket.published"));
});
onSubmitOnce(document.getElementById("f-merge"), async (key) => {
  const into = document.getElementById("m-into").value.trim();
  if (!into) throw { problem: { title: t("error"), detail: `${t("ticket.merge")}: ?`, field: "into" } };
  const target = await api("GET", `/api/feedback/staff/tickets/${encodeURIComponent(into)}`);
  await act("merge", { into: target.id }, key);
  flash(t("tk.merged"));
});
onSubmitOnce(document.getElementById("f-close"), async (key) => {
  await act("close", {}, key);
  flash(t("tk.closed"));
});

loadUnits()
  .then((m) => {
    unitsMap = m;
    return reload();
  })
  .catch((err) => {
    // not found or not this account's unit: say so, and offer no action on it
    showError(errorBox, err);
    root.querySelectorAll("form").forEach((f) => (f.hidden = true));
    document.getElementById("t-public").hidden = true;
  });
