// Daraport: live plannings. The page works without this script (the refresh
// button is a plain link); with it, an EventSource listens to the practice's
// changes and re-fetches the planning's live region, without reloading the
// page. The stream carries only the kind of change, never patient data.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-events]");
  var printButton = document.querySelector("[data-print]");
  if (printButton) {
    printButton.hidden = false;
    printButton.addEventListener("click", function () { window.print(); });
  }
  if (!root) return;
  var status = document.querySelector("[data-live-status]");
  var refreshLink = document.querySelector("[data-live-refresh]");
  var busy = false, again = false;

  function setStatus(state) {
    if (!status) return;
    status.setAttribute("data-state", state);
    status.textContent = status.getAttribute("data-text-" + state) || "";
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(root.getAttribute("data-live-fragment"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      })
      .then(function (body) {
        // The server's own template output (escaped by html/template).
        root.innerHTML = body.html;
        var n = parseInt(root.getAttribute("data-live-updates") || "0", 10) + 1;
        root.setAttribute("data-live-updates", String(n));
      })
      .catch(function () { setStatus("off"); })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  if (refreshLink) {
    refreshLink.addEventListener("click", function (ev) { ev.preventDefault(); refresh(); });
  }
  if (!window.EventSource) return;
  // After a broken stream (network, server restart, the server's periodic
  // reconnection) the changes of the gap are caught up on reopening.
  var lost = false;
  var es = new EventSource(root.getAttribute("data-live-events"));
  es.addEventListener("open", function () {
    setStatus("live");
    if (lost) { lost = false; refresh(); }
  });
  es.addEventListener("change", refresh);
  es.addEventListener("error", function () { lost = true; setStatus("off"); });
  window.addEventListener("pagehide", function () { es.close(); });
})();
