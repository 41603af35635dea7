// Sign-in page: POST /api/auth/login, then back to where the person was going. An account whose
// initial password must change (the first admin) is shown the change form first (the server
// renders it on this page); it can do nothing else until the password is its own.
import { api, onSubmitOnce, t } from "./api.js";

const form = document.getElementById("login-form");
const change = document.getElementById("password-form");

if (form) {
  onSubmitOnce(form, async () => {
    const username = form.username.value.trim();
    const password = form.password.value;
    if (!username || !password) {
      const field = !username ? form.username : form.password;
      field.setAttribute("aria-invalid", "true");
      field.focus();
      throw Object.assign(new Error(`${t("login.username")} / ${t("login.password")}`), {
        problem: { title: t("error"), detail: `${t("login.username")}, ${t("login.password")}: ?` },
      });
    }
    let out;
    try {
      out = await api("POST", "/api/auth/login", { json: { username, password } });
    } catch (err) {
      if (err.status === 401) {
        err.problem = { ...err.problem, title: t("login.failed"), detail: err.problem.detail };
        form.password.value = "";
        form.password.focus();
      }
      throw err;
    }
    const next = form.dataset.next || "/console/dashboard";
    if (out?.user?.must_change_password) {
      window.location.assign(`/console/login?next=${encodeURIComponent(next)}`);
      return;
    }
    window.location.assign(next);
  });
}

if (change) {
  onSubmitOnce(change, async () => {
    const current = change.current.value;
    const fresh = change.fresh.value;
    if (fresh !== change.repeat.value) {
      change.repeat.setAttribute("aria-invalid", "true");
      change.repeat.focus();
      throw Object.assign(new Error(t("login.mismatch")), {
        problem: { title: t("error"), detail: t("login.mismatch") },
      });
    }
    await api("POST", "/api/auth/password", {
      json: { current_password: current, new_password: fresh },
    });
    window.location.assign(change.dataset.next || "/console/dashboard");
  });
}
