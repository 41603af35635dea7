// Public look-up of a ticket by its tracking code: status and the public answer.
import { api, onSubmitOnce, showError, t, when } from "./api.js";

const form = document.getElementById("track-form");
const result = document.getElementById("track-result");
const errorBox = document.getElementById("track-error");

async function look(code) {
  errorBox.hidden = true;
  try {
    const r = await api("GET", `/api/feedback/track/${encodeURIComponent(code)}`);
    document.getElementById("tr-status").textContent = r.status_label || r.status;
    document.getElementById("tr-unit").textContent = r.unit || "—";
    document.getElementById("tr-deadline").textContent = when(r.deadline_at);
    document.getElementById("tr-answer").textContent = r.answer || t("track.no_answer");
    result.hidden = false;
    history.replaceState(null, "", `/console/track?code=${encodeURIComponent(code)}`);
  } catch (err) {
    result.hidden = true;
    throw err;
  }
}

onSubmitOnce(form, async () => {
  const code = form.code.value.trim().toUpperCase();
  if (!code) {
    form.code.focus();
    return;
  }
  await look(code).catch((err) => showError(errorBox, err));
});
if (form.code.value.trim()) form.requestSubmit();
