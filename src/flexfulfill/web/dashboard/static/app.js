// Live lists without a build step: every few seconds, fetch this page's fragment (the server
// answers the X-Fragment header with the list alone) and swap it in. A list being edited (focus
// inside it) or a hidden tab is left alone; a lost session reloads into the login page.
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
    const html = await response.text();
    if (html !== target.dataset.last) {
      target.innerHTML = html;
      target.dataset.last = html;
    }
    delete target.dataset.stale;
  }

  function start() {
    const targets = document.querySelectorAll("[data-live]");
    targets.forEach(function (target) {
      target.dataset.last = target.innerHTML;
      window.setInterval(function () { refresh(target); }, PERIOD_MS);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
