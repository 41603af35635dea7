// Administration of accounts: list, create (an officer with their unit), change role/unit/active,
// reset the password, unlock, sign out everywhere, API tokens. The server checks every action.
import { api, busyButton, el, flash, onSubmitOnce, showError, t, when } from "./api.js";
import { fillUnitSelects, loadUnits, unitName } from "./units.js";

const tbody = document.querySelector("#users tbody");
const listError = document.getElementById("users-error");
const activeOnly = document.getElementById("u-active-only");
const createForm = document.getElementById("f-create");
const createResult = document.getElementById("c-result");
const editBox = document.getElementById("user-edit");
const editForm = document.getElementById("f-edit");
const resetForm = document.getElementById("f-reset");
const resetResult = document.getElementById("r-result");
const revokeForm = document.getElementById("f-revoke");
const tokensBody = document.querySelector("#tokens tbody");
const params = new URLSearchParams(location.search);

let users = [];
let selected = params.get("user") || "";

function statusOf(u) {
  if (!u.active) return ["inactive", t("admin.inactive")];
  if (u.locked_until && new Date(u.locked_until) > new Date()) return ["locked", t("admin.locked")];
  return ["active", t("admin.active")];
}

function drawList() {
  if (!users.length) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 5, text: t("none") })));
    return;
  }
  tbody.replaceChildren(
    ...users.map((u) => {
      const [state, text] = statusOf(u);
      return el(
        "tr",
        { "data-username": u.username, "data-state": state, class: u.id === selected || u.username === selected ? "selected" : "" },
        el(
          "td",
          {},
          el("a", {
            href: `/console/admin/users?user=${encodeURIComponent(u.username)}`,
            text: u.username,
            onclick: (e) => {
              e.preventDefault();
              select(u.username);
            },
          }),
          u.display_name && u.display_name !== u.username ? el("div", { class: "muted", text: u.display_name }) : null,
        ),
        el("td", { text: t(`role.${u.role}`) }),
        el("td", { text: u.unit_id ? unitName(u.unit_id) : "—" }),
        el("td", {}, el("span", { class: `badge ${state === "active" ? "ok" : "failed"}`, text })),
        el("td", { text: when(u.last_login_at) }),
      );
    }),
  );
}

async function loadList() {
  try {
    const page = await api("GET", `/api/admin/users${activeOnly.checked ? "?active=true" : ""}`);
    users = page.items;
    showError(listError, null);
  } catch (err) {
    showError(listError, err);
  }
  drawList();
  if (selected) drawEdit();
}

function current() {
  return users.find((u) => u.username === selected || u.id === selected) || null;
}

function select(username) {
  selected = username;
  history.replaceState(null, "", `/console/admin/users?user=${encodeURIComponent(username)}`);
  resetResult.hidden = true;
  drawList();
  drawEdit();
  document.getElementById("e-display").focus();
}

function drawEdit() {
  const u = current();
  if (!u) {
    editBox.hidden = true;
    return;
  }
  editBox.hidden = false;
  editBox.dataset.username = u.username;
  document.getElementById("h-edit").textContent = `${u.username}`;
  const [, text] = statusOf(u);
  document.getElementById("e-facts").replaceChildren(
    el("dt", { text: t("status") }),
    el("dd", { text }),
    el("dt", { text: t("created") }),
    el("dd", { text: when(u.created_at) }),
    el("dt", { text: t("admin.last_login") }),
    el("dd", { text: when(u.last_login_at) }),
  );
  editForm.display_name.value = u.display_name || "";
  editForm.role.value = u.role;
  editForm.unit_id.value = u.unit_id || "";
  editForm.active.checked = !!u.active;
  loadTokens(u);
}

