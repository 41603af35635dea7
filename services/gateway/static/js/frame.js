// Every page: sign-out button.
import { api, flash, showError } from "./api.js";

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", async () => {
    logout.disabled = true;
    try {
      await api("POST", "/api/auth/logout");
    } catch (err) {
      if (err.status !== 401) {
        flash(err.message);
        logout.disabled = false;
        return;
      }
    }
    window.location.assign("/console/login");
  });
}
export { showError };
