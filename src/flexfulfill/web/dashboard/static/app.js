// Live lists without a build step: every few seconds, fetch this page's fragment (the server
// answers the X-Fragment header with the list alone, and its version in X-Fragment-Version)
// and swap it in when the version changed. A list being edited (focus inside it) or a hidden
// tab is left alone; a lost session reloads into the login page.
(function () {
  "use strict";
  const PERIOD_MS = 3000;

  async function refresh(target) {
    if (document.hidden || target.contains(document.activeElement)) return;
    let response;
    try {
      response = await fetch(window.location.href, {
        headers: { "X-Fragment": "1" },
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (err) {
      target.dataset.stale = "1";
      return;
    }
    if (response.status === 401) { window.location.reload(); return; }
    if (!response.ok) { target.dataset.stale = "1"; return; }
    const version = response.headers.get("X-Fragment-Version");
    const html = await response.text();
    if (version !== target.dataset.version) {
      target.innerHTML = html;
      target.dataset.version = version || "";
    }
    delete target.dataset.stale;
  }

  function start() {
    document.querySelectorAll("[data-live]").forEach(function (target) {
      window.setInterval(function () { refresh(target); }, PERIOD_MS);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
