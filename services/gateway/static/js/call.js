// The hotline operator's call screen: the caller's earlier tickets and a new ticket in a few
// keystrokes (category, what they say, Ctrl+Enter); the tracking code is read to the caller.
import { api, badge, el, onSubmitOnce, showError, t, when } from "./api.js";

const openForm = document.getElementById("call-open");
const view = document.getElementById("call-view");
const errorBox = document.getElementById("call-error");
const ticketForm = document.getElementById("call-ticket");
const result = document.getElementById("call-result");
const category = document.getElementById("c-category");
let callId = "";

async function loadCategories() {
  const cats = await api("GET", "/api/feedback/categories");
  category.replaceChildren(...cats.map((c) => el("option", { value: c.code, text: c.name })));
  const ask = cats.find((c) => c.code === "thu_tuc");
  if (ask) category.value = ask.code;
}

async function openCall(id) {
  showError(errorBox, null);
  const call = await api("GET", `/api/feedback/calls/${encodeURIComponent(id)}`);
  callId = id;
  history.replaceState(null, "", `/console/feedback/call?call_id=${encodeURIComponent(id)}`);
  document.getElementById("call-state").textContent = call.state || "—";
  document.getElementById("call-line").textContent = call.line || "—";
  const earlier = call.earlier_tickets || [];
  document.getElementById("call-history").replaceChildren(
    ...(earlier.length
      ? earlier.map((tk) =>
          el("li", {}, el("a", { href: `/console/feedback/tickets/${encodeURIComponent(tk.code || tk.id)}`, text: tk.code || tk.id }), " ", badge(tk.status, "tk."), " ", tk.title || tk.category || "", " · ", when(tk.created_at)),
        )
      : [el("li", { text: t("none") })]),
  );
  view.hidden = false;
  if (call.ticket_id) {
    result.hidden = false;
  } else {
    result.hidden = true;
    ticketForm.hidden = false;
  }
  category.focus();
}

onSubmitOnce(openForm, async () => {
  const id = openForm.call_id.value.trim();
  if (!id) {
    openForm.call_id.focus();
    return;
  }
  try {
    await openCall(id);
  } catch (err) {
    showError(errorBox, err);
  }
});

onSubmitOnce(ticketForm, async (key) => {
  const description = ticketForm.description.value.trim();
  if (!description) {
    ticketForm.description.setAttribute("aria-invalid", "true");
    ticketForm.description.focus();
    throw { problem: { title: t("error"), detail: `${t("call.description")}: ?` } };
  }
  const body = { category: category.value, description, is_public: ticketForm.is_public.checked };
  if (ticketForm.name.value.trim()) body.name = ticketForm.name.value.trim();
  const ticket = await api("POST", `/api/feedback/calls/${encodeURIComponent(callId)}/ticket`, { json: body, idempotencyKey: key });
  document.getElementById("ticket-code").textContent = ticket.code;
  document.getElementById("ticket-deadline").textContent = when(ticket.deadline_at);
  result.hidden = false;
  ticketForm.hidden = true;
  result.focus?.();
});

ticketForm.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    ticketForm.requestSubmit();
  }
});

loadCategories().catch((err) => showError(errorBox, err));
if (openForm.call_id.value.trim()) openCall(openForm.call_id.value.trim()).catch((err) => showError(errorBox, err));
