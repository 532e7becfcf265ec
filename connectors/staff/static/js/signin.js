/* Sign-in: fetch a double-submit CSRF token, post the username and password as JSON, then open the
 * inbox. The session cookie is HttpOnly: this script never sees it. */
"use strict";

(function () {
  const API = "/staff/api";
  const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
  let csrf = "";

  async function fetchToken() {
    const answer = await fetch(`${API}/signin`, { cache: "no-store", credentials: "same-origin" });
    csrf = (await answer.json()).csrf_token;
  }

  function minutes(seconds) {
    const m = Math.ceil(seconds / 60);
    return m <= 1 ? "a minute" : `${m} minutes`;
  }

  async function submit(event) {
    event.preventDefault();
    $("signin-error").textContent = "";
    $("signin-submit").disabled = true;
    try {
      const answer = await fetch(`${API}/signin`, {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ username: $("username").value, password: $("password").value }),
      });
      if (answer.ok) { location.assign("/staff"); return; }
      if (answer.status === 429) {
        const wait = Number(answer.headers.get("Retry-After")) || 60;
        $("signin-error").textContent = `Too many failed attempts. Try again in ${minutes(wait)}.`;
      } else if (answer.status === 401) {
        $("signin-error").textContent = "The username or password is wrong.";
      } else if (answer.status === 403) {
        $("signin-error").textContent = "The page had expired. Please try again.";
        await fetchToken();
      } else {
        $("signin-error").textContent = `Sign-in failed (${answer.status}).`;
      }
      $("password").value = "";
      $("password").focus();
    } catch (error) {
      $("signin-error").textContent = "The server cannot be reached.";
    } finally {
      $("signin-submit").disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("signin-form").addEventListener("submit", submit);
    const me = await fetch(`${API}/me`, { cache: "no-store", credentials: "same-origin" });
    if (me.ok) { location.assign("/staff"); return; }
    await fetchToken();
    document.body.dataset.state = "ready";
    $("username").focus();
  });
})();
