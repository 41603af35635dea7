// Publishing page: the item list, the editor with per-channel variants and previews, the
// workflow (submit, approve, reject, withdraw), scheduling and the deliveries with re-send.
import { api, badge, busyButton, el, flash, onSubmitOnce, showError, t, when } from "./api.js";

const root = document.getElementById("publishing");
const itemId = root.dataset.item || "";
const form = document.getElementById("item-form");
const list = document.getElementById("item-list");
const workflow = document.getElementById("workflow");
const wfError = workflow.querySelector('[role="alert"]');
const scheduleForm = document.getElementById("schedule-form");
const channelSelect = document.getElementById("s-channel");
const deliveriesBody = document.querySelector("#deliveries tbody");
const variantsBox = document.getElementById("variants");
const LIMITS = { facebook: 63206, zalo: 2000, youtube: 5000, press: 100000, tv: 2000, portal: 100000, ebulletin: 100000 };
let channels = [];
let current = null;

function asList(data) {
  return Array.isArray(data) ? data : data?.items || [];
}

async function loadList() {
  try {
    const items = asList(await api("GET", "/api/publishing/items?limit=100"));
    list.replaceChildren(
      ...(items.length
        ? items.map((it) =>
            el(
              "li",
              {},
              el("a", { href: `/console/publishing/${it.id}`, text: it.title || it.id, "aria-current": it.id === itemId ? "page" : null }),
              " ",
              badge(it.status, "pub.status."),
            ),
          )
        : [el("li", { text: t("none") })]),
    );
  } catch (err) {
    list.replaceChildren(el("li", { class: "error", text: err.message }));
  }
}

function previewText(channel) {
  const vt = form.querySelector(`[name="variant-title-${channel}"]`).value.trim();
  const vx = form.querySelector(`[name="variant-text-${channel}"]`).value.trim();
  const title = vt || form.title.value.trim();
  const text = vx || form.summary.value.trim() || form.body.value.trim();
  return { title, text };
}

function updatePreview(channel) {
  const box = variantsBox.querySelector(`[data-preview="${channel}"]`);
  const { title, text } = previewText(channel);
  const limit = LIMITS[channel];
  const over = limit && text.length > limit;
  box.replaceChildren(el("strong", { text: title }), "\n", text, el("div", { class: over ? "error" : "muted", text: `${text.length}${limit ? ` / ${limit}` : ""}` }));
}

function buildVariants() {
  variantsBox.replaceChildren(
    variantsBox.querySelector("legend"),
    ...channels.map((c) =>
      el(
        "details",
        { "data-channel": c.channel },
        el("summary", {}, c.channel, c.configured ? "" : ` (${t("pub.not_configured")})`),
        el("label", { for: `v-title-${c.channel}`, text: t("pub.variant_title") }),
        el("input", { id: `v-title-${c.channel}`, name: `variant-title-${c.channel}`, maxlength: "500", oninput: () => updatePreview(c.channel) }),
        el("label", { for: `v-text-${c.channel}`, text: t("pub.variant_text") }),
        el("textarea", { id: `v-text-${c.channel}`, name: `variant-text-${c.channel}`, rows: 3, oninput: () => updatePreview(c.channel) }),
        el("p", { class: "muted", text: t("pub.preview") }),
        el("div", { class: "preview", "data-preview": c.channel }),
      ),
    ),
  );
  variantsBox.querySelectorAll("details").forEach((d) => d.addEventListener("toggle", () => d.open && updatePreview(d.dataset.channel)));
  channelSelect.replaceChildren(
    ...channels.map((c) => el("option", { value: c.channel, text: c.configured ? c.channel : `${c.channel} (${t("pub.not_configured")})`, selected: c.channel === "portal" })),
  );
}

