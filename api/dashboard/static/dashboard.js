// paywatch dashboard: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // A notice (?notice=...) after an action is said once: drop it from the address, so a
  // reload or a live refresh of this page does not say it again.
  if (window.history && window.history.replaceState && window.URL) {
    var here = new URL(window.location.href);
    if (here.searchParams.has("notice")) {
      here.searchParams.delete("notice");
      window.history.replaceState(null, "", here.pathname + here.search + here.hash);
    }
  }

  // A submitted form's buttons are disabled until the answer comes (the server also acts
  // once per form, so a double submit that gets through changes nothing).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (b) {
        b.disabled = true;
      });
    }, 0);
  });

  // Live pages: <main data-live="/dashboard/.../events" data-version="...">. The stream sends
  // the shown object's version; when it differs from the page's, fetch the page again and
  // swap the main region (the server's template draws it, as on a reload), keeping focus.
  var main = document.getElementById("main");
  var url = main && main.getAttribute("data-live");
  if (!url || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var shown = main.getAttribute("data-version");
  var busy = false;
  var again = false;
  var status = document.getElementById("live-status");

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    var focused = document.activeElement && document.activeElement.id;
    window.fetch(window.location.href, {credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (text) {
        var next = new DOMParser().parseFromString(text, "text/html").getElementById("main");
        if (!next) { return; }
        main.innerHTML = next.innerHTML;
        shown = next.getAttribute("data-version");
        main.setAttribute("data-version", shown || "");
        var again_focus = focused && document.getElementById(focused);
        if (again_focus) { again_focus.focus(); }
        if (status) { status.textContent = "Updated " + new Date().toLocaleTimeString(); }
      })
      .catch(function () { /* the next event or a reload will do */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  var source = new EventSource(url);
  source.onmessage = function (event) {
    if (event.data !== shown) {
      shown = event.data;
      refresh();
    }
  };
})();
