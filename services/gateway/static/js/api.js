// The console's one way to the JSON API: session cookie + CSRF header, problem details as errors.

/** The page's strings (from the server's table, in the page's language). */
export const T = JSON.parse(document.getElementById("i18n")?.textContent || "{}");
/** The signed-in account, or null. */
export const ME = JSON.parse(document.getElementById("me")?.textContent || "null");
export const LANG = document.body.dataset.lang || "vi";

/** A string of the table, or the key itself when it is missing. */
export function t(key) {
  return Object.prototype.hasOwnProperty.call(T, key) ? T[key] : key;
}

export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

/** An error that carries the RFC 9457 problem the server sent (or a network failure). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

/** A random id (for Idempotency-Key). */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * Call the API. `json` is sent as the body; unsafe methods carry the CSRF token; an
 * `idempotencyKey` is sent as Idempotency-Key. Resolves to the parsed JSON (or null on 204).
 */
export async function api(method, path, { json, file, headers = {}, idempotencyKey } = {}) {
  const h = { Accept: "application/json", ...headers };
  const init = { method, headers: h, credentials: "same-origin" };
  if (json !== undefined) {
    h["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (file !== undefined) {
    h["Content-Type"] = file.type || "application/octet-stream";
    init.body = file;
  }
  if (!["GET", "HEAD", "OPTIONS"].includes(method)) h["X-CSRF-Token"] = csrfToken();
  if (idempotencyKey) h["Idempotency-Key"] = idempotencyKey;
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { title: t("error"), detail: t("error.network") });
  }
  if (res.status === 204) return null;
  const type = res.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    const problem = body && typeof body === "object" ? body : { detail: `HTTP ${res.status}` };
    if (res.status === 401 && ME && !/^\/api\/auth\/(login|logout)/.test(path)) {
      problem.detail = t("error.session") + " — " + (problem.detail || "");
      sessionEnded();
    }
    throw new ApiError(res.status, problem);
  }
  return body;
}

let leaving = false;
/** The session ended on the server: say so, then go to the sign-in page (which comes back). */
export function sessionEnded() {
  if (leaving) return;
  leaving = true;
  flash(t("error.session"));
  const next = encodeURIComponent(location.pathname + location.search);
  setTimeout(() => location.assign(`/console/login?next=${next}&expired=1`), 1500);
}

/** Show an error (ApiError or any Error) in an element with role=alert. */
export function showError(el, err) {
  if (!el) return;
  el.replaceChildren();
  if (!err) {
    el.hidden = true;
    return;
  }
  const p = err.problem || {};
  const strong = document.createElement("strong");
  strong.textContent = (p.title || t("error")) + ": ";
  el.append(strong, document.createTextNode(p.detail || err.message || String(err)));
  if (Array.isArray(p.errors) && p.errors.length > 1) {
    const ul = document.createElement("ul");
    for (const e of p.errors) {
      const li = document.createElement("li");
      li.textContent = `${e.field}: ${e.message}`;
      ul.append(li);
    }
    el.append(ul);
  }
  if (p.correlation_id) {
    const small = document.createElement("small");
    small.textContent = ` (${p.correlation_id})`;
    el.append(small);
  }
  el.hidden = false;
  const form = el.closest("form");
  const names = [p.field, ...(Array.isArray(p.errors) ? p.errors.map((e) => e.field) : [])].filter(Boolean);
  if (form && names.length) {
    // the problem names the field(s): mark them and put the cursor in the first one
    const fields = names.map((n) => form.querySelector(`[name="${CSS.escape(String(n).split(".").pop())}"]`)).filter(Boolean);
    fields.forEach((f) => f.setAttribute("aria-invalid", "true"));
    if (fields.length) fields[0].focus();
  }
}

/** A short, polite message at the top of the page. */
export function flash(message) {
  const el = document.getElementById("flash");
  if (!el) return;
  el.textContent = message;
  el.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => (el.hidden = true), 6000);
}

/**
 * Submit a form once: the submit buttons are disabled while the request runs (a double click
 * sends one request), one Idempotency-Key is kept until the form succeeds, and any error is
 * shown in the form's role=alert element.
 */
export function onSubmitOnce(form, handler) {
  let busy = false;
  let key = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    key = key || newKey();
    const buttons = form.querySelectorAll('button[type="submit"], button:not([type])');
    buttons.forEach((b) => {
      b.disabled = true;
      b.setAttribute("aria-busy", "true");
    });
    form.querySelectorAll("[aria-invalid]").forEach((f) => f.removeAttribute("aria-invalid"));
    const alert = form.querySelector('[role="alert"]');
    showError(alert, null);
    try {
      await handler(key, event);
      key = null;
    } catch (err) {
      showError(alert, err);
    } finally {
      busy = false;
      buttons.forEach((b) => {
        b.disabled = false;
        b.removeAttribute("aria-busy");
      });
    }
  });
}

/** Run an async action from a button once at a time (disabled while it runs). */
export async function busyButton(button, action, alertEl) {
  if (button.disabled) return;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  showError(alertEl, null);
  try {
    await action();
  } catch (err) {
    showError(alertEl, err);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/** document.createElement with properties, attributes and children in one call. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const TZ = "Asia/Ho_Chi_Minh";

/** A time for people, in Vietnam's time zone. Naive ISO strings are UTC (as the API sends). */
export function when(iso, withTime = true) {
  if (!iso) return "—";
  const s = /[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + "Z";
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return iso;
  const opts = { timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit" };
  if (withTime) Object.assign(opts, { hour: "2-digit", minute: "2-digit" });
  return d.toLocaleString(LANG === "vi" ? "vi-VN" : "en-GB", opts);
}

/** The Date of an API time (naive = UTC). */
export function parseTime(iso) {
  if (!iso) return null;
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + "Z");
}

export function bytes(n) {
  if (n == null) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** A status as a badge (translated when the table knows it under prefix+status). */
export function badge(status, prefix = "st.") {
  return el("span", { class: `badge ${status}`, text: T[prefix + status] || status });
}
