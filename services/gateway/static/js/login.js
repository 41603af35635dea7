// Sign-in page: POST /api/auth/login, then back to where the person was going.
import { api, onSubmitOnce, t } from "./api.js";

const form = document.getElementById("login-form");
const alertEl = document.getElementById("login-error");

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
  try {
    await api("POST", "/api/auth/login", { json: { username, password } });
  } catch (err) {
    if (err.status === 401) {
      err.problem = { ...err.problem, title: t("login.failed"), detail: err.problem.detail };
      form.password.value = "";
      form.password.focus();
    }
    throw err;
  }
  window.location.assign(form.dataset.next || "/console/dashboard");
});
// Errors are shown next to the form (onSubmitOnce finds the role=alert inside it).
void alertEl;