function fill(item) {
  current = item;
  form.kind.value = item.kind || "article";
  form.plan_task.value = item.plan_task ?? "";
  form.title.value = item.title || "";
  form.summary.value = item.summary || "";
  form.body.value = item.body_html || item.body_text || "";
  form.tags.value = (item.tags || []).join(", ");
  form.asset_id.value = item.asset_id || "";
  showDocument(item);
  for (const [channel, v] of Object.entries(item.variants || {})) {
    const ti = form.querySelector(`[name="variant-title-${channel}"]`);
    const tx = form.querySelector(`[name="variant-text-${channel}"]`);
    if (ti) ti.value = v.title || "";
    if (tx) tx.value = v.text || "";
  }
  document.getElementById("item-status").replaceChildren(badge(item.status, "pub.status."));
  document.getElementById("item-status").dataset.status = item.status;
  const editable = item.status === "draft" || item.status === "in_review";
  form.querySelectorAll("input, select, textarea, button").forEach((f) => (f.disabled = !editable));
  const allowed = {
    draft: ["submit"],
    in_review: ["approve", "reject"],
    approved: ["withdraw"],
    scheduled: ["withdraw"],
    published: ["withdraw"],
  }[item.status] || [];
  workflow.querySelectorAll("button[data-action]").forEach((b) => (b.hidden = !allowed.includes(b.dataset.action)));
  scheduleForm.hidden = !["approved", "scheduled", "published"].includes(item.status);
  workflow.hidden = false;
  document.getElementById("history").replaceChildren(
    ...(item.history || []).map((h) => el("li", { text: `${when(h.at)} · ${h.action} · ${h.from_status || ""} → ${h.to_status} · ${h.actor} (${h.role})${h.note ? ` · ${h.note}` : ""}` })),
  );
}

const documentBox = document.getElementById("document-box");
function showDocument(item) {
  documentBox.hidden = form.kind.value !== "document";
  const d = item?.document;
  document.getElementById("document-state").textContent = d
    ? `${d.filename} · ${["ok", "partial"].includes(d.text_status) ? t("pub.document.read") : t("pub.document.unread")}`
    : "";
}
form.kind.addEventListener("change", () => showDocument(current));

function collect() {
  const data = {
    kind: form.kind.value,
    title: form.title.value.trim(),
    summary: form.summary.value.trim(),
    body: form.body.value,
    tags: form.tags.value.split(",").map((s) => s.trim()).filter(Boolean),
    plan_task: form.plan_task.value ? Number(form.plan_task.value) : null,
    asset_id: form.asset_id.value.trim() || null,
  };
  const variants = {};
  for (const c of channels) {
    const title = form.querySelector(`[name="variant-title-${c.channel}"]`).value.trim();
    const text = form.querySelector(`[name="variant-text-${c.channel}"]`).value.trim();
    if (title || text) variants[c.channel] = { title: title || null, text: text || null };
  }
  data.variants = variants;
  return data;
}

onSubmitOnce(form, async (key) => {
  const data = collect();
  if (!data.title) {
    form.title.setAttribute("aria-invalid", "true");
    form.title.focus();
    throw { problem: { title: t("error"), detail: `${t("title")}: ?`, field: "title" } };
  }
  if (!current) {
    const item = await api("POST", "/api/publishing/items", { json: data, idempotencyKey: key });
    window.location.assign(`/console/publishing/${item.id}?created=1`);
    await new Promise(() => {}); // keep the button disabled until the page changes
  }
  let item = await api("PATCH", `/api/publishing/items/${current.id}`, { json: data, idempotencyKey: key });
  const pdf = form.document.files?.[0];
  if (pdf && item.kind === "document") {
    if (!/\.pdf$/i.test(pdf.name) && pdf.type !== "application/pdf") {
      form.document.setAttribute("aria-invalid", "true");
      throw { problem: { title: t("error"), detail: `${t("pub.document.not_pdf")}: ${pdf.name}`, field: "document" } };
    }
    const name = encodeURIComponent(pdf.name);
    const typed = pdf.type === "application/pdf" ? pdf : new Blob([pdf], { type: "application/pdf" });
    item = await api("PUT", `/api/publishing/items/${current.id}/document?filename=${name}`, { file: typed });
    form.document.value = "";
  }
  fill(item);
  flash(t("saved"));
  loadList();
});