async function loadTokens(u) {
  let page;
  try {
    page = await api("GET", `/api/admin/tokens?username=${encodeURIComponent(u.username)}`);
  } catch (err) {
    tokensBody.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "error", text: err.message })));
    return;
  }
  if (!page.items.length) {
    tokensBody.replaceChildren(el("tr", {}, el("td", { colspan: 5, text: t("none") })));
    return;
  }
  const alertEl = revokeForm.querySelector('[role="alert"]');
  tokensBody.replaceChildren(
    ...page.items.map((tok) =>
      el(
        "tr",
        { "data-token": tok.id },
        el("td", {}, tok.name, " ", el("code", { text: `${tok.prefix}…` })),
        el("td", { text: when(tok.created_at) }),
        el("td", { text: when(tok.last_used_at) }),
        el("td", { text: tok.revoked ? t("admin.token_revoked") : t("admin.token_live") }),
        el(
          "td",
          {},
          tok.revoked
            ? ""
            : el("button", {
                type: "button",
                text: t("admin.revoke"),
                "aria-label": `${t("admin.revoke")} ${tok.name}`,
                onclick: (e) =>
                  busyButton(
                    e.currentTarget,
                    async () => {
                      await api("DELETE", `/api/auth/tokens/${encodeURIComponent(tok.id)}`);
                      flash(t("admin.token_revoked"));
                      loadTokens(u);
                    },
                    alertEl,
                  ),
              }),
        ),
      ),
    ),
  );
}

function needsUnit(form) {
  if (form.role.value === "officer" && !form.unit_id.value) {
    const err = new Error(t("admin.unit_required"));
    err.problem = { title: t("error"), detail: t("admin.unit_required"), field: "unit_id" };
    throw err;
  }
}

onSubmitOnce(createForm, async () => {
  createResult.hidden = true;
  needsUnit(createForm);
  const body = {
    username: createForm.username.value.trim(),
    display_name: createForm.display_name.value.trim(),
    role: createForm.role.value,
    unit_id: createForm.unit_id.value || null,
  };
  if (createForm.password.value) body.password = createForm.password.value;
  const out = await api("POST", "/api/admin/users", { json: body });
  createForm.reset();
  createResult.replaceChildren(
    el("p", {}, `${t("admin.created")}: `, el("strong", { text: out.user.username })),
    out.password ? el("p", {}, t("admin.generated"), " ", el("code", { id: "c-password-out", class: "code", text: out.password })) : null,
  );
  createResult.hidden = false;
  flash(`${t("admin.created")}: ${out.user.username}`);
  await loadList();
  select(out.user.username);
  createResult.focus?.();
});

onSubmitOnce(editForm, async () => {
  const u = current();
  if (!u) return;
  needsUnit(editForm);
  const body = {
    display_name: editForm.display_name.value.trim(),
    role: editForm.role.value,
    unit_id: editForm.unit_id.value || null,
    active: editForm.active.checked,
  };
  await api("PATCH", `/api/admin/users/${encodeURIComponent(u.id)}`, { json: body });
  flash(t("admin.saved"));
  await loadList();
});

onSubmitOnce(resetForm, async () => {
  const u = current();
  if (!u) return;
  const body = resetForm.password.value ? { password: resetForm.password.value } : {};
  const out = await api("POST", `/api/admin/users/${encodeURIComponent(u.id)}/password`, { json: body });
  resetForm.reset();
  resetResult.replaceChildren(
    el("p", { text: t("admin.reset_done") }),
    out.password ? el("p", {}, t("admin.generated"), " ", el("code", { class: "code", text: out.password })) : null,
  );
  resetResult.hidden = false;
  await loadList();
});

onSubmitOnce(revokeForm, async () => {
  const u = current();
  if (!u) return;
  const out = await api("POST", `/api/admin/users/${encodeURIComponent(u.id)}/revoke`, { json: { tokens: revokeForm.tokens.checked } });
  flash(t("admin.revoked").replace("{s}", out.sessions).replace("{k}", out.tokens));
  revokeForm.reset();
  loadTokens(u);
});

document.getElementById("b-unlock").addEventListener("click", (e) => {
  const u = current();
  if (!u) return;
  busyButton(
    e.currentTarget,
    async () => {
      await api("POST", `/api/admin/users/${encodeURIComponent(u.id)}/unlock`);
      flash(t("admin.unlocked"));
      await loadList();
    },
    revokeForm.querySelector('[role="alert"]'),
  );
});

document.getElementById("b-deactivate").addEventListener("click", (e) => {
  const u = current();
  if (!u || !window.confirm(t("admin.deactivate_confirm"))) return;
  busyButton(
    e.currentTarget,
    async () => {
      await api("DELETE", `/api/admin/users/${encodeURIComponent(u.id)}`);
      flash(t("admin.deactivated"));
      await loadList();
    },
    revokeForm.querySelector('[role="alert"]'),
  );
});

activeOnly.addEventListener("change", loadList);

async function start() {
  try {
    await loadUnits();
    fillUnitSelects(document);
  } catch (err) {
    showError(listError, err);
  }
  await loadList();
}
start();