workflow.querySelectorAll("button[data-action]").forEach((button) =>
  button.addEventListener("click", () =>
    busyButton(
      button,
      async () => {
        const item = await api("POST", `/api/publishing/items/${current.id}/transitions`, { json: { action: button.dataset.action } });
        fill(item);
        flash(`${t("pub.status." + item.status)}`);
        loadList();
      },
      wfError,
    ),
  ),
);

onSubmitOnce(scheduleForm, async (key) => {
  const at = scheduleForm.at.value;
  await api("POST", `/api/publishing/items/${current.id}/deliveries`, {
    json: { channel: channelSelect.value, at: at || null },
    idempotencyKey: key,
  });
  flash(t("pub.status.scheduled"));
  scheduleForm.at.value = "";
  await reloadItem();
  pollDeliveries();
});

async function reloadItem() {
  fill(await api("GET", `/api/publishing/items/${current.id}`));
}

let timer = null;
async function pollDeliveries() {
  clearTimeout(timer);
  if (!current) return;
  let rows = [];
  try {
    rows = asList(await api("GET", `/api/publishing/deliveries?item_id=${encodeURIComponent(current.id)}`));
  } catch (err) {
    showError(wfError, err);
  }
  deliveriesBody.replaceChildren(
    ...rows.map((d) => {
      const actions = [];
      if (d.status === "scheduled") {
        actions.push(
          el("button", {
            type: "button",
            text: t("pub.cancel_delivery"),
            onclick: (e) => busyButton(e.currentTarget, async () => {
              await api("DELETE", `/api/publishing/deliveries/${d.id}`);
              pollDeliveries();
            }, wfError),
          }),
        );
      }
      if (d.status === "failed" || d.status === "succeeded" || d.status === "cancelled") {
        actions.push(
          el("button", {
            type: "button",
            text: t("pub.resend"),
            onclick: (e) => busyButton(e.currentTarget, async () => {
              await api("POST", `/api/publishing/items/${current.id}/deliveries`, { json: { channel: d.channel } });
              await reloadItem();
              pollDeliveries();
            }, wfError),
          }),
        );
      }
      return el(
        "tr",
        { "data-channel": d.channel, "data-status": d.status },
        el("td", { text: d.channel }),
        el("td", {}, badge(d.status, "del."), d.reason ? el("div", { class: "reason", text: d.reason }) : ""),
        el("td", { text: d.local_time ? d.local_time.replace("T", " ").slice(0, 16) : when(d.due_at) }),
        el("td", { text: d.attempts ?? 0 }),
        el("td", {}, d.url ? el("a", { href: d.url, text: d.url, rel: "noopener", target: "_blank" }) : "—"),
        el("td", {}, ...actions),
      );
    }),
  );
  const busy = rows.some((d) => d.status === "scheduled" || d.status === "sending");
  if (rows.some((d) => d.status === "succeeded") && current.status !== "published") {
    reloadItem().then(loadList).catch(() => {});
  }
  timer = setTimeout(pollDeliveries, busy ? 1500 : 10000);
}

async function main() {
  loadList();
  try {
    channels = await api("GET", "/api/publishing/channels");
  } catch (err) {
    showError(form.querySelector('[role="alert"]'), err);
    channels = [];
  }
  buildVariants();
  if (itemId) {
    try {
      fill(await api("GET", `/api/publishing/items/${itemId}`));
      if (new URLSearchParams(location.search).get("created")) flash(t("pub.created_ok"));
      pollDeliveries();
    } catch (err) {
      showError(form.querySelector('[role="alert"]'), err);
    }
  } else {
    form.title.focus();
  }
}
main();
